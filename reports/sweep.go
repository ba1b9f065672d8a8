package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"sort"
	"strings"
	"time"
)

// SweepSchemaVersion is the version of sweep.json.
const SweepSchemaVersion = 1

// Sweep is the comparison of the candidates of `portlab sweep`: one run of the same
// scenario per value (or pair of values) of the varied paths, side by side, and the
// candidate that breaks the fewest clients.
type Sweep struct {
	SchemaVersion int              `json:"schema_version"`
	Tool          string           `json:"tool"`
	Scenario      string           `json:"scenario"`
	Started       time.Time        `json:"started"`
	Ended         time.Time        `json:"ended"`
	Varied        []string         `json:"varied"`              // the paths, in --vary order
	Overrides     []string         `json:"overrides,omitempty"` // --set common to every candidate
	Candidates    []SweepCandidate `json:"candidates"`
	// Best is the 1-based number of the candidate that breaks the fewest clients (0:
	// none finished); BestWhy says why, ties included.
	Best        int      `json:"best"`
	BestWhy     string   `json:"best_why"`
	Interrupted bool     `json:"interrupted,omitempty"`
	Notes       []string `json:"notes,omitempty"`
}

// SweepCandidate is one candidate's run, summarised.
type SweepCandidate struct {
	N      int      `json:"n"`      // 1-based
	Values []string `json:"values"` // one per varied path
	Dir    string   `json:"dir"`    // its results directory, relative to the sweep's
	// Status is the run's (passed, failed, interrupted, error), or "not run" when the
	// sweep stopped before it.
	Status string       `json:"status"`
	Error  string       `json:"error,omitempty"`
	Groups []SweepGroup `json:"groups,omitempty"`
	// Broken counts the clients not managed at the end (unmanaged, asleep or pending).
	Broken      int      `json:"broken"`
	Clients     int      `json:"clients"`
	Gates       int      `json:"gates"`
	GatesFailed []string `json:"gates_failed,omitempty"`
	// FallbackP99 is the worst group's fallback delay p99, seconds (0: nobody fell back).
	FallbackP99 float64 `json:"fallback_p99_s"`
	// MP cost, summed over the MPs: CPU seconds, CPU per request, the largest RSS peak.
	MPCPU           float64 `json:"mp_cpu_s"`
	MPCPUPerRequest float64 `json:"mp_cpu_us_per_request"`
	MPRSSPeak       uint64  `json:"mp_rss_peak_bytes"`
	// Disagreements counts groups whose measurement contradicts the prediction.
	Disagreements int `json:"prediction_disagreements"`
}

// SweepGroup is one group of a candidate.
type SweepGroup struct {
	Group       string  `json:"group"`
	Count       int     `json:"count"`
	Managed     int     `json:"managed"`
	Unmanaged   int     `json:"unmanaged"`
	Asleep      int     `json:"asleep"`
	Fallbacks   int     `json:"fallbacks"`
	FallbackP50 float64 `json:"fallback_p50_s"`
	Predicted   string  `json:"predicted,omitempty"`
	Agrees      *bool   `json:"prediction_agrees,omitempty"`
}

// Finished reports a candidate whose run went to its end (passed or failed).
func (c SweepCandidate) Finished() bool {
	return c.Status == StatusPassed || c.Status == StatusFailed
}

// Label is the candidate's values joined, for tables: "8443" or "8443, rsa-2048".
func (c SweepCandidate) Label() string { return strings.Join(c.Values, ", ") }

