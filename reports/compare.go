package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// ErrDifferentScenarios: compare refuses results of different scenarios unless forced.
var ErrDifferentScenarios = errors.New("results are of different scenarios")

// Verdicts of one metric in a comparison.
const (
	Regressed = "regressed" // worse by more than its threshold
	Improved  = "improved"  // better by more than its threshold
	Same      = "same"      // within the threshold (noise)
)

// Threshold is how much worse a metric may get before compare calls it a regression.
// Relative thresholds are a percentage of the base value ("10%"); absolute ones are in
// the metric's unit ("0.01" for a fraction, "5ms" for a duration, "8MiB" for bytes).
type Threshold struct {
	Value    float64
	Relative bool // Value is a percentage of the base value
}

func (t Threshold) String() string {
	if t.Relative {
		return strconv.FormatFloat(t.Value, 'g', -1, 64) + "%"
	}
	return strconv.FormatFloat(t.Value, 'g', -1, 64)
}

// Thresholds map metric names to thresholds. A key is matched against each metric, the
// most specific first:
//
//	latency_p99{operation=policy,transport=http,port=8080,outcome=ok,group=pushed,mp=mp1}   one metric
//	latency_p99      a family: every latency_p99 row
//	p99              a suffix: every family ending in _p99 (latency, service_time, push_latency, ...)
//	*                every metric
//
// A metric no key matches gets its family's default (DefaultThreshold).
type Thresholds map[string]Threshold

// SplitThresholds splits a --max-regression argument that holds several NAME=VALUE
// pairs separated by commas. A comma inside braces belongs to the metric's name:
//
//	latency_p99{operation=policy,transport=http}=5%,mp_rss=20%
//
// is two thresholds. Unbalanced braces are left for ParseThreshold to refuse.
func SplitThresholds(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			if depth > 0 {
				depth--
			}
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// ParseThreshold reads one --max-regression argument: NAME=VALUE, VALUE "10%" or an
// absolute amount in the metric's unit ("0.01", "5ms", "512KiB"). NAME may carry labels
// in braces, which hold '=' and ',' of their own: the value follows the '=' after them.
func ParseThreshold(s string) (string, Threshold, error) {
	name, val, ok := cutName(s)
	name, val = strings.TrimSpace(name), strings.TrimSpace(val)
	if !ok || name == "" || val == "" {
		return "", Threshold{}, fmt.Errorf("threshold %q: want METRIC=VALUE, e.g. latency_p99=10%% or error_rate=0.01", s)
	}
	if open := strings.IndexByte(name, '{'); open >= 0 || strings.ContainsAny(name, "}") {
		if open < 0 || !strings.HasSuffix(name, "}") || strings.Count(name, "{") != 1 || strings.Count(name, "}") != 1 {
			return "", Threshold{}, fmt.Errorf("threshold %q: a metric name is FAMILY{label=value,...}, e.g. latency_p99{operation=policy,transport=http}", s)
		}
	}
	if p, isPct := strings.CutSuffix(val, "%"); isPct {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return "", Threshold{}, fmt.Errorf("threshold %q: %q is not a non-negative percentage", s, val)
		}
		return name, Threshold{Value: v, Relative: true}, nil
	}
	if d, err := time.ParseDuration(val); err == nil && strings.IndexFunc(val, func(r rune) bool { return r >= 'a' && r <= 'z' || r == 'µ' }) >= 0 {
		if d < 0 {
			return "", Threshold{}, fmt.Errorf("threshold %q: negative duration", s)
		}
		return name, Threshold{Value: d.Seconds()}, nil
	}
	mult := 1.0
	for _, u := range []struct {
		suffix string
		m      float64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if p, ok := strings.CutSuffix(val, u.suffix); ok {
			val, mult = p, u.m
			break
		}
	}
	v, err := strconv.ParseFloat(val, 64)
	if err != nil || v < 0 || math.IsInf(v*mult, 0) || math.IsNaN(v) {
		return "", Threshold{}, fmt.Errorf("threshold %q: %q is not a percentage (10%%), a duration (5ms), a size (8MiB) or a number", s, val)
	}
	return name, Threshold{Value: v * mult}, nil
}

// cutName splits NAME=VALUE at the first '=' outside braces.
func cutName(s string) (name, val string, ok bool) {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
		case '=':
			if depth == 0 {
				return s[:i], s[i+1:], true
			}
		}
	}
	return s, "", false
}

// metricSpec describes a family of compared metrics.
type metricSpec struct {
	unit         string // seconds, fraction, bytes, microseconds
	higherBetter bool
	def          Threshold // default threshold
	floor        float64   // absolute changes below this are noise whatever the threshold
}

