package scenarios

import (
	"slices"
	"sort"
)

// Unit is the canonical unit of a gate metric; gate values are converted to it.
type Unit string

// Units of gate metrics.
const (
	UnitCount    Unit = "count"    // plain number
	UnitFraction Unit = "fraction" // 0..1; "5%" accepted
	UnitSeconds  Unit = "seconds"  // written as a duration: 250ms
	UnitBytes    Unit = "bytes"    // written as a size: 64MiB
	UnitMicros   Unit = "microseconds"
	UnitRatio    Unit = "ratio" // measured / reference of a relative gate; "110%" accepted
)

// Filter names a gate field that narrows a metric.
type Filter string

// Gate filters.
const (
	FGroup     Filter = "group"
	FOperation Filter = "operation"
	FPort      Filter = "port"
	FTransport Filter = "transport"
	FOutcome   Filter = "outcome"
	FMP        Filter = "mp"
	FRouter    Filter = "router"
	FRule      Filter = "rule"
	FSource    Filter = "source"
)

// MetricSpec describes one gate metric.
type MetricSpec struct {
	Name    string
	Unit    Unit
	Filters []Filter
	Help    string
	// Quantile is 0-100 for percentile metrics (100 for max), -1 otherwise.
	Quantile float64
	// Base is the metric without its percentile suffix (latency for latency_p99).
	Base string
}

// Allows reports whether filter f may narrow this metric.
func (m MetricSpec) Allows(f Filter) bool { return slices.Contains(m.Filters, f) }

var percentiles = []struct {
	suffix string
	q      float64
}{{"p50", 50}, {"p90", 90}, {"p95", 95}, {"p99", 99}, {"p999", 99.9}, {"max", 100}}

// Metrics returns every gate metric, sorted by name. It is built anew on each call so
// there is no package-level mutable registry.
func Metrics() []MetricSpec {
	reqFilters := []Filter{FGroup, FOperation, FPort, FTransport, FMP, FOutcome}
	var ms []MetricSpec
	plain := func(name string, u Unit, help string, f ...Filter) {
		ms = append(ms, MetricSpec{Name: name, Unit: u, Filters: f, Help: help, Quantile: -1, Base: name})
	}
	dist := func(base string, help string, f ...Filter) {
		for _, p := range percentiles {
			ms = append(ms, MetricSpec{Name: base + "_" + p.suffix, Unit: UnitSeconds, Filters: f,
				Help: help + " (" + p.suffix + ")", Quantile: p.q, Base: base})
		}
	}
	plain("managed_count", UnitCount, "clients managed at the end of the run", FGroup)
	plain("managed_fraction", UnitFraction, "fraction of clients managed at the end", FGroup)
	plain("unmanaged_count", UnitCount, "clients unmanaged at the end (N consecutive failed cycles)", FGroup)
	plain("unmanaged_fraction", UnitFraction, "fraction of clients unmanaged at the end", FGroup)
	plain("fallback_count", UnitCount, "clients that reached an MP on the alternate port after the default failed", FGroup)
	dist("fallback_delay", "time from the first failed attempt on the default port to success on the alternate", FGroup)
	dist("latency", "request latency from the intended start (includes queueing; no coordinated omission)", reqFilters...)
	dist("service_time", "request time from the actual start", reqFilters...)
	plain("request_count", UnitCount, "requests attempted", reqFilters...)
	plain("error_rate", UnitFraction, "fraction of requests that did not end ok (or ended with `outcome`)", reqFilters...)
	dist("push_latency", "notification push to acknowledgement", FGroup, FTransport)
	plain("push_delivered_fraction", UnitFraction, "fraction of pushed notifications acknowledged", FGroup, FTransport)
	plain("mp_cpu_seconds", UnitCount, "MP process CPU seconds (user+system) during the run", FMP)
	plain("mp_cpu_us_per_request", UnitMicros, "MP CPU microseconds per request served", FMP)
	plain("mp_cpu_us_per_client_minute", UnitMicros, "MP CPU microseconds per connected client per minute", FMP)
	plain("mp_rss", UnitBytes, "MP resident memory, peak", FMP)
	plain("mp_rss_per_session", UnitBytes, "MP resident memory per notification session", FMP)
	plain("wake_fraction", UnitFraction, "fraction of sleeping clients woken", FGroup)
	dist("time_to_managed", "wake-up packet sent to client managed again", FGroup)
	plain("late_fraction", UnitFraction, "fraction of planned cycles the load generator started late (its own lag, not the MP's)", FGroup)
	plain("deferred_fraction", UnitFraction, "fraction of planned cycles started late because the client was still busy with an earlier one (the MP's or the network's slowness)", FGroup)
	plain("skipped_count", UnitCount, "planned cycles skipped because the client was still busy with earlier ones", FGroup)
	plain("online_fraction", UnitFraction, "fraction of clients online at the end: their notification session on the notification port (TCP) is up", FGroup)
	plain("learned_fraction", UnitFraction, "fraction of clients whose request port at the end is the site's, learned by `source` (any but never when absent; never: they do not use the site's port)", FGroup, FSource)
	dist("follow_time", "site change to the client's first successful request on the new port", FGroup)
	plain("ldap_query_count", UnitCount, "service location lookups in AD DS (global catalog) by clients", FGroup)
	plain("ldap_failure_count", UnitCount, "AD DS lookups that failed (unreachable, not published)", FGroup)
	plain("dns_query_count", UnitCount, "service location lookups in DNS (SRV) by clients", FGroup)
	plain("dns_failure_count", UnitCount, "DNS lookups that failed (unreachable, no record)", FGroup)
	plain("rule_packets", UnitCount, "packets counted by a firewall rule", FRouter, FRule)
	plain("rule_bytes", UnitBytes, "bytes counted by a firewall rule", FRouter, FRule)
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	return ms
}

// LookupMetric finds a gate metric by name.
func LookupMetric(name string) (MetricSpec, bool) {
	for _, m := range Metrics() {
		if m.Name == name {
			return m, true
		}
	}
	return MetricSpec{}, false
}

// MetricNames lists every gate metric name.
func MetricNames() []string {
	ms := Metrics()
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	return names
}

// Operations lists the request operations gates can filter on.
func Operations() []string { return Operation("").Values() }
