package harness

import (
	"fmt"
	"math"
	"strings"

	"github.com/portlab/portlab/metrics"
	"github.com/portlab/portlab/reports"
	"github.com/portlab/portlab/scenarios"
)

// EvaluateGates judges every gate of s on the result and the run's merged recorder, and
// returns the verdicts in the scenario's order. It never fails: a metric with no data
// is measured as 0 (counts, fractions) or reported as "no data" and failed (percentiles),
// because a gate that silently passes on missing data hides the very failures it guards.
func EvaluateGates(s *scenarios.Scenario, res *reports.Result, rec *metrics.Recorder) []reports.GateVerdict {
	var out []reports.GateVerdict
	for _, g := range s.Gates {
		out = append(out, evaluateGate(g, res, rec))
	}
	return out
}

func gateName(g scenarios.Gate) string {
	var f []string
	add := func(k, v string) {
		if v != "" {
			f = append(f, k+"="+v)
		}
	}
	add("group", g.Group)
	add("operation", string(g.Operation))
	if g.Port != 0 {
		add("port", fmt.Sprint(g.Port))
	}
	add("transport", string(g.Transport))
	add("outcome", string(g.Outcome))
	add("mp", g.MP)
	add("router", g.Router)
	add("rule", g.Rule)
	add("source", string(g.Source))
	if len(f) == 0 {
		return g.Metric
	}
	return g.Metric + "{" + strings.Join(f, ",") + "}"
}

func evaluateGate(g scenarios.Gate, res *reports.Result, rec *metrics.Recorder) reports.GateVerdict {
	spec, _ := scenarios.LookupMetric(g.Metric)
	v := reports.GateVerdict{Name: gateName(g), Metric: g.Metric, Op: string(g.Op), Value: g.Value.Raw, Threshold: g.Value.Num, Unit: string(spec.Unit)}
	measured, ok, why := measure(g, spec, res, rec)
	if ref, rel := g.Reference(); rel && ok {
		// A ratio of two measurements of the same run: what both share (machine load,
		// the generator's own cost) cancels, which absolute thresholds cannot say.
		v.Unit = string(scenarios.UnitRatio)
		v.Name += " / " + gateName(ref)
		var base float64
		base, ok, why = measure(ref, spec, res, rec)
		switch {
		case !ok:
			why = "reference: " + why
		case base == 0:
			ok, why = false, "the reference measured 0"
		default:
			v.Reference = base
			measured /= base
		}
	}
	v.Measured = measured
	if !ok {
		v.Passed = false
		v.Message = fmt.Sprintf("%s: no data (%s)", v.Name, why)
		return v
	}
	v.Passed = compare(measured, g.Op, g.Value.Num)
	verb := "want"
	if v.Passed {
		verb = "as required"
	}
	v.Message = fmt.Sprintf("%s measured %s, %s %s %s", v.Name, reports.FormatValue(measured, v.Unit), verb, g.Op, g.Value.Raw)
	return v
}

// compare applies op with a relative tolerance for ==/!= on floats.
func compare(a float64, op scenarios.Comparison, b float64) bool {
	eq := math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
	switch op {
	case scenarios.Less:
		return a < b && !eq
	case scenarios.LessEqual:
		return a < b || eq
	case scenarios.Greater:
		return a > b && !eq
	case scenarios.GreaterEqual:
		return a > b || eq
	case scenarios.Equal:
		return eq
	case scenarios.NotEqual:
		return !eq
	}
	return false
}

func histFilter(g scenarios.Gate, metric string) metrics.Key {
	k := metrics.Key{Metric: metric, Op: string(g.Operation), Transport: string(g.Transport), Port: g.Port, Outcome: string(g.Outcome), Group: g.Group, MP: g.MP}
	switch metric {
	case metrics.PushLatency:
		k.Op = metrics.OpPushAck
	case metrics.TimeToManaged:
		k.Op = metrics.OpWake
	case metrics.FallbackDelay:
		k.Op = ""
	case metrics.FollowTime:
		k.Op = metrics.OpFollow
	}
	return k
}