// families are every metric family compare knows, with their defaults:
// durations and costs may get 10% worse, fractions 0.01 (one point) worse.
func families() map[string]metricSpec {
	dur := metricSpec{unit: "seconds", def: Threshold{10, true}, floor: 100e-6}
	m := map[string]metricSpec{
		"error_rate":                  {unit: "fraction", def: Threshold{Value: 0.01}, floor: 1e-9},
		"managed_fraction":            {unit: "fraction", higherBetter: true, def: Threshold{Value: 0.01}, floor: 1e-9},
		"push_delivered_fraction":     {unit: "fraction", higherBetter: true, def: Threshold{Value: 0.01}, floor: 1e-9},
		"mp_cpu_us_per_request":       {unit: "microseconds", def: Threshold{10, true}, floor: 1},
		"mp_cpu_us_per_client_minute": {unit: "microseconds", def: Threshold{10, true}, floor: 1},
		"mp_rss":                      {unit: "bytes", def: Threshold{10, true}, floor: 1 << 20},
	}
	for _, f := range []string{"latency", "service_time", "push_latency", "fallback_delay", "time_to_managed"} {
		for _, p := range []string{"p50", "p90", "p99", "p999", "max"} {
			m[f+"_"+p] = dur
		}
	}
	return m
}

// DefaultThreshold is the threshold of a metric family nobody named ("latency_p99").
func DefaultThreshold(family string) (Threshold, bool) {
	s, ok := families()[family]
	return s.def, ok
}