// NewSweepCandidate summarises the result of candidate n (r nil: it did not run, or
// the load never started; status and errText say why).
func NewSweepCandidate(n int, values []string, dir string, r *Result, status, errText string) SweepCandidate {
	c := SweepCandidate{N: n, Values: values, Dir: dir, Status: status, Error: errText}
	if r == nil {
		return c
	}
	c.Status, c.Gates = r.Status, len(r.Gates)
	if c.Error == "" {
		c.Error = r.Error
	}
	pred := map[string]GroupPrediction{}
	for _, p := range r.Prediction {
		pred[p.Group] = p
	}
	for _, g := range r.Groups {
		sg := SweepGroup{Group: g.Group, Count: g.Count, Managed: g.Managed, Unmanaged: g.Unmanaged, Asleep: g.Asleep,
			Fallbacks: g.Fallbacks, FallbackP50: g.FallbackDelay.P50}
		if p, ok := pred[g.Group]; ok {
			sg.Predicted = predictedText(p)
			if p.Compared {
				a := p.Agrees
				sg.Agrees = &a
			}
		}
		c.Groups = append(c.Groups, sg)
		c.Clients += g.Count
		c.Broken += g.Count - g.Managed
		if g.FallbackDelay.Count > 0 {
			c.FallbackP99 = max(c.FallbackP99, g.FallbackDelay.P99)
		}
	}
	for _, g := range r.Gates {
		if !g.Passed {
			c.GatesFailed = append(c.GatesFailed, g.Name)
		}
	}
	var reqs uint64
	for _, pc := range r.Cost {
		if pc.Role == "mp" {
			c.MPCPU += pc.CPUUser + pc.CPUSystem
			reqs += pc.Requests
			c.MPRSSPeak = max(c.MPRSSPeak, pc.RSSPeak)
		}
	}
	if reqs > 0 {
		c.MPCPUPerRequest = c.MPCPU * 1e6 / float64(reqs)
	}
	c.Disagreements = len(r.Disagreements())
	return c
}

// Decide picks the candidate that breaks the fewest clients among those that finished,
// and says why. Ties go to fewer failed gates, then the shorter worst fallback delay
// (p99, when they differ by more than 10%), then less MP CPU (when it differs by more
// than 10%: closer is noise), then the candidate listed first; BestWhy names every
// candidate that tied and what separated them.
func (s *Sweep) Decide() {
	s.Best, s.BestWhy = 0, ""
	var fin []SweepCandidate
	for _, c := range s.Candidates {
		if c.Finished() {
			fin = append(fin, c)
		}
	}
	if len(fin) == 0 {
		s.BestWhy = "no candidate finished its run"
		return
	}
	sort.SliceStable(fin, func(i, j int) bool { return sweepLess(fin[i], fin[j]) })
	b := fin[0]
	s.Best = b.N
	why := fmt.Sprintf("candidate %d (%s) breaks the fewest clients: %d of %d", b.N, b.Label(), b.Broken, b.Clients)
	var ties []string
	for _, o := range fin[1:] {
		if o.Broken != b.Broken {
			continue
		}
		ties = append(ties, fmt.Sprintf("ties with %d (%s) on %d broken; %s", o.N, o.Label(), o.Broken, tieBreak(b, o)))
	}
	if len(ties) > 0 {
		why += "; " + strings.Join(ties, "; ")
	}
	if b.Status == StatusFailed {
		why += fmt.Sprintf("; but it fails %d gate(s): %s", len(b.GatesFailed), strings.Join(b.GatesFailed, ", "))
	}
	s.BestWhy = why
}

// sweepLess orders candidates best first (see Decide).
func sweepLess(a, b SweepCandidate) bool {
	if a.Broken != b.Broken {
		return a.Broken < b.Broken
	}
	if len(a.GatesFailed) != len(b.GatesFailed) {
		return len(a.GatesFailed) < len(b.GatesFailed)
	}
	if differ(a.FallbackP99, b.FallbackP99) {
		return a.FallbackP99 < b.FallbackP99
	}
	if differ(a.MPCPU, b.MPCPU) {
		return a.MPCPU < b.MPCPU
	}
	return a.N < b.N
}

// differ: more than 10% apart (measurements closer than that are noise here).
func differ(a, b float64) bool {
	hi := max(a, b)
	return hi > 0 && (hi-min(a, b))/hi > 0.10
}

