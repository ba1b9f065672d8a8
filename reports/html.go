package reports

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/goccy/go-yaml"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

//go:embed templates/report.html.tmpl
var templates embed.FS

// Chart titles, also used by tests to find the charts.
const (
	TitleClients      = "Clients managed (solid) and unmanaged (dashed) per group"
	TitleLatency      = "request latency by percentile, per transport:port"
	TitleFallback     = "Fallback delay: clients that reached the alternate port, cumulative"
	TitleMPCPU        = "Management point CPU over time"
	TitleLatencyTime  = "Request latency over time: p50 (solid) and p99 (dashed) per interval"
	TitleMPRSS        = "Management point memory (RSS) over time"
	TitlePushLatency  = "Push→ack latency per transport"
	TitleNotifyCPU    = "MP CPU per client-minute"
	TitleNotifyRSS    = "MP peak memory (RSS)"
	TitleFirewall     = "Firewall rule hits (packets)"
	wideW, wideH      = 9.5 * vg.Inch, 3.6 * vg.Inch
	halfW, halfH      = 4.7 * vg.Inch, 3.2 * vg.Inch
	thirdW, thirdH    = 3.4 * vg.Inch, 3.0 * vg.Inch
	maxLatencyCurves  = 8
	maxPercentileInvQ = 1e6
	pointsPerDecade   = 24
)

type section struct {
	ID, Title string
	Intro     string
	Charts    []chart
	Row       bool // charts side by side
	Empty     string
}

type htmlPage struct {
	R          *Result
	StatusText string
	Sections   []section
	Scenario   string
	Generated  string
	Failed     int
	Pending    int    // gates left to portlab merge (a shard's result)
	ShardText  string // what shard this is, or what a merge was made of
	Requests   []RequestStats
}

// HTML renders report.html: one self-contained page (inline CSS and SVG charts, no
// script, no external URL) that opens from a CI artifact or an e-mail. Sections without
// data say so instead of drawing an empty chart.
func HTML(r *Result) ([]byte, error) {
	tmpl, err := template.New("report.html.tmpl").Funcs(template.FuncMap{
		"secs":  secs,
		"dist":  dist,
		"bytes": func(v uint64) string { return FormatValue(float64(v), "bytes") },
		"fmtv":  FormatValue,
		"ports": portsUsed,
		"pred":  predictedText,
		"pct": func(a, b int) string {
			if b == 0 {
				return "–"
			}
			return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
		},
		"cpu":     func(c ProcessCost) string { return fmt.Sprintf("%.2f", c.CPUUser+c.CPUSystem) },
		"utc":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") },
		"f1":      func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
		"f2":      func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) },
		"upper":   strings.ToUpper,
		"learned": LearnedText,
	}).ParseFS(templates, "templates/report.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("html: parse template: %w", err)
	}
	hists, err := MergedHists(r)
	if err != nil {
		return nil, fmt.Errorf("html: %w", err)
	}
	page := htmlPage{R: r, StatusText: strings.ToUpper(r.Status), Failed: len(r.Failed()),
		Pending: r.pendingGates(), ShardText: r.Shard.Describe()}
	page.Requests = append(page.Requests, r.Requests...)
	sort.SliceStable(page.Requests, func(i, j int) bool { return requestKey(page.Requests[i]) < requestKey(page.Requests[j]) })

	builders := []func(*Result, []TaggedHist) (section, error){
		clientsSection, locationSection, latencySection, latencyTimeSection, fallbackSection, notificationSection, costSection, firewallSection,
	}
	for _, b := range builders {
		s, err := b(r, hists)
		if err != nil {
			return nil, fmt.Errorf("html: %w", err)
		}
		page.Sections = append(page.Sections, s)
	}
	page.Scenario = scenarioText(r.Scenario)
	var b bytes.Buffer
	if err := tmpl.Execute(&b, page); err != nil {
		return nil, fmt.Errorf("html: execute template: %w", err)
	}
	return b.Bytes(), nil
}

func requestKey(q RequestStats) string {
	return fmt.Sprintf("%s\x00%s\x00%s\x00%05d\x00%s\x00%s", q.Group, q.Operation, q.Transport, q.Port, q.Outcome, q.MP)
}

