package reports

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/plot/plotter"
)

// LocationOutcome is how one group's clients found their MP and its ports (service
// location): where each learned the request port it uses at the end, how long they took
// to follow a site change, and the lookups they made.
type LocationOutcome struct {
	Membership string `json:"membership"` // domain, other-forest, workgroup, internet
	// Learned counts the clients by where they learned their request port at the end:
	// install, push, ad, dns; never: their port is not the site's.
	Learned map[string]int `json:"learned"`
	// FollowTime is from the site change to each client's first successful request on
	// the new port; Followed is how many got there.
	FollowTime   Percentiles `json:"follow_time"`
	Followed     int         `json:"followed"`
	LDAPQueries  int64       `json:"ldap_queries"`
	LDAPFailures int64       `json:"ldap_failures"`
	DNSQueries   int64       `json:"dns_queries"`
	DNSFailures  int64       `json:"dns_failures"`
	Relocations  int64       `json:"relocations"` // service location runs
	Failovers    int64       `json:"mp_failovers"`
	Refresh      float64     `json:"location_refresh_s"`
}

// SiteLocation is the site's service location publication at the end of the run and
// what its directory and DNS server answered.
type SiteLocation struct {
	Domain     string   `json:"domain"`
	PublishAD  bool     `json:"publish_ad"`
	PublishDNS bool     `json:"publish_dns"`
	Delay      float64  `json:"publish_delay_s"`
	HTTP       int      `json:"http"` // request ports published at the end
	HTTPS      int      `json:"https"`
	Records    []string `json:"dns_records,omitempty"` // hand-made
	// LDAP listeners (389 and the global catalog 3268).
	LDAP []LDAPListener `json:"ldap,omitempty"`
	// DNS counters, UDP and TCP together.
	DNS DNSCounters `json:"dns"`
}

// LDAPListener is one directory listener's counters.
type LDAPListener struct {
	Addr         string `json:"addr"`
	Kind         string `json:"kind"` // ldap or gc
	Conns        uint64 `json:"connections"`
	Searches     uint64 `json:"searches"`
	Entries      uint64 `json:"entries"`
	NoSuchObject uint64 `json:"no_such_object"`
	Errors       uint64 `json:"errors"`
}

// DNSCounters are the DNS server's counters.
type DNSCounters struct {
	Queries  uint64 `json:"queries"`
	SRV      uint64 `json:"srv"`
	A        uint64 `json:"a"`
	Answers  uint64 `json:"answers"`
	NXDomain uint64 `json:"nxdomain"`
	Refused  uint64 `json:"refused"`
	TCP      uint64 `json:"tcp"`
}

// Sources of a client's request port, in the order reports list them.
var learnedOrder = []string{"install", "push", "ad", "dns", "never"}