// MetricFamilies lists the metric families compare reports, for help texts.
func MetricFamilies() []string {
	var out []string
	for f := range families() {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// MetricDelta is one metric in both results.
type MetricDelta struct {
	Name      string  `json:"name"`   // family{labels}
	Family    string  `json:"family"` // latency_p99
	Unit      string  `json:"unit"`
	Base      float64 `json:"base"`
	Head      float64 `json:"head"`
	Delta     float64 `json:"delta"`  // head - base
	Change    float64 `json:"change"` // relative, percent of base (±Inf when base is 0)
	Threshold string  `json:"threshold"`
	Verdict   string  `json:"verdict"`
}

// Comparison is the result of Compare.
type Comparison struct {
	Base, Head   *Result       `json:"-"`
	Metrics      []MetricDelta `json:"metrics"`
	OnlyBase     []string      `json:"only_base,omitempty"` // metrics the head lacks
	OnlyHead     []string      `json:"only_head,omitempty"` // metrics new in the head
	Warnings     []string      `json:"warnings,omitempty"`
	UnusedLimits []string      `json:"unused_thresholds,omitempty"` // threshold keys that matched nothing
	// Failures are why the head fails whatever its metrics say: it did not complete
	// (status error or interrupted), or it lacks every metric of the base. A head that
	// ran nothing has nothing to regress, and must not pass for that.
	Failures []string `json:"failures,omitempty"`
}

// Failed reports whether the head fails the comparison: a regression or a failure.
func (c *Comparison) Failed() bool { return len(c.Failures) > 0 || len(c.Regressions()) > 0 }

// Regressions are the metrics that got worse beyond their threshold.
func (c *Comparison) Regressions() []MetricDelta { return c.with(Regressed) }

// Improvements are the metrics that got better beyond their threshold.
func (c *Comparison) Improvements() []MetricDelta { return c.with(Improved) }

func (c *Comparison) with(v string) []MetricDelta {
	var out []MetricDelta
	for _, m := range c.Metrics {
		if m.Verdict == v {
			out = append(out, m)
		}
	}
	return out
}

// Compare puts every metric the two results share side by side, with a verdict per
// metric against its threshold. Results of different scenarios (another name, or the
// same name run with another definition) are refused with ErrDifferentScenarios unless
// force is set; the error says what differs.
func Compare(base, head *Result, th Thresholds, force bool) (*Comparison, error) {
	c := &Comparison{Base: base, Head: head}
	if why := scenarioDifference(base, head); why != "" {
		if !force {
			return nil, fmt.Errorf("%w: %s (use --force to compare anyway)", ErrDifferentScenarios, why)
		}
		c.Warnings = append(c.Warnings, "compared although "+why)
	}
	if base.Status == StatusError || base.Status == StatusInterrupted {
		c.Warnings = append(c.Warnings, fmt.Sprintf("the base run %s did not complete (%s): its numbers are partial", base.RunID, base.Status))
	}
	switch head.Status {
	case StatusPassed, StatusFailed:
	case StatusError, StatusInterrupted:
		why := ""
		if head.Error != "" {
			why = ": " + shorten(head.Error, 200)
		}
		c.Failures = append(c.Failures, fmt.Sprintf("the head run %s did not complete (status %s%s): its numbers are partial", head.RunID, head.Status, why))
	default:
		c.Failures = append(c.Failures, fmt.Sprintf("the head run %s has status %q, not one a finished run has", head.RunID, shorten(head.Status, 40)))
	}
	if base.Environment.CPUs != head.Environment.CPUs || base.Environment.Hostname != head.Environment.Hostname {
		c.Warnings = append(c.Warnings, fmt.Sprintf("different machines: base %s (%d CPUs), head %s (%d CPUs)",
			base.Environment.Hostname, base.Environment.CPUs, head.Environment.Hostname, head.Environment.CPUs))
	}
	bm, hm := metricsOf(base), metricsOf(head)
	specs := families()
	used := map[string]bool{}
	names := make([]string, 0, len(bm))
	for n := range bm {
		if _, ok := hm[n]; ok {
			names = append(names, n)
		} else {
			c.OnlyBase = append(c.OnlyBase, n)
		}
	}
	for n := range hm {
		if _, ok := bm[n]; !ok {
			c.OnlyHead = append(c.OnlyHead, n)
		}
	}
	sort.Strings(names)
	sort.Strings(c.OnlyBase)
	sort.Strings(c.OnlyHead)
	if len(names) == 0 && len(bm) > 0 {
		c.Failures = append(c.Failures, fmt.Sprintf("the head lacks every one of the base's %d metrics: nothing of it can be compared", len(bm)))
	}
	for _, n := range names {
		b, h := bm[n], hm[n]
		fam, _, _ := strings.Cut(n, "{")
		spec := specs[fam]
		t, key := pickThreshold(th, n, fam, spec.def)
		if key != "" {
			used[key] = true
		}
		d := MetricDelta{Name: n, Family: fam, Unit: spec.unit, Base: b, Head: h, Delta: h - b, Threshold: t.String()}
		switch {
		case b != 0:
			d.Change = 100 * (h - b) / math.Abs(b)
		case h > 0:
			d.Change = math.Inf(1)
		case h < 0:
			d.Change = math.Inf(-1)
		}
		worse := d.Delta
		if spec.higherBetter {
			worse = -worse
		}
		limit := t.Value
		if t.Relative {
			limit = math.Abs(b) * t.Value / 100
		}
		d.Verdict = Same
		if math.Abs(worse) > math.Max(limit, 0) && math.Abs(worse) >= spec.floor {
			if worse > 0 {
				d.Verdict = Regressed
			} else {
				d.Verdict = Improved
			}
		}
		c.Metrics = append(c.Metrics, d)
	}
	for k := range th {
		if !used[k] {
			c.UnusedLimits = append(c.UnusedLimits, k)
		}
	}
	sort.Strings(c.UnusedLimits)
	return c, nil
}

// pickThreshold finds the most specific threshold for metric name of family fam and
// returns it with the key that matched ("" for the default).
func pickThreshold(th Thresholds, name, fam string, def Threshold) (Threshold, string) {
	if t, ok := th[name]; ok {
		return t, name
	}
	if t, ok := th[fam]; ok {
		return t, fam
	}
	// The longest matching suffix wins: "latency_p99" is not a suffix of itself here,
	// "p99" or "_p99" matches latency_p99, service_time_p99, ...
	best, bestKey := Threshold{}, ""
	for k, t := range th {
		if k == "*" || strings.Contains(k, "{") {
			continue
		}
		if strings.HasSuffix(fam, "_"+strings.TrimPrefix(k, "_")) && len(k) > len(bestKey) {
			best, bestKey = t, k
		}
	}
	if bestKey != "" {
		return best, bestKey
	}
	if t, ok := th["*"]; ok {
		return t, "*"
	}
	return def, ""
}

// scenarioDifference says why two results are not runs of the same scenario, or "".
func scenarioDifference(a, b *Result) string {
	if a.ScenarioName != b.ScenarioName {
		return fmt.Sprintf("base is scenario %q, head is scenario %q", a.ScenarioName, b.ScenarioName)
	}
	if len(a.Scenario) == 0 || len(b.Scenario) == 0 {
		return ""
	}
	var x, y any
	if json.Unmarshal(a.Scenario, &x) != nil || json.Unmarshal(b.Scenario, &y) != nil {
		return ""
	}
	if diffs := jsonDiff("", x, y, nil); len(diffs) > 0 {
		more := ""
		if len(diffs) > 3 {
			more = fmt.Sprintf(" and %d more", len(diffs)-3)
			diffs = diffs[:3]
		}
		return fmt.Sprintf("scenario %q was changed between the runs: %s%s", a.ScenarioName, strings.Join(diffs, "; "), more)
	}
	return ""
}

// jsonDiff lists the paths where two decoded JSON values differ.
func jsonDiff(path string, a, b any, out []string) []string {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := map[string]bool{}
		for k := range x {
			keys[k] = true
		}
		for k := range y {
			keys[k] = true
		}
		ks := make([]string, 0, len(keys))
		for k := range keys {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		for _, k := range ks {
			p := k
			if path != "" {
				p = path + "." + k
			}
			out = jsonDiff(p, x[k], y[k], out)
		}
		return out
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			break
		}
		for i := range x {
			out = jsonDiff(fmt.Sprintf("%s[%d]", path, i), x[i], y[i], out)
		}
		return out
	}
	if reflect.DeepEqual(a, b) {
		return out
	}
	return append(out, fmt.Sprintf("%s: %s -> %s", path, short(a), short(b)))
}

func short(v any) string {
	if v == nil {
		return "(none)"
	}
	b, _ := json.Marshal(v)
	return shorten(string(b), 40)
}

func labels(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			parts = append(parts, kv[i]+"="+kv[i+1])
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// metricsOf flattens a result into named metrics (see MetricFamilies).
func metricsOf(r *Result) map[string]float64 {
	m := map[string]float64{}
	pcts := func(fam, lbl string, p Percentiles) {
		if p.Count == 0 {
			return
		}
		for _, x := range []struct {
			s string
			v float64
		}{{"p50", p.P50}, {"p90", p.P90}, {"p99", p.P99}, {"p999", p.P999}, {"max", p.Max}} {
			m[fam+"_"+x.s+lbl] = x.v
		}
	}
	type ek struct{ op, tr, port, group, mp string }
	total, failed := map[ek]uint64{}, map[ek]uint64{}
	for _, q := range r.Requests {
		port := strconv.Itoa(q.Port)
		lbl := labels("operation", q.Operation, "transport", q.Transport, "port", port, "outcome", q.Outcome, "group", q.Group, "mp", q.MP)
		pcts("latency", lbl, q.Latency)
		pcts("service_time", lbl, q.ServiceTime)
		k := ek{q.Operation, q.Transport, port, q.Group, q.MP}
		total[k] += q.Count
		if q.Outcome != "ok" {
			failed[k] += q.Count
		}
	}
	for k, n := range total {
		if n > 0 {
			m["error_rate"+labels("operation", k.op, "transport", k.tr, "port", k.port, "group", k.group, "mp", k.mp)] = float64(failed[k]) / float64(n)
		}
	}
	for _, g := range r.Groups {
		if g.Count > 0 {
			m["managed_fraction"+labels("group", g.Group)] = float64(g.Managed) / float64(g.Count)
		}
		pcts("fallback_delay", labels("group", g.Group), g.FallbackDelay)
	}
	for _, p := range r.Push {
		lbl := labels("group", p.Group, "transport", p.Transport)
		if p.Targeted > 0 {
			m["push_delivered_fraction"+lbl] = float64(p.Delivered) / float64(p.Targeted)
		}
		pcts("push_latency", lbl, p.Latency)
	}
	for _, w := range r.Wake {
		pcts("time_to_managed", labels("group", w.Group), w.TimeToManaged)
	}
	for _, c := range r.Cost {
		if c.Role != "mp" {
			continue
		}
		lbl := labels("mp", c.Name)
		if c.Requests > 0 {
			m["mp_cpu_us_per_request"+lbl] = c.CPUPerRequestUS
		}
		if c.Clients > 0 {
			m["mp_cpu_us_per_client_minute"+lbl] = c.CPUPerClientMinuteUS
		}
		if c.RSSPeak > 0 {
			m["mp_rss"+lbl] = float64(c.RSSPeak)
		}
	}
	return m
}

func (d MetricDelta) change() string {
	switch {
	case math.IsInf(d.Change, 1):
		return "new >0"
	case math.IsInf(d.Change, -1):
		return "new <0"
	case d.Base == d.Head:
		return "±0%"
	}
	return fmt.Sprintf("%+.1f%%", d.Change)
}

func (d MetricDelta) delta() string {
	s := FormatValue(math.Abs(d.Delta), d.Unit)
	if d.Delta < 0 {
		return "-" + s
	}
	return "+" + s
}

func (c *Comparison) headline() string {
	reg, imp := c.Regressions(), c.Improvements()
	if len(c.Failures) > 0 {
		return fmt.Sprintf("FAILED: %s", strings.Join(c.Failures, "; "))
	}
	if len(reg) > 0 {
		return fmt.Sprintf("REGRESSED: %d of %d metrics got worse beyond their threshold (%d improved)", len(reg), len(c.Metrics), len(imp))
	}
	return fmt.Sprintf("no regression: %d metrics compared, %d improved, %d within their threshold", len(c.Metrics), len(imp), len(c.Metrics)-len(imp))
}

// Text renders the comparison for a terminal: verdict, regressions, improvements, then
// every metric.
func (c *Comparison) Text() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "portlab compare: %s\nbase %s (%s, %s)\nhead %s (%s, %s)\n", c.Base.ScenarioName,
		c.Base.RunID, c.Base.Status, c.Base.Started.UTC().Format(time.RFC3339), c.Head.RunID, c.Head.Status, c.Head.Started.UTC().Format(time.RFC3339))
	for _, w := range c.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	fmt.Fprintf(&b, "\n%s\n\n", c.headline())
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERDICT\tMETRIC\tBASE\tHEAD\tDELTA\tCHANGE\tTHRESHOLD")
	for _, v := range []string{Regressed, Improved, Same} {
		for _, d := range c.with(v) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Verdict, d.Name, FormatValue(d.Base, d.Unit), FormatValue(d.Head, d.Unit), d.delta(), d.change(), d.Threshold)
		}
	}
	tw.Flush()
	c.notes(&b, "")
	return b.Bytes()
}

