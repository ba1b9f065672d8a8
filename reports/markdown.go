package reports

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Markdown renders a summary a person reads in a minute: verdict, gates, groups, requests,
// notification, wake-up, firewall, cost, load, timeline. It suits a pull-request comment.
func Markdown(r *Result) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# portlab: %s — %s\n\n", r.ScenarioName, strings.ToUpper(r.Status))
	fmt.Fprintf(&b, "Run `%s`, %s, %.1f s, %d clients, %s.\n", r.RunID, r.Started.UTC().Format(time.RFC3339), r.Elapsed, r.Environment.Clients, r.Tool)
	if len(r.Overrides) > 0 {
		b.WriteString("\nOverrides:")
		for _, o := range r.Overrides {
			fmt.Fprintf(&b, " `--set %s`", o)
		}
		b.WriteString("\n")
	}
	if r.Shard != nil {
		fmt.Fprintf(&b, "\n%s\n", r.Shard.Describe())
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "\n**Error:** %s\n", r.Error)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n> %s\n", n)
	}
	if len(r.Gates) > 0 {
		b.WriteString("\n## Gates\n\n| | gate | measured | want |\n|---|---|---|---|\n")
		for _, g := range r.Gates {
			mark := "pass"
			if g.Pending {
				mark = "pending"
			} else if !g.Passed {
				mark = "**FAIL**"
			}
			fmt.Fprintf(&b, "| %s | `%s` | %s | %s %s |\n", mark, g.Name, FormatValue(g.Measured, g.Unit), g.Op, g.Value)
		}
	}
	predictionMarkdown(&b, r)
	if len(r.Groups) > 0 {
		b.WriteString("\n## Client groups\n\n| group | clients | managed | unmanaged | asleep | fell back | fallback p50 | fallback p99 | ports used |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, g := range r.Groups {
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %s | %s | %s |\n", g.Group, g.Count, g.Managed, g.Unmanaged, g.Asleep, g.Fallbacks,
				dist(g.FallbackDelay.P50, g.FallbackDelay.Count), dist(g.FallbackDelay.P99, g.FallbackDelay.Count), portsUsed(g.PortsUsed))
		}
	}
	locationMarkdown(&b, r)
	if len(r.Requests) > 0 {
		b.WriteString("\n## Requests\n\nLatency is measured from each request's intended start (no coordinated omission); service time from its actual start.\n\n")
		b.WriteString("| operation | transport | port | outcome | group | mp | count | latency p50 | p99 | max | service p99 |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
		rows := append([]RequestStats(nil), r.Requests...)
		sort.SliceStable(rows, func(i, j int) bool {
			a, c := rows[i], rows[j]
			return fmt.Sprint(a.Group, a.Operation, a.Transport, a.Port, a.Outcome, a.MP) < fmt.Sprint(c.Group, c.Operation, c.Transport, c.Port, c.Outcome, c.MP)
		})
		for _, q := range rows {
			fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %d | %s | %s | %s | %s |\n", q.Operation, q.Transport, q.Port, q.Outcome, q.Group, q.MP, q.Count,
				secs(q.Latency.P50), secs(q.Latency.P99), secs(q.Latency.Max), secs(q.ServiceTime.P99))
		}
	}
	if len(r.Push) > 0 {
		b.WriteString("\n## Client notification\n\n| group | transport | targeted | delivered | push→ack p50 | p99 | max |\n|---|---|---|---|---|---|---|\n")
		for _, p := range r.Push {
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %s | %s | %s |\n", p.Group, p.Transport, p.Targeted, p.Delivered,
				dist(p.Latency.P50, p.Latency.Count), dist(p.Latency.P99, p.Latency.Count), dist(p.Latency.Max, p.Latency.Count))
		}
	}
	if len(r.Wake) > 0 {
		b.WriteString("\n## Wake-up\n\n| group | targeted | woken | packets sent | time to managed p50 | p99 |\n|---|---|---|---|---|---|\n")
		for _, w := range r.Wake {
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %s | %s |\n", w.Group, w.Targeted, w.Woken, w.PacketsSent,
				dist(w.TimeToManaged.P50, w.TimeToManaged.Count), dist(w.TimeToManaged.P99, w.TimeToManaged.Count))
		}
	}
	if len(r.Firewall) > 0 {
		b.WriteString("\n## Firewall counters\n\n| router | rule | action | packets | bytes |\n|---|---|---|---|---|\n")
		for _, f := range r.Firewall {
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %d |\n", f.Router, f.Rule, f.Action, f.Packets, f.Bytes)
		}
	}
	if len(r.Cost) > 0 {
		b.WriteString("\n## Process cost\n\nCPU is user+system seconds of each agent process, read from /proc; the fleet's own cost is shown so the load generator is visible too.\n\n")
		b.WriteString("| role | name | CPU s | RSS peak | requests | CPU µs/request | CPU µs/client/min | sessions | RSS/session |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, c := range r.Cost {
			fmt.Fprintf(&b, "| %s | %s | %.2f | %s | %d | %.1f | %.1f | %d | %s |\n", c.Role, c.Name, c.CPUUser+c.CPUSystem, FormatValue(float64(c.RSSPeak), "bytes"),
				c.Requests, c.CPUPerRequestUS, c.CPUPerClientMinuteUS, c.Sessions, FormatValue(c.RSSPerSession, "bytes"))
		}
	}
	fmt.Fprintf(&b, "\n## Load generator\n\nPlanned %d cycles; %d started late by the load generator (late fraction %.4f: portlab's own lag), %d deferred because the client was still busy (deferred fraction %.4f: the MP's or network's slowness), %d skipped.\n",
		r.Load.Planned, r.Load.Late, r.Load.LateFraction, r.Load.Deferred, r.Load.DeferredFraction, r.Load.Skipped)
	if len(r.Events) > 0 {
		b.WriteString("\n## Timeline\n\n| at | applied | event | detail |\n|---|---|---|---|\n")
		for _, e := range r.Events {
			d := e.Detail
			if e.Error != "" {
				d += " — **error:** " + e.Error
			}
			fmt.Fprintf(&b, "| %.1fs | %.2fs | %s | %s |\n", e.At, e.Applied, e.Kind, d)
		}
	}
	return b.Bytes(), nil
}

