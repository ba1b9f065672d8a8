package reports

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// SchemaVersion is the version of the result.json layout. Readers refuse other versions.
// Version 2: histogram tags are structured (HistTags), ports are numbers.
const SchemaVersion = 2

// Run statuses.
const (
	StatusPassed      = "passed"      // every gate passed
	StatusFailed      = "failed"      // at least one gate failed
	StatusInterrupted = "interrupted" // Ctrl-C: partial results
	StatusError       = "error"       // the run itself failed
)

// Result is everything a run measured. harness fills it; this package renders it.
// Times are seconds (float) so the JSON reads without unit guessing.
type Result struct {
	SchemaVersion int    `json:"schema_version"`
	Tool          string `json:"tool"`     // "portlab <version>"
	RunID         string `json:"run_id"`   // unique per run
	ScenarioName  string `json:"scenario"` // scenario name
	Status        string `json:"status"`   // passed, failed, interrupted, error
	Error         string `json:"error,omitempty"`
	// Scenario is the scenario as run, defaults applied (JSON of scenarios.Scenario).
	Scenario    json.RawMessage `json:"scenario_as_run,omitempty"`
	Started     time.Time       `json:"started"`
	Ended       time.Time       `json:"ended"`
	Elapsed     float64         `json:"elapsed_s"` // wall time of the load phase
	Environment Environment     `json:"environment"`

	Groups   []GroupOutcome `json:"groups"`
	Requests []RequestStats `json:"requests"` // one row per (operation, transport, port, outcome, group, mp)
	Push     []PushStats    `json:"push,omitempty"`
	Wake     []WakeStats    `json:"wake,omitempty"`
	Series   []SecondPoint  `json:"series"` // one point per second of the run
	Firewall []RuleCounter  `json:"firewall,omitempty"`
	Cost     []ProcessCost  `json:"cost"` // MPs, fleets, site server
	Load     LoadStats      `json:"load"`
	Events   []EventRecord  `json:"events,omitempty"` // the timeline as it happened
	Gates    []GateVerdict  `json:"gates"`
	Notes    []string       `json:"notes,omitempty"` // warnings: the generator fell behind, ...
	Extra    map[string]any `json:"extra,omitempty"`
	Hists    []EncodedHist  `json:"histograms,omitempty"` // for lossless re-analysis and hlog
	// Intervals are the histograms of each series (HlogTag) per interval of the run (one
	// second, longer for long runs; see IntervalLength): latency.hlog's intervals and the
	// latency-over-time chart. Their sum per tag is the tag's merged Hists.
	Intervals []HistInterval `json:"intervals,omitempty"`
	// LoadStart is when the load started, in seconds after Started (the network is built
	// first): the zero of Series, Intervals and Timeline.
	LoadStart float64        `json:"load_start_s,omitempty"`
	Timeline  []TimelineMark `json:"timeline_marks,omitempty"`

	// Overrides are the --set flags the scenario ran with, PATH=VALUE as given (the
	// scenario as run has them applied).
	Overrides []string `json:"overrides,omitempty"`
	// Prediction is what portlab predict said of each group before the run, beside what
	// was measured (see GroupPrediction).
	Prediction []GroupPrediction `json:"prediction,omitempty"`
	// Shard is set in a shard's result (portlab run --shard) and in a merge of shards
	// (portlab merge); see shard.go.
	Shard    *Shard        `json:"shard,omitempty"`
	Location *SiteLocation `json:"location,omitempty"` // the site's AD DS and DNS publication (location.go)
}