func (c *Comparison) notes(b *bytes.Buffer, bullet string) {
	if len(c.OnlyBase)+len(c.OnlyHead) > 0 {
		fmt.Fprintf(b, "\n%s%d metrics only in the base, %d only in the head (not compared)", bullet, len(c.OnlyBase), len(c.OnlyHead))
		if len(c.OnlyHead) > 0 {
			fmt.Fprintf(b, "; new: %s", strings.Join(firstN(c.OnlyHead, 5), ", "))
		}
		b.WriteString("\n")
	}
	if len(c.UnusedLimits) > 0 {
		fmt.Fprintf(b, "\n%sthresholds that matched no metric: %s\n", bullet, strings.Join(c.UnusedLimits, ", "))
	}
}

func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(append([]string(nil), s[:n]...), fmt.Sprintf("… %d more", len(s)-n))
}

// Markdown renders the comparison as a pull-request comment: the verdict first, the
// regressions and improvements in tables, every metric in a collapsed table.
func (c *Comparison) Markdown() []byte {
	var b bytes.Buffer
	icon := "✅"
	if c.Failed() {
		icon = "❌"
	}
	fmt.Fprintf(&b, "## %s portlab compare: %s\n\n", icon, c.Base.ScenarioName)
	fmt.Fprintf(&b, "**%s.**\n\n", c.headline())
	fmt.Fprintf(&b, "Base `%s` (%s, %s) → head `%s` (%s, %s).\n", c.Base.RunID, c.Base.Status, c.Base.Started.UTC().Format(time.RFC3339),
		c.Head.RunID, c.Head.Status, c.Head.Started.UTC().Format(time.RFC3339))
	for _, w := range c.Warnings {
		fmt.Fprintf(&b, "\n> ⚠️ %s\n", w)
	}
	table := func(ds []MetricDelta) {
		b.WriteString("| metric | base | head | change | threshold |\n|---|---:|---:|---:|---:|\n")
		for _, d := range ds {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s (%s) | %s |\n", d.Name, FormatValue(d.Base, d.Unit), FormatValue(d.Head, d.Unit), d.delta(), d.change(), d.Threshold)
		}
	}
	if reg := c.Regressions(); len(reg) > 0 {
		b.WriteString("\n### Regressions\n\n")
		table(reg)
	}
	if imp := c.Improvements(); len(imp) > 0 {
		b.WriteString("\n### Improvements\n\n")
		table(imp)
	}
	fmt.Fprintf(&b, "\n<details><summary>All %d metrics</summary>\n\n", len(c.Metrics))
	b.WriteString("| verdict | metric | base | head | change | threshold |\n|---|---|---:|---:|---:|---:|\n")
	for _, d := range c.Metrics {
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s (%s) | %s |\n", d.Verdict, d.Name, FormatValue(d.Base, d.Unit), FormatValue(d.Head, d.Unit), d.delta(), d.change(), d.Threshold)
	}
	b.WriteString("\n</details>\n")
	c.notes(&b, "")
	return b.Bytes()
}