func portsUsed(m map[int]int) string {
	if len(m) == 0 {
		return ""
	}
	var ports []int
	for p := range m {
		ports = append(ports, p)
	}
	sort.Ints(ports)
	var parts []string
	for _, p := range ports {
		parts = append(parts, fmt.Sprintf("%d: %d", p, m[p]))
	}
	return strings.Join(parts, ", ")
}

func dist(v float64, n uint64) string {
	if n == 0 {
		return "–"
	}
	return secs(v)
}

func secs(v float64) string {
	return FormatValue(v, "seconds")
}

// FormatValue prints a metric value in its unit for people: 12.3ms, 45%, 3.1MiB.
func FormatValue(v float64, unit string) string {
	switch unit {
	case "seconds":
		switch {
		case v == 0:
			return "0"
		case v < 1e-3:
			return fmt.Sprintf("%.0fµs", v*1e6)
		case v < 1:
			return fmt.Sprintf("%.1fms", v*1e3)
		default:
			return fmt.Sprintf("%.2fs", v)
		}
	case "fraction":
		return fmt.Sprintf("%.4g", v)
	case "bytes":
		switch {
		case v >= 1<<30:
			return fmt.Sprintf("%.2fGiB", v/(1<<30))
		case v >= 1<<20:
			return fmt.Sprintf("%.1fMiB", v/(1<<20))
		case v >= 1<<10:
			return fmt.Sprintf("%.1fKiB", v/(1<<10))
		default:
			return fmt.Sprintf("%.0fB", v)
		}
	case "microseconds":
		return fmt.Sprintf("%.1fµs", v)
	}
	return fmt.Sprintf("%.6g", v)
}