// scenarioText prints the scenario as run as YAML (the form its author wrote), or as
// indented JSON if it does not convert.
func scenarioText(raw json.RawMessage) string {
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		return ""
	}
	if y, err := yaml.JSONToYAML(raw); err == nil {
		return string(y)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

// timelineMarks are the moments charts over time mark: the result's marks, or else the
// timeline events as they were applied.
func timelineMarks(r *Result) []TimelineMark {
	if len(r.Timeline) > 0 {
		return r.Timeline
	}
	var ms []TimelineMark
	for _, e := range r.Events {
		t := e.Applied
		if t == 0 {
			t = e.At
		}
		label := e.Kind
		if e.Detail != "" {
			label += ": " + e.Detail
		}
		ms = append(ms, TimelineMark{T: t, Label: label})
	}
	return ms
}

// runLength is the x range of charts over time: the run, or the data if it is longer.
func runLength(r *Result) float64 {
	end := r.Elapsed
	for _, p := range r.Series {
		end = math.Max(end, p.T)
	}
	for _, m := range timelineMarks(r) {
		end = math.Max(end, m.T+1)
	}
	return end
}

func clientsSection(r *Result, _ []TaggedHist) (section, error) {
	s := section{ID: "clients", Title: "Client groups"}
	groups := map[string]bool{}
	var order []string
	add := func(g string) {
		if !groups[g] {
			groups[g] = true
			order = append(order, g)
		}
	}
	for _, g := range r.Groups {
		add(g.Group)
	}
	var extra []string
	for _, p := range r.Series {
		for g := range p.Managed {
			if !groups[g] {
				extra = append(extra, g)
			}
		}
		for g := range p.Unmanaged {
			if !groups[g] {
				extra = append(extra, g)
			}
		}
	}
	sort.Strings(extra)
	for _, g := range extra {
		add(g)
	}
	if len(r.Series) < 2 || len(order) == 0 {
		s.Empty = "No per-second series in this result: no chart over time."
		return s, nil
	}
	p := newPlot(TitleClients, "seconds since start", "clients")
	var specs []lineSpec
	for i, g := range order {
		var m, u plotter.XYs
		for _, pt := range r.Series {
			m = append(m, plotter.XY{X: pt.T, Y: float64(pt.Managed[g])})
			u = append(u, plotter.XY{X: pt.T, Y: float64(pt.Unmanaged[g])})
		}
		specs = append(specs, lineSpec{g + " managed", m, i, false}, lineSpec{g + " unmanaged", u, i, true})
	}
	p.X.Min, p.X.Max = 0, runLength(r)
	p.Y.Min = 0
	svg, err := wideLines(p, specs, marks(timelineMarks(r)))
	if err != nil {
		return s, err
	}
	s.Charts = append(s.Charts, chart{Title: TitleClients, SVG: svg, Wide: true,
		Caption: "Each colour is a client group: the solid line counts its clients whose last cycle succeeded, the dashed line those whose last cycle failed. Red dotted verticals are timeline events, labelled with what changed."})
	return s, nil
}

// curve is one percentile curve.
type curve struct {
	label  string
	dashed bool
	count  int64
	xys    plotter.XYs
}

// percentileCurve samples h at evenly spaced points of log(1/(1-q)), up to the last
// sample (a percentile beyond 1-1/count says nothing more than the max). y in ms.
func percentileCurve(h *hdrhistogram.Histogram) plotter.XYs {
	n := float64(h.TotalCount())
	top := math.Min(math.Max(n, 10), maxPercentileInvQ)
	var xys plotter.XYs
	for k := 0; ; k++ {
		inv := math.Pow(10, float64(k)/pointsPerDecade)
		if inv > top {
			inv = top
		}
		q := 100 * (1 - 1/inv)
		xys = append(xys, plotter.XY{X: inv, Y: float64(h.ValueAtQuantile(q)) / 1000})
		if inv >= top {
			break
		}
	}
	return xys
}

// percentilePoints is the fallback when a result has no histograms: its percentiles.
func percentilePoints(p Percentiles) plotter.XYs {
	qs := []struct{ q, v float64 }{{0.5, p.P50}, {0.9, p.P90}, {0.95, p.P95}, {0.99, p.P99}, {0.999, p.P999}}
	var xys plotter.XYs
	for _, x := range qs {
		if 1/(1-x.q) > math.Max(float64(p.Count), 10)*1.0001 {
			break
		}
		xys = append(xys, plotter.XY{X: 1 / (1 - x.q), Y: x.v * 1000})
	}
	return xys
}

func latencySection(r *Result, hists []TaggedHist) (section, error) {
	s := section{ID: "latency", Title: "Request latency",
		Intro: "Latency is measured from each request's intended start, so a stalled server or a late load generator shows; x is the percentile on a log scale of 1/(1−q): the further right, the rarer the request."}
	byOp := map[string][]curve{}
	for _, t := range hists {
		if t.Kind != KindLatency || t.Hist.TotalCount() == 0 {
			continue
		}
		op, outcome := t.Tags.Operation, t.Tags.Outcome
		if op == "" {
			continue
		}
		label := t.Tags.Transport
		if t.Tags.Port != 0 {
			label += ":" + strconv.Itoa(t.Tags.Port)
		}
		if outcome != "" {
			label += " " + outcome
		}
		if label == "" {
			label = "all"
		}
		byOp[op] = append(byOp[op], curve{label: label, dashed: outcome != "", count: t.Hist.TotalCount(), xys: percentileCurve(t.Hist)})
	}
	if len(byOp) == 0 {
		// No histograms: draw the percentiles of each request row.
		for _, q := range r.Requests {
			if q.Latency.Count == 0 {
				continue
			}
			label := fmt.Sprintf("%s:%d", q.Transport, q.Port)
			if q.Outcome != "ok" {
				label += " " + q.Outcome
			}
			if q.Group != "" {
				label += " " + q.Group
			}
			if xys := percentilePoints(q.Latency); len(xys) > 0 {
				byOp[q.Operation] = append(byOp[q.Operation], curve{label: label, dashed: q.Outcome != "ok", count: int64(q.Latency.Count), xys: xys})
			}
		}
	}
	if len(byOp) == 0 {
		s.Empty = "No request latency recorded."
		return s, nil
	}
	ops := make([]string, 0, len(byOp))
	for op := range byOp {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		cs := byOp[op]
		sort.SliceStable(cs, func(i, j int) bool {
			if cs[i].dashed != cs[j].dashed {
				return !cs[i].dashed
			}
			return cs[i].count > cs[j].count
		})
		dropped := 0
		if len(cs) > maxLatencyCurves {
			dropped = len(cs) - maxLatencyCurves
			cs = cs[:maxLatencyCurves]
		}
		title := op + " " + TitleLatency
		p := newPlot(title, "percentile (log scale of 1/(1−q))", "latency (ms)")
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = percentileTicks{}
		lo, hi, top := math.Inf(1), 0.0, 1.0
		for _, c := range cs {
			for _, xy := range c.xys {
				lo, hi, top = math.Min(lo, xy.Y), math.Max(hi, xy.Y), math.Max(top, xy.X)
			}
		}
		p.X.Min, p.X.Max = 1, math.Max(10, math.Pow(10, math.Ceil(math.Log10(top)-1e-9)))
		if lo > 0 && hi/lo > 100 {
			// Timeouts next to sub-millisecond successes: a linear axis would flatten one.
			p.Y.Scale = plot.LogScale{}
			p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
			p.Y.Label.Text = "latency (ms, log scale)"
		} else {
			p.Y.Min = 0
		}
		var specs []lineSpec
		for i, c := range cs {
			if len(c.xys) == 1 {
				c.xys = append(c.xys, plotter.XY{X: c.xys[0].X * 1.0001, Y: c.xys[0].Y})
			}
			specs = append(specs, lineSpec{fmt.Sprintf("%s (n=%d)", c.label, c.count), c.xys, i, c.dashed})
		}
		svg, err := wideLines(p, specs)
		if err != nil {
			return s, err
		}
		caption := "One line per transport and port (dashed: requests that failed, by outcome; their latency is the time to fail). Read the 99% column for the p99."
		if dropped > 0 {
			caption += fmt.Sprintf(" %d smaller series not drawn; they are in the table and in latency.hlog.", dropped)
		}
		s.Charts = append(s.Charts, chart{Title: title, SVG: svg, Wide: true, Caption: caption})
	}
	return s, nil
}

// latencyTimeSection draws latency over time from the result's intervals (what
// latency.hlog holds): p50 and p99 of the busiest successful request series per
// interval, with the timeline's marks, so a stall or a change shows when it happened.
func latencyTimeSection(r *Result, _ []TaggedHist) (section, error) {
	s := section{ID: "latency-time", Title: "Request latency over time",
		Intro: "From latency.hlog's intervals (one a second): p50 and p99 of each successful request series in each interval."}
	series, tags, err := IntervalSeries(r, KindLatency, 50, 99)
	if err != nil {
		return s, err
	}
	type ser struct {
		tag   string
		label string
		n     int64
		pts   []IntervalPoint
	}
	var all []ser
	for tag, pts := range series {
		t := tags[tag]
		if t.Outcome != "" || len(pts) < 2 {
			continue // failures have their own curves above; one point is no line
		}
		var n int64
		for _, p := range pts {
			n += p.Count
		}
		label := t.Operation + " " + t.Transport
		if t.Port != 0 {
			label += ":" + strconv.Itoa(t.Port)
		}
		all = append(all, ser{tag, label, n, pts})
	}
	if len(all) == 0 {
		s.Empty = "No per-interval latency in this result."
		return s, nil
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].n != all[j].n {
			return all[i].n > all[j].n
		}
		return all[i].tag < all[j].tag
	})
	dropped := 0
	if len(all) > maxLatencyCurves/2 {
		dropped = len(all) - maxLatencyCurves/2
		all = all[:maxLatencyCurves/2]
	}
	p := newPlot(TitleLatencyTime, "seconds since start", "latency (ms, log scale)")
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	var specs []lineSpec
	for i, x := range all {
		var p50, p99 plotter.XYs
		for _, pt := range x.pts {
			if pt.Count == 0 {
				continue
			}
			at := pt.T + pt.Length
			// A log axis has no zero: a sub-microsecond bucket is drawn at 1 µs.
			p50 = append(p50, plotter.XY{X: at, Y: math.Max(pt.Values[0], 1) / 1000})
			p99 = append(p99, plotter.XY{X: at, Y: math.Max(pt.Values[1], 1) / 1000})
		}
		if len(p50) < 2 {
			continue
		}
		specs = append(specs, lineSpec{x.label + " p50", p50, i, false}, lineSpec{x.label + " p99", p99, i, true})
	}
	if len(specs) == 0 {
		s.Empty = "No per-interval latency in this result."
		return s, nil
	}
	p.X.Min, p.X.Max = 0, runLength(r)
	svg, err := wideLines(p, specs, marks(timelineMarks(r)))
	if err != nil {
		return s, err
	}
	caption := "Each colour is one operation on one port; x is the end of each interval. Red dotted verticals are timeline events."
	if dropped > 0 {
		caption += fmt.Sprintf(" %d smaller series not drawn; they are in latency.hlog.", dropped)
	}
	s.Charts = append(s.Charts, chart{Title: TitleLatencyTime, SVG: svg, Wide: true, Caption: caption})
	return s, nil
}