// measure returns the metric's value in its canonical unit, or ok=false with a reason.
func measure(g scenarios.Gate, spec scenarios.MetricSpec, res *reports.Result, rec *metrics.Recorder) (float64, bool, string) {
	if spec.Quantile >= 0 { // a percentile of a distribution
		h := rec.Query(histFilter(g, spec.Base))
		if h.TotalCount() == 0 {
			return 0, false, "no " + strings.ReplaceAll(spec.Base, "_", " ") + " values matched"
		}
		q := spec.Quantile
		var us int64
		if q >= 100 {
			us = h.Max()
		} else {
			us = h.ValueAtQuantile(q)
		}
		return float64(us) / 1e6, true, ""
	}
	groups := selectGroups(res.Groups, g.Group)
	switch g.Metric {
	case "managed_count", "unmanaged_count", "managed_fraction", "unmanaged_fraction", "fallback_count":
		if len(groups) == 0 {
			return 0, false, "no such group in the result"
		}
		var n, total int
		for _, gr := range groups {
			total += gr.Count
			switch {
			case strings.HasPrefix(g.Metric, "managed"):
				n += gr.Managed
			case strings.HasPrefix(g.Metric, "unmanaged"):
				n += gr.Unmanaged
			default:
				n += gr.Fallbacks
			}
		}
		if strings.HasSuffix(g.Metric, "_fraction") {
			return ratio(n, total), true, ""
		}
		return float64(n), true, ""
	case "request_count", "error_rate":
		f := histFilter(g, metrics.Latency)
		all := rec.Query(f).TotalCount()
		if g.Metric == "request_count" {
			return float64(all), true, ""
		}
		var bad int64
		if g.Outcome != "" {
			bad = all
			f.Outcome = ""
			all = rec.Query(f).TotalCount()
		} else {
			f.Outcome = metrics.OK
			bad = all - rec.Query(f).TotalCount()
		}
		if all == 0 {
			return 0, false, "no requests matched"
		}
		return float64(bad) / float64(all), true, ""
	case "push_delivered_fraction":
		var t, d int
		for _, p := range res.Push {
			if (g.Group == "" || p.Group == g.Group) && (g.Transport == "" || p.Transport == string(g.Transport)) {
				t += p.Targeted
				d += p.Delivered
			}
		}
		if t == 0 {
			return 0, false, "no notification was pushed to these clients"
		}
		return ratio(d, t), true, ""
	case "wake_fraction":
		var t, w int
		for _, x := range res.Wake {
			if g.Group == "" || x.Group == g.Group {
				t += x.Targeted
				w += x.Woken
			}
		}
		if t == 0 {
			return 0, false, "no wake-up was sent to these clients"
		}
		return ratio(w, t), true, ""
	case "late_fraction", "deferred_fraction", "skipped_count":
		late, deferred, cycles, skipped := int64(0), int64(0), int64(0), int64(0)
		for _, gr := range groups {
			late += rec.Counter(metrics.CLateStarts, gr.Group)
			deferred += rec.Counter(metrics.CDeferred, gr.Group)
			cycles += rec.Counter(metrics.CPlanned, gr.Group)
			skipped += rec.Counter(metrics.CSkippedBusy, gr.Group)
		}
		if g.Metric == "skipped_count" {
			return float64(skipped), true, ""
		}
		if cycles == 0 {
			return 0, false, "no cycles ran"
		}
		if g.Metric == "deferred_fraction" {
			return float64(deferred) / float64(cycles), true, ""
		}
		return float64(late) / float64(cycles), true, ""
	case "online_fraction":
		if len(groups) == 0 {
			return 0, false, "no such group in the result"
		}
		n, total := 0, 0
		for _, gr := range groups {
			total += gr.Count
			n += gr.Notification["tcp"]
		}
		return ratio(n, total), true, ""
	case "learned_fraction":
		if len(groups) == 0 {
			return 0, false, "no such group in the result"
		}
		n, total, located := 0, 0, false
		for _, gr := range groups {
			if gr.Location == nil {
				continue
			}
			located = true
			total += gr.Count
			for src, k := range gr.Location.Learned {
				if (g.Source == "" && src != string(scenarios.LearnedNever)) || src == string(g.Source) {
					n += k
				}
			}
		}
		if !located {
			return 0, false, "no service location in the result (no site server)"
		}
		return ratio(n, total), true, ""
	case "ldap_query_count", "ldap_failure_count", "dns_query_count", "dns_failure_count":
		name := map[string]string{"ldap_query_count": metrics.CLDAPQueries, "ldap_failure_count": metrics.CLDAPFailures,
			"dns_query_count": metrics.CDNSQueries, "dns_failure_count": metrics.CDNSFailures}[g.Metric]
		var n int64
		for _, gr := range groups {
			n += rec.Counter(name, gr.Group)
		}
		return float64(n), true, ""
	case "rule_packets", "rule_bytes":
		for _, c := range res.Firewall {
			if c.Router == g.Router && c.Rule == g.Rule {
				if g.Metric == "rule_packets" {
					return float64(c.Packets), true, ""
				}
				return float64(c.Bytes), true, ""
			}
		}
		return 0, false, "no counter for that rule in the result"
	}
	if strings.HasPrefix(g.Metric, "mp_") {
		return measureMP(g, res)
	}
	return 0, false, "metric not measured by this portlab"
}

// measureMP aggregates MP cost: CPU and requests summed, RSS as the largest.
func measureMP(g scenarios.Gate, res *reports.Result) (float64, bool, string) {
	var cpu, rssPer float64
	var reqs uint64
	var rss uint64
	var clientMin float64
	n, sampled, withSessions := 0, 0, 0
	for _, c := range res.Cost {
		if c.Role != "mp" || (g.MP != "" && c.Name != g.MP) {
			continue
		}
		n++
		if len(c.Series) > 0 || c.CPUUser+c.CPUSystem > 0 {
			sampled++
		}
		if c.RSSPerSession > 0 {
			withSessions++
		}
		cpu += c.CPUUser + c.CPUSystem
		reqs += c.Requests
		rss = max(rss, c.RSSPeak)
		rssPer = max(rssPer, c.RSSPerSession)
		clientMin += float64(c.Clients) * res.Elapsed / 60
	}
	if n == 0 || sampled == 0 {
		return 0, false, "no management point cost recorded"
	}
	switch g.Metric {
	case "mp_cpu_seconds":
		return cpu, true, ""
	case "mp_cpu_us_per_request":
		if reqs == 0 {
			return 0, false, "the MP served no requests"
		}
		return cpu * 1e6 / float64(reqs), true, ""
	case "mp_cpu_us_per_client_minute":
		if clientMin == 0 {
			return 0, false, "no connected clients"
		}
		return cpu * 1e6 / clientMin, true, ""
	case "mp_rss":
		return float64(rss), true, ""
	case "mp_rss_per_session":
		if withSessions == 0 {
			return 0, false, "no notification sessions at the MP"
		}
		return rssPer, true, ""
	}
	return 0, false, "unknown MP metric"
}

func selectGroups(all []reports.GroupOutcome, name string) []reports.GroupOutcome {
	if name == "" {
		return all
	}
	for _, g := range all {
		if g.Group == name {
			return []reports.GroupOutcome{g}
		}
	}
	return nil
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
