// Package metrics holds portlab's recorders: HdrHistograms of request latency and
// service time keyed by (metric, operation, transport, port, outcome, group, MP),
// counters, and the per-second series derived from them.
//
// A Recorder is not safe for concurrent use, on purpose (fortio's habit): each worker of
// the load engine owns one and nobody locks on the hot path. Workers hand their recorder
// over once a second; the owner merges them (Recorder.Merge) and encodes the interval as
// a Snapshot whose histograms are HdrHistogram V2 compressed base64, so snapshots from
// several fleet agents, even on several hosts, merge losslessly (Set.AddSnapshot).
//
// It is not a time-series store and keeps no history: the orchestrator does that.
package metrics

import (
	"fmt"
	"strconv"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram geometry shared by every recorder, so any two histograms merge: values are
// microseconds from 1 µs to 1 h at 2 significant digits (1% resolution, ~30 KiB each).
const (
	LowestMicros  = 1
	HighestMicros = int64(time.Hour / time.Microsecond)
	SigFigs       = 2
)

// NewHistogram returns an empty histogram with the shared geometry.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(LowestMicros, HighestMicros, SigFigs)
}

// Micros converts a duration to the histograms' unit, clamped to their range.
func Micros(d time.Duration) int64 {
	us := d.Microseconds()
	if us < LowestMicros {
		return LowestMicros
	}
	if us > HighestMicros {
		return HighestMicros
	}
	return us
}

// Metric names a kind of histogram.
const (
	// Latency is measured from a request's intended start (its planned time in the
	// open-model schedule), so queueing in the load generator or a stalled server shows.
	Latency = "latency"
	// Service is measured from the actual start of the attempt.
	Service = "service_time"
	// FallbackDelay is from the first failed attempt on the default port to success on
	// the alternate.
	FallbackDelay = "fallback_delay"
	// PushLatency is from the MP's push (Push.SentNS) to the client's acknowledgement.
	PushLatency = "push_latency"
	// TimeToManaged is from the wake-up packet's send time to the woken client's first
	// successful cycle.
	TimeToManaged = "time_to_managed"
	// FollowTime is from a site change of the request port to the client's first
	// successful request on the new port.
	FollowTime = "follow_time"
)

// Operations.
const (
	OpLocation     = "location"
	OpRegistration = "registration"
	OpPolicy       = "policy"      // policy assignments (MP_PolicyManager)
	OpPolicyBody   = "policy_body" // GET .sms_pol of the assigned policies
	OpHeartbeat    = "heartbeat"
	OpLongPoll     = "longpoll"
	OpPushAck      = "push_ack" // notification acknowledgements (PushLatency)
	OpNotifyLogin  = "notification_login"
	OpWake         = "wake"   // TimeToManaged
	OpFollow       = "follow" // FollowTime
)

// Outcomes. HTTP errors are "http_<status>" (HTTPOutcome).
const (
	OK       = "ok"
	Refused  = "refused"   // TCP reset to the SYN, or ICMP unreachable: seen at once
	Timeout  = "timeout"   // connect or response timeout (a dropped SYN looks like this)
	Reset    = "reset"     // connection reset or closed mid-exchange
	TLSError = "tls_error" // handshake or certificate failure
	Error    = "error"     // anything else (should stay 0; look at the agent's log)
)

// HTTPOutcome is the outcome of a response with a non-success status.
func HTTPOutcome(status int) string { return "http_" + strconv.Itoa(status) }

// Key identifies one histogram. Empty fields mean "not applicable".
type Key struct {
	Metric    string `json:"metric"`
	Op        string `json:"operation"`
	Transport string `json:"transport,omitempty"` // http, https, tcp
	Port      int    `json:"port,omitempty"`
	Outcome   string `json:"outcome,omitempty"`
	Group     string `json:"group,omitempty"`
	MP        string `json:"mp,omitempty"`
}

func (k Key) String() string {
	return fmt.Sprintf("%s/%s/%s/%d/%s/%s/%s", k.Metric, k.Op, k.Transport, k.Port, k.Outcome, k.Group, k.MP)
}

// CounterKey identifies one counter.
type CounterKey struct {
	Name  string `json:"name"`
	Group string `json:"group,omitempty"`
}

// Counter names the load engine uses.
const (
	CLateStarts      = "late_starts"      // cycles the load generator started late although the client was free (its own lag)
	CDeferred        = "deferred"         // cycles started late because the client was still busy with an earlier one
	CSkippedBusy     = "skipped_busy"     // planned cycles skipped: the client was still busy
	CPlanned         = "planned"          // cycles the schedule planned (run, deferred or skipped)
	CCycles          = "cycles"           // cycles started (planned ones and those a push asked for)
	CCyclesFailed    = "cycles_failed"    // cycles that ended in failure
	CFallbacks       = "fallbacks"        // operations that succeeded on the alternate port
	CPushes          = "pushes_received"  // distinct pushes received
	CPushAcks        = "pushes_acked"     // acknowledgements sent
	CTCPDown         = "tcp_session_down" // notification sessions that failed or could not start
	CLongPollStarted = "longpoll_started" // switches to long polling
	CWoken           = "woken"            // sleeping clients woken
	CReconfigured    = "reconfigured"     // clients that took a reconfiguration
	CManagedAgain    = "managed_again"    // unmanaged -> managed transitions
	CBecameUnmanaged = "became_unmanaged" // managed/pending -> unmanaged transitions
	CLDAPQueries     = "ldap_queries"     // service location lookups in AD DS (global catalog)
	CLDAPFailures    = "ldap_failures"    // of which failed (unreachable, not published, timeout)
	CDNSQueries      = "dns_queries"      // service location lookups in DNS (SRV, then A)
	CDNSFailures     = "dns_failures"     // of which failed (unreachable, no record)
	CFailovers       = "mp_failovers"     // N failed attempts within the window: another MP
	CRelocated       = "relocations"      // service location runs (start, refresh, failover, port failure)
)