// cdfPoints samples h as a cumulative distribution: x seconds, y percent of values ≤ x.
func cdfPoints(h *hdrhistogram.Histogram) plotter.XYs {
	var xys plotter.XYs
	for q := 0.0; q <= 100; q += 1 {
		xys = append(xys, plotter.XY{X: float64(h.ValueAtQuantile(q)) / 1e6, Y: q})
	}
	return xys
}

func fallbackSection(r *Result, hists []TaggedHist) (section, error) {
	s := section{ID: "fallback", Title: "Fallback to the alternate port"}
	type cdf struct {
		group string
		n     int64
		xys   plotter.XYs
	}
	var cs []cdf
	for _, t := range hists {
		if t.Kind != KindFallbackDelay || t.Hist.TotalCount() == 0 {
			continue
		}
		g := strings.TrimPrefix(t.Tag, KindFallbackDelay+".")
		cs = append(cs, cdf{g, t.Hist.TotalCount(), cdfPoints(t.Hist)})
	}
	if len(cs) == 0 {
		for _, g := range r.Groups {
			d := g.FallbackDelay
			if d.Count == 0 {
				continue
			}
			cs = append(cs, cdf{g.Group, int64(d.Count), plotter.XYs{
				{X: d.P50, Y: 50}, {X: d.P90, Y: 90}, {X: d.P95, Y: 95}, {X: d.P99, Y: 99}, {X: d.Max, Y: 100}}})
		}
	}
	if len(cs) == 0 {
		s.Empty = "No client fell back to the alternate port in this run."
		return s, nil
	}
	p := newPlot(TitleFallback, "delay from the first failure on the default port (seconds)", "clients that had fallen back (%)")
	p.Y.Min, p.Y.Max = 0, 100
	p.X.Min = 0
	var specs []lineSpec
	for i, c := range cs {
		specs = append(specs, lineSpec{fmt.Sprintf("%s (n=%d)", c.group, c.n), c.xys, i, false})
	}
	svg, err := wideLines(p, specs)
	if err != nil {
		return s, err
	}
	s.Charts = append(s.Charts, chart{Title: TitleFallback, SVG: svg, Wide: true,
		Caption: "For the clients of each group that succeeded on the alternate port: the share (y) that had got there within x seconds of their first failed attempt on the default port. A line far to the right is a long outage for that group."})
	return s, nil
}