// Environment records where the run happened.
type Environment struct {
	Hostname  string `json:"hostname"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	CPUs      int    `json:"cpus"`
	MemBytes  uint64 `json:"mem_bytes"`
	Rootless  bool   `json:"rootless"`
	Clients   int    `json:"clients"` // total simulated clients
}

// Percentiles of one distribution, in seconds.
type Percentiles struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

// GroupOutcome is what happened to one client group.
type GroupOutcome struct {
	Group         string      `json:"group"`
	Count         int         `json:"count"`
	Managed       int         `json:"managed"`   // at the end
	Unmanaged     int         `json:"unmanaged"` // at the end
	Asleep        int         `json:"asleep"`    // still asleep at the end
	Fallbacks     int         `json:"fallbacks"` // clients that succeeded on the alternate port
	FallbackDelay Percentiles `json:"fallback_delay"`
	PortsUsed     map[int]int `json:"ports_used,omitempty"` // port -> clients whose last success was there
	// Installed is port -> clients installed with it at the end (CCMHTTPPORT for HTTP
	// clients, CCMHTTPSPORT for HTTPS ones): who a reconfiguration reached.
	Installed   map[int]int  `json:"installed_ports,omitempty"`
	Transitions []Transition `json:"transitions,omitempty"`
	// Notification counts the clients whose notification channel is up at the end, by
	// transport (tcp: online over the notification port; http, https: long polling).
	Notification map[string]int `json:"notification,omitempty"`
	// Location is how the group's clients found their MP and ports (location.go).
	Location *LocationOutcome `json:"location,omitempty"`
}

// Transition is a count of clients of a group changing state in one second.
type Transition struct {
	T     float64 `json:"t"` // seconds from start
	To    string  `json:"to"`
	Count int     `json:"count"`
}

// RequestStats aggregates requests with one key.
type RequestStats struct {
	Operation   string      `json:"operation"`
	Transport   string      `json:"transport"`
	Port        int         `json:"port"`
	Outcome     string      `json:"outcome"`
	Group       string      `json:"group"`
	MP          string      `json:"mp,omitempty"`
	Count       uint64      `json:"count"`
	Latency     Percentiles `json:"latency"`      // from the intended start
	ServiceTime Percentiles `json:"service_time"` // from the actual start
}

// PushStats is notification delivery for one group and transport.
type PushStats struct {
	Group     string      `json:"group"`
	Transport string      `json:"transport"`
	Targeted  int         `json:"targeted"`
	Delivered int         `json:"delivered"`
	Latency   Percentiles `json:"latency"`
}

// WakeStats is wake-up for one group.
type WakeStats struct {
	Group         string      `json:"group"`
	Targeted      int         `json:"targeted"`
	Woken         int         `json:"woken"`
	PacketsSent   int         `json:"packets_sent"`
	TimeToManaged Percentiles `json:"time_to_managed"`
}

// SecondPoint is one second of the run.
type SecondPoint struct {
	T         float64        `json:"t"`
	Attempts  uint64         `json:"attempts"`
	OK        uint64         `json:"ok"`
	Failures  map[string]int `json:"failures,omitempty"`  // by outcome
	Managed   map[string]int `json:"managed,omitempty"`   // by group
	Unmanaged map[string]int `json:"unmanaged,omitempty"` // by group
	// The schedule in this second: cycles planned, started late by the load generator
	// (its own lag) and deferred because the client was still busy.
	Planned  uint64 `json:"planned,omitempty"`
	Late     uint64 `json:"late,omitempty"`
	Deferred uint64 `json:"deferred,omitempty"`
}

// RuleCounter is one firewall rule's counters at the end of the run.
type RuleCounter struct {
	Router  string `json:"router"`
	Rule    string `json:"rule"`
	Action  string `json:"action"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// ProcessCost is an agent process's CPU and memory, read from /proc/<pid>.
type ProcessCost struct {
	Role      string  `json:"role"` // mp, fleet, site
	Name      string  `json:"name"`
	PID       int     `json:"pid"`
	CPUUser   float64 `json:"cpu_user_s"`
	CPUSystem float64 `json:"cpu_system_s"`
	RSSPeak   uint64  `json:"rss_peak_bytes"`
	RSSEnd    uint64  `json:"rss_end_bytes"`
	// Requests: an MP's HTTP requests as IIS would log them (windowsauth's 401 and the
	// anonymous retry are two), a fleet's operations attempted (registration, policy,
	// ...: one may be several requests), the site server's LDAP searches and DNS queries.
	Requests             uint64      `json:"requests"`
	Clients              int         `json:"clients"`
	Sessions             int         `json:"sessions"` // notification sessions, peak
	CPUPerRequestUS      float64     `json:"cpu_us_per_request"`
	CPUPerClientMinuteUS float64     `json:"cpu_us_per_client_minute"`
	RSSPerSession        float64     `json:"rss_bytes_per_session"`
	Series               []CostPoint `json:"series,omitempty"`
}

// CostPoint is one sample of a process's cost.
type CostPoint struct {
	T    float64 `json:"t"`
	CPU  float64 `json:"cpu_s"` // cumulative user+system
	RSS  uint64  `json:"rss_bytes"`
	Reqs uint64  `json:"requests,omitempty"`
}

// LoadStats tells whether the load generator kept its schedule.
type LoadStats struct {
	Planned      uint64  `json:"planned"`
	Late         uint64  `json:"late"`     // the load generator started them late (its own lag, beyond the tolerance)
	Deferred     uint64  `json:"deferred"` // started late because the client was still busy with an earlier cycle
	Skipped      uint64  `json:"skipped"`  // never started: the client was still busy
	LateFraction float64 `json:"late_fraction"`
	// DeferredFraction is Deferred / Planned: the MP's or the network's slowness, which
	// is what a run measures, apart from the generator's own lag.
	DeferredFraction float64 `json:"deferred_fraction"`
}

// EventRecord is one timeline event as applied.
type EventRecord struct {
	At      float64 `json:"at"`      // planned, seconds
	Applied float64 `json:"applied"` // when it took effect
	Kind    string  `json:"kind"`
	Detail  string  `json:"detail"`
	Error   string  `json:"error,omitempty"`
}

// TimelineMark labels a moment on charts.
type TimelineMark struct {
	T     float64 `json:"t"`
	Label string  `json:"label"`
}

// GateVerdict is one gate's outcome.
type GateVerdict struct {
	Name      string  `json:"name"` // metric with its filters, e.g. unmanaged_fraction{group=stale}
	Metric    string  `json:"metric"`
	Op        string  `json:"op"`
	Value     string  `json:"value"` // threshold as written
	Threshold float64 `json:"threshold"`
	Measured  float64 `json:"measured"`
	Unit      string  `json:"unit"`
	Passed    bool    `json:"passed"`
	Message   string  `json:"message"` // "measured 0.25 > 0 (want <= 0)"
	Pending   bool    `json:"pending,omitempty"`
	// Reference is the denominator of a relative gate (relative_to): Measured is then
	// the ratio of this run's two measurements.
	Reference float64 `json:"reference,omitempty"`
}

// HistInterval is one series' histogram over one interval of the run.
type HistInterval struct {
	T      float64 `json:"t"`        // start, seconds since the load started (as Series)
	Length float64 `json:"length_s"` // seconds
	Max    float64 `json:"max_us"`   // the largest value, microseconds (hlog's Interval_Max)
	EncodedHist
}

// IntervalLength is the interval of Result.Intervals for a run of duration d: one
// second, or for runs longer than 15 minutes as many seconds as keep them at about 900
// intervals per series, so a result stays small whatever the run's length.
func IntervalLength(d time.Duration) int {
	return max(1, int((d+899*time.Second)/(900*time.Second)))
}

// EncodedHist is one histogram, HdrHistogram V2 compressed, base64.
type EncodedHist struct {
	Kind string   `json:"kind"` // latency, service_time, fallback_delay, push_latency, time_to_managed
	Tags HistTags `json:"tags"`
	Data string   `json:"data"` // values in microseconds
}

// HistTags say which requests a histogram holds; empty fields do not apply. They are
// the same fields (and spellings) as RequestStats.
type HistTags struct {
	Operation string `json:"operation,omitempty"`
	Transport string `json:"transport,omitempty"`
	Port      int    `json:"port,omitempty"`
	Outcome   string `json:"outcome,omitempty"`
	Group     string `json:"group,omitempty"`
	MP        string `json:"mp,omitempty"`
}

func (t HistTags) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("operation", t.Operation)
	add("transport", t.Transport)
	if t.Port != 0 {
		add("port", strconv.Itoa(t.Port))
	}
	add("outcome", t.Outcome)
	add("group", t.Group)
	add("mp", t.MP)
	return "{" + strings.Join(parts, ",") + "}"
}

// Failed lists the gates that did not pass (a pending gate, judged elsewhere, has not
// failed).
func (r *Result) Failed() []GateVerdict {
	var out []GateVerdict
	for _, g := range r.Gates {
		if !g.Passed && !g.Pending {
			out = append(out, g)
		}
	}
	return out
}