// LearnedText is a group's learned counts in one line: "ad 300, never 100".
func LearnedText(l map[string]int) string {
	var parts []string
	for _, s := range learnedOrder {
		if n := l[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, n))
		}
	}
	for s, n := range l {
		if !contains(learnedOrder, s) && n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, n))
		}
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, ", ")
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// locationMarkdown is the summary's service location section.
func locationMarkdown(b *bytes.Buffer, r *Result) {
	any := false
	for _, g := range r.Groups {
		any = any || g.Location != nil
	}
	if !any {
		return
	}
	b.WriteString("\n## Service location\n\n")
	if l := r.Location; l != nil {
		fmt.Fprintf(b, "Site domain %s: AD DS %s, DNS SRV %s, site changes reach them after %s; published at the end: HTTP %d, HTTPS %d.",
			l.Domain, onOff(l.PublishAD), onOff(l.PublishDNS), secs(l.Delay), l.HTTP, l.HTTPS)
		if len(l.Records) > 0 {
			fmt.Fprintf(b, " Hand-made records: `%s`.", strings.Join(l.Records, "`, `"))
		}
		b.WriteString("\n\n")
	}
	b.WriteString("| group | membership | learned its port from | followed | follow p50 | p99 | LDAP queries (failed) | DNS queries (failed) | failovers |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, g := range r.Groups {
		l := g.Location
		if l == nil {
			continue
		}
		fmt.Fprintf(b, "| %s | %s | %s | %d | %s | %s | %d (%d) | %d (%d) | %d |\n", g.Group, l.Membership, LearnedText(l.Learned), l.Followed,
			dist(l.FollowTime.P50, l.FollowTime.Count), dist(l.FollowTime.P99, l.FollowTime.Count),
			l.LDAPQueries, l.LDAPFailures, l.DNSQueries, l.DNSFailures, l.Failovers)
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// TitleFollow is the follow curve's title.
const TitleFollow = "Clients on the site's new port: first success after the change, cumulative"

// locationSection is the HTML report's service location section: the follow curve of
// each group against the site change, publication and refresh marks, and a table.
func locationSection(r *Result, _ []TaggedHist) (section, error) {
	s := section{ID: "location", Title: "Service location"}
	var groups []GroupOutcome
	for _, g := range r.Groups {
		if g.Location != nil {
			groups = append(groups, g)
		}
	}
	if len(groups) == 0 {
		s.Empty = "No client group located its MP through AD DS or DNS in this run."
		return s, nil
	}
	s.Intro = locationIntro(r, groups)
	var ms []TimelineMark
	var change float64 = -1
	for _, e := range r.Events {
		if e.Error != "" {
			continue
		}
		switch e.Kind {
		case "site_ports", "publish", "dns_record":
			ms = append(ms, TimelineMark{T: e.At, Label: e.Kind + " " + e.Detail})
			if e.Kind == "site_ports" && change < 0 {
				change = e.At
			}
		}
	}
	follows := 0
	for _, g := range groups {
		follows += g.Location.Followed
	}
	if change < 0 || follows == 0 {
		s.Empty = "No client followed a site change of the request port in this run: no follow curve."
		return s, nil
	}
	// Refresh marks: by a refresh interval after the (last) publication every client
	// has refreshed once and read whatever is published.
	refresh := 0.0
	for _, g := range groups {
		refresh = math.Max(refresh, g.Location.Refresh)
	}
	pub := -1.0
	for _, e := range r.Events {
		if e.Kind == "publish" && e.Error == "" && e.At >= change {
			pub = e.At
			break
		}
	}
	if refresh > 0 {
		from := change
		if pub >= 0 {
			from = pub
		}
		if at := from + refresh; at <= runLength(r) {
			ms = append(ms, TimelineMark{T: at, Label: fmt.Sprintf("every client refreshed (location_refresh %s)", secs(refresh))})
		} else {
			s.Intro += fmt.Sprintf(" Every client runs a location refresh (every %s) by %s, after the end of the run: clients that followed did so when their port failed (a re-read of AD DS, an MP failover), not at a refresh.", secs(refresh), secs(at))
		}
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].T < ms[j].T })
	p := newPlot(TitleFollow, "seconds since start", "fraction of the group")
	var specs []lineSpec
	for i, g := range groups {
		pts := plotter.XYs{{X: 0, Y: 0}}
		n := 0
		for _, tr := range g.Transitions {
			if tr.To != "followed" {
				continue
			}
			pts = append(pts, plotter.XY{X: tr.T, Y: float64(n) / float64(max(1, g.Count))})
			n += tr.Count
			pts = append(pts, plotter.XY{X: tr.T, Y: float64(n) / float64(max(1, g.Count))})
		}
		pts = append(pts, plotter.XY{X: runLength(r), Y: float64(n) / float64(max(1, g.Count))})
		specs = append(specs, lineSpec{fmt.Sprintf("%s (%s)", g.Group, g.Location.Membership), pts, i, false})
	}
	p.X.Min, p.X.Max = 0, runLength(r)
	p.Y.Min, p.Y.Max = 0, 1.05
	svg, err := wideLines(p, specs, marks(ms))
	if err != nil {
		return s, err
	}
	s.Charts = append(s.Charts, chart{Title: TitleFollow, SVG: svg, Wide: true,
		Caption: "Each line is a client group: the fraction of its clients that have made a successful request on the site's new request port, over time. Dotted verticals: the site change, its publication in AD DS and DNS (after the publication delay), hand-made DNS records, and the moment by which every client has run one location refresh after the publication. A flat line at 0 is a group that never follows."})
	return s, nil
}

func locationIntro(r *Result, groups []GroupOutcome) string {
	var b strings.Builder
	if l := r.Location; l != nil {
		fmt.Fprintf(&b, "Site domain %s: AD DS publication %s, DNS SRV records %s; a site change reaches them after %s. Published at the end: HTTP %d, HTTPS %d. ",
			l.Domain, onOff(l.PublishAD), onOff(l.PublishDNS), secs(l.Delay), l.HTTP, l.HTTPS)
		var q, f uint64
		for _, x := range l.LDAP {
			q += x.Searches
			f += x.Errors
		}
		fmt.Fprintf(&b, "The directory answered %d searches (%d errors), DNS %d queries (%d SRV, %d NXDOMAIN). ", q, f, l.DNS.Queries, l.DNS.SRV, l.DNS.NXDomain)
	}
	b.WriteString("Where each group's clients learned the request port they use at the end: ")
	var parts []string
	for _, g := range groups {
		parts = append(parts, fmt.Sprintf("%s (%s): %s", g.Group, g.Location.Membership, LearnedText(g.Location.Learned)))
	}
	b.WriteString(strings.Join(parts, "; "))
	b.WriteString(".")
	return b.String()
}