func notificationSection(r *Result, _ []TaggedHist) (section, error) {
	s := section{ID: "notification", Title: "Client notification cost per transport", Row: true}
	if len(r.Push) == 0 {
		s.Empty = "No client notification in this run."
		return s, nil
	}
	s.Intro = "Each transport's groups talk to their own management point in a cost scenario, so that MP's CPU and memory is the transport's price; push latency is from the MP's push to the client's acknowledgement."
	// Which MP served a group: the MP of most of its requests.
	mpOf := map[string]string{}
	counts := map[string]map[string]uint64{}
	for _, q := range r.Requests {
		if q.MP == "" {
			continue
		}
		if counts[q.Group] == nil {
			counts[q.Group] = map[string]uint64{}
		}
		counts[q.Group][q.MP] += q.Count
	}
	for g, m := range counts {
		best, n := "", uint64(0)
		for mp, c := range m {
			if c > n || c == n && mp < best {
				best, n = mp, c
			}
		}
		mpOf[g] = best
	}
	cost := map[string]ProcessCost{}
	for _, c := range r.Cost {
		if c.Role == "mp" {
			cost[c.Name] = c
		}
	}
	transports := map[string]int{}
	for _, p := range r.Push {
		transports[p.Transport]++
	}
	var cats []string
	var lat, cpu, rss [][]float64
	var cpuCats, rssCats []string
	for _, p := range r.Push {
		label := p.Transport
		if transports[p.Transport] > 1 {
			label += " (" + p.Group + ")"
		}
		cats = append(cats, label)
		lat = append(lat, []float64{p.Latency.P50 * 1000, p.Latency.P99 * 1000})
		if c, ok := cost[mpOf[p.Group]]; ok {
			v := c.CPUPerClientMinuteUS
			cpuCats = append(cpuCats, label+" · "+c.Name)
			cpu = append(cpu, []float64{v})
			rssCats = append(rssCats, label+" · "+c.Name)
			rss = append(rss, []float64{float64(c.RSSPeak) / (1 << 20)})
		}
	}
	type bars struct {
		title, y, caption string
		cats, series      []string
		vals              [][]float64
	}
	all := []bars{
		{TitlePushLatency, "milliseconds", "p50 and p99 of the time from push to acknowledgement.", cats, []string{"p50", "p99"}, lat},
		{TitleNotifyCPU, "CPU µs per client per minute", "User+system CPU of the group's MP divided by its clients and the run's minutes.", cpuCats, []string{"CPU"}, cpu},
		{TitleNotifyRSS, "MiB", "Peak resident memory of the group's MP.", rssCats, []string{"RSS"}, rss},
	}
	for _, b := range all {
		if len(b.cats) == 0 {
			continue
		}
		p, entries, err := barChart(b.title, b.y, b.cats, b.series, b.vals)
		if err != nil {
			return s, err
		}
		svg, err := renderSVG(p, thirdW, thirdH, entries)
		if err != nil {
			return s, err
		}
		s.Charts = append(s.Charts, chart{Title: b.title, SVG: svg, Caption: b.caption})
	}
	return s, nil
}