// tieBreak says what put a (the better) before b.
func tieBreak(a, b SweepCandidate) string {
	switch {
	case len(a.GatesFailed) != len(b.GatesFailed):
		return fmt.Sprintf("picked for fewer failed gates (%d vs %d)", len(a.GatesFailed), len(b.GatesFailed))
	case differ(a.FallbackP99, b.FallbackP99):
		return fmt.Sprintf("picked for the shorter fallback delay p99 (%s vs %s)", FormatValue(a.FallbackP99, "seconds"), FormatValue(b.FallbackP99, "seconds"))
	case differ(a.MPCPU, b.MPCPU):
		return fmt.Sprintf("picked for less MP CPU (%.2f s vs %.2f s)", a.MPCPU, b.MPCPU)
	}
	return "equal on failed gates, fallback delay and MP CPU (within 10%): the one listed first"
}

// SweepJSON is sweep.json.
func SweepJSON(s *Sweep) ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// groupNames lists every group of the candidates, in first-seen order.
func (s *Sweep) groupNames() []string {
	var names []string
	seen := map[string]bool{}
	for _, c := range s.Candidates {
		for _, g := range c.Groups {
			if !seen[g.Group] {
				seen[g.Group] = true
				names = append(names, g.Group)
			}
		}
	}
	return names
}

func (c SweepCandidate) group(name string) (SweepGroup, bool) {
	for _, g := range c.Groups {
		if g.Group == name {
			return g, true
		}
	}
	return SweepGroup{}, false
}

// SweepMarkdown is sweep.md: the verdict, one row per candidate, then per group.
func SweepMarkdown(s *Sweep) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# portlab sweep: %s\n\n", s.Scenario)
	fmt.Fprintf(&b, "Varied: %s. %d candidate(s), %s, %s.\n", "`"+strings.Join(s.Varied, "`, `")+"`", len(s.Candidates), s.Started.UTC().Format(time.RFC3339), s.Tool)
	if len(s.Overrides) > 0 {
		fmt.Fprintf(&b, "Every candidate with `--set %s`.\n", strings.Join(s.Overrides, "` `--set "))
	}
	if s.Interrupted {
		b.WriteString("\n> Interrupted: the candidates after the one running then were not run.\n")
	}
	for _, n := range s.Notes {
		fmt.Fprintf(&b, "\n> %s\n", n)
	}
	fmt.Fprintf(&b, "\n**%s.**\n", upperFirst(s.BestWhy))
	b.WriteString("\n## Candidates\n\n| # | " + strings.Join(s.Varied, " | ") + " | status | broken clients | gates failed | fallback p99 | MP CPU | MP µs/request | MP RSS peak | prediction | results |\n")
	b.WriteString("|---|" + strings.Repeat("---|", len(s.Varied)) + "---|---|---|---|---|---|---|---|---|\n")
	for _, c := range s.Candidates {
		best := ""
		if c.N == s.Best {
			best = " **best**"
		}
		vals := make([]string, len(s.Varied))
		copy(vals, c.Values)
		if !c.Finished() && len(c.Groups) == 0 {
			fmt.Fprintf(&b, "| %d | %s | %s | – | – | – | – | – | – | – | `%s` |\n", c.N, strings.Join(vals, " | "), sweepStatus(c), c.Dir)
			continue
		}
		gates := fmt.Sprintf("%d of %d", len(c.GatesFailed), c.Gates)
		if len(c.GatesFailed) > 0 {
			gates += ": " + strings.Join(c.GatesFailed, ", ")
		}
		fb := "–"
		if c.FallbackP99 > 0 {
			fb = FormatValue(c.FallbackP99, "seconds")
		}
		fmt.Fprintf(&b, "| %d%s | %s | %s | %d of %d | %s | %s | %.2f s | %.1f | %s | %s | `%s` |\n", c.N, best, strings.Join(vals, " | "), sweepStatus(c),
			c.Broken, c.Clients, mdCell(gates), fb, c.MPCPU, c.MPCPUPerRequest, FormatValue(float64(c.MPRSSPeak), "bytes"), predictionCell(c), c.Dir)
	}
	if len(s.groupNames()) == 0 {
		return b.Bytes()
	}
	b.WriteString("\n## Groups\n\nManaged / unmanaged clients at the end of each candidate's run (asleep when any), fallback delay p50, and the prediction.\n\n")
	b.WriteString("| group | " + candidateHeads(s) + " |\n|---|" + strings.Repeat("---|", len(s.Candidates)) + "\n")
	for _, name := range s.groupNames() {
		var cells []string
		for _, c := range s.Candidates {
			g, ok := c.group(name)
			if !ok {
				cells = append(cells, "–")
				continue
			}
			cells = append(cells, groupCell(g))
		}
		fmt.Fprintf(&b, "| %s | %s |\n", name, strings.Join(cells, " | "))
	}
	return b.Bytes()
}