func costSection(r *Result, _ []TaggedHist) (section, error) {
	s := section{ID: "cost", Title: "Process cost", Row: true,
		Intro: "CPU and memory of each management point process, read from /proc each second; the table below adds the load generator (fleet) and the site server."}
	var cpuPlot, rssPlot *plot.Plot
	var cpuEntries, rssEntries []legendEntry
	i := 0
	for _, c := range r.Cost {
		if c.Role != "mp" || len(c.Series) < 2 {
			continue
		}
		if cpuPlot == nil {
			cpuPlot = newPlot(TitleMPCPU, "seconds since start", "CPU (cores busy; 1 = one core)")
			rssPlot = newPlot(TitleMPRSS, "seconds since start", "resident memory (MiB)")
		}
		var cpu, rss plotter.XYs
		for j, pt := range c.Series {
			rss = append(rss, plotter.XY{X: pt.T, Y: float64(pt.RSS) / (1 << 20)})
			if j == 0 {
				continue
			}
			prev := c.Series[j-1]
			if dt := pt.T - prev.T; dt > 0 {
				cpu = append(cpu, plotter.XY{X: pt.T, Y: math.Max(0, pt.CPU-prev.CPU) / dt})
			}
		}
		if len(cpu) > 0 {
			e, err := line(cpuPlot, c.Name, cpu, i, false)
			if err != nil {
				return s, err
			}
			cpuEntries = append(cpuEntries, e)
		}
		e, err := line(rssPlot, c.Name, rss, i, false)
		if err != nil {
			return s, err
		}
		rssEntries = append(rssEntries, e)
		i++
	}
	if cpuPlot == nil {
		if len(r.Cost) == 0 {
			s.Empty = "No process cost recorded."
		} else {
			s.Empty = "No per-second cost samples of a management point: see the table."
		}
		return s, nil
	}
	for _, x := range []struct {
		p       *plot.Plot
		e       []legendEntry
		title   string
		caption string
	}{
		{cpuPlot, cpuEntries, TitleMPCPU, "CPU seconds used per second of the run, per MP: 0.5 means half of one core."},
		{rssPlot, rssEntries, TitleMPRSS, "Resident set size of each MP process."},
	} {
		x.p.X.Min, x.p.X.Max = 0, runLength(r)
		x.p.Y.Min = 0
		x.p.Add(marks(timelineMarks(r)))
		svg, err := renderSVG(x.p, halfW, halfH, x.e)
		if err != nil {
			return s, err
		}
		s.Charts = append(s.Charts, chart{Title: x.title, SVG: svg, Caption: x.caption})
	}
	return s, nil
}

func firewallSection(r *Result, _ []TaggedHist) (section, error) {
	s := section{ID: "firewall", Title: "Firewall"}
	if len(r.Firewall) == 0 {
		s.Empty = "No firewall rule counters (no router had rules)."
		return s, nil
	}
	p := newPlot(TitleFirewall, "packets matched", "")
	vals := make(plotter.Values, len(r.Firewall))
	names := make([]string, len(r.Firewall))
	for i, f := range r.Firewall {
		// Bars go bottom-up: reverse so the table's first rule is on top.
		k := len(r.Firewall) - 1 - i
		vals[k] = float64(f.Packets)
		names[k] = fmt.Sprintf("%s: %s (%s)", f.Router, f.Rule, f.Action)
	}
	b, err := plotter.NewBarChart(vals, vg.Points(14))
	if err != nil {
		return s, fmt.Errorf("chart %q: %w", TitleFirewall, err)
	}
	b.Horizontal = true
	b.Color = paletteColor(1)
	b.LineStyle.Width = 0
	p.Add(b)
	p.NominalY(names...)
	p.X.Min = 0
	for _, v := range vals {
		p.X.Max = math.Max(p.X.Max, v*1.08)
	}
	h := vg.Length(len(r.Firewall))*vg.Points(22) + vg.Points(80)
	svg, err := renderSVG(p, wideW, h, nil)
	if err != nil {
		return s, err
	}
	s.Charts = append(s.Charts, chart{Title: TitleFirewall, SVG: svg, Wide: true,
		Caption: "Packets each rule matched during the run (nftables counters). Drop: the client saw a connect timeout; reject: it saw a refusal at once."})
	return s, nil
}