func candidateHeads(s *Sweep) string {
	var h []string
	for _, c := range s.Candidates {
		h = append(h, fmt.Sprintf("%d: %s", c.N, mdCell(c.Label())))
	}
	return strings.Join(h, " | ")
}

func groupCell(g SweepGroup) string {
	cell := fmt.Sprintf("%d / %d", g.Managed, g.Unmanaged)
	if g.Asleep > 0 {
		cell += fmt.Sprintf(" (%d asleep)", g.Asleep)
	}
	if g.Fallbacks > 0 {
		cell += fmt.Sprintf(", fell back %d (p50 %s)", g.Fallbacks, FormatValue(g.FallbackP50, "seconds"))
	}
	if g.Predicted != "" {
		switch {
		case g.Agrees == nil:
			cell += "; predicted " + g.Predicted
		case *g.Agrees:
			cell += "; as predicted"
		default:
			cell += "; **predicted " + g.Predicted + "**"
		}
	}
	return cell
}

func predictionCell(c SweepCandidate) string {
	if c.Disagreements > 0 {
		return fmt.Sprintf("**%d disagree**", c.Disagreements)
	}
	for _, g := range c.Groups {
		if g.Agrees != nil {
			return "agrees"
		}
	}
	return "–"
}

func sweepStatus(c SweepCandidate) string {
	s := strings.ToUpper(c.Status)
	if c.Status == "not run" {
		s = "not run"
	}
	if c.Error != "" && c.Status != StatusFailed {
		s += ": " + mdCell(c.Error)
	}
	return s
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// SweepHTML is sweep.html: the same comparison as one self-contained page, each
// candidate linked to its own report.html.
func SweepHTML(s *Sweep) ([]byte, error) {
	t, err := template.New("sweep").Funcs(template.FuncMap{
		"upper":  upperFirst,
		"status": sweepStatus,
		"secs":   func(v float64) string { return FormatValue(v, "seconds") },
		"bytes":  func(v uint64) string { return FormatValue(float64(v), "bytes") },
		"f2":     func(v float64) string { return fmt.Sprintf("%.2f", v) },
		"f1":     func(v float64) string { return fmt.Sprintf("%.1f", v) },
		"cell": func(c SweepCandidate, name string) string {
			g, ok := c.group(name)
			if !ok {
				return "–"
			}
			return strings.ReplaceAll(groupCell(g), "**", "")
		},
		"pred": func(c SweepCandidate) string { return strings.ReplaceAll(predictionCell(c), "**", "") },
		"utc":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") },
		"join": strings.Join,
	}).Parse(sweepTemplate)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = t.Execute(&b, struct {
		S      *Sweep
		Groups []string
	}{s, s.groupNames()})
	return b.Bytes(), err
}

const sweepTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>portlab sweep: {{.S.Scenario}}</title>
<style>
body { margin:0; padding:24px 32px 48px; font:14px/1.45 "Liberation Sans",Arial,Helvetica,sans-serif; color:#1b1f24; }
main { max-width:1240px; margin:0 auto; }
h1 { font-size:24px; margin:0 0 4px; } h2 { font-size:19px; margin:28px 0 8px; border-bottom:1px solid #d8dde3; }
.meta { color:#5b6470; } .verdict { border-left:4px solid #1a7f37; background:#eaf5ec; padding:8px 12px; margin:12px 0; font-size:15px; }
.note { border-left:4px solid #9a6700; background:#fff8e1; padding:6px 10px; margin:8px 0; }
table { border-collapse:collapse; margin:8px 0; font-size:13px; }
th, td { border:1px solid #d8dde3; padding:3px 8px; text-align:left; vertical-align:top; }
th { background:#f5f7f9; } td.n { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
tr.best td { background:#eaf5ec; } td.failed, td.error, td.interrupted { color:#c62828; font-weight:600; } td.passed { color:#1a7f37; font-weight:600; }
code { font-family:"Liberation Mono",Menlo,Consolas,monospace; font-size:12.5px; }
</style>
</head>
<body>
<main>
<h1>portlab sweep: {{.S.Scenario}}</h1>
<p class="meta">Varied {{range $i, $v := .S.Varied}}{{if $i}}, {{end}}<code>{{$v}}</code>{{end}} · {{len .S.Candidates}} candidates · started {{utc .S.Started}} · {{.S.Tool}}{{if .S.Overrides}} · every candidate with{{range .S.Overrides}} <code>--set {{.}}</code>{{end}}{{end}}</p>
{{- if .S.Interrupted}}<div class="note">Interrupted: the candidates after the one running then were not run.</div>{{end}}
{{- range .S.Notes}}<div class="note">{{.}}</div>{{end}}
<div class="verdict"><strong>{{upper .S.BestWhy}}.</strong></div>
<h2>Candidates</h2>
<table>
<tr><th>#</th>{{range .S.Varied}}<th><code>{{.}}</code></th>{{end}}<th>status</th><th>broken clients</th><th>gates failed</th><th>fallback p99</th><th>MP CPU</th><th>MP µs/request</th><th>MP RSS peak</th><th>prediction</th><th>report</th></tr>
{{- range .S.Candidates}}
<tr{{if eq .N $.S.Best}} class="best"{{end}}><td class="n">{{.N}}{{if eq .N $.S.Best}} best{{end}}</td>{{range .Values}}<td>{{.}}</td>{{end}}<td class="{{.Status}}">{{status .}}</td>
{{- if .Groups}}<td class="n">{{.Broken}} of {{.Clients}}</td><td>{{len .GatesFailed}} of {{.Gates}}{{if .GatesFailed}}: {{join .GatesFailed ", "}}{{end}}</td><td class="n">{{if .FallbackP99}}{{secs .FallbackP99}}{{else}}–{{end}}</td><td class="n">{{f2 .MPCPU}} s</td><td class="n">{{f1 .MPCPUPerRequest}}</td><td class="n">{{bytes .MPRSSPeak}}</td><td>{{pred .}}</td>
{{- else}}<td>–</td><td>–</td><td>–</td><td>–</td><td>–</td><td>–</td><td>–</td>{{end}}
<td><a href="{{.Dir}}/report.html">{{.Dir}}</a></td></tr>
{{- end}}
</table>
<h2>Groups</h2>
<p>Managed / unmanaged clients at the end of each candidate's run (asleep when any), fallback delay p50, and the prediction.</p>
<table>
<tr><th>group</th>{{range .S.Candidates}}<th>{{.N}}: {{.Label}}</th>{{end}}</tr>
{{- range $g := .Groups}}
<tr><td>{{$g}}</td>{{range $.S.Candidates}}<td>{{cell . $g}}</td>{{end}}</tr>
{{- end}}
</table>
</main>
</body>
</html>
`
