package harness

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/portlab/portlab/agent/site"
	"github.com/portlab/portlab/metrics"
	"github.com/portlab/portlab/plan"
	"github.com/portlab/portlab/reports"
	"github.com/portlab/portlab/scenarios"
)

// Service location: the site agent serves the directory and DNS; the harness tells it
// when the site republishes (plan's publish steps, after the publication delay) and
// adds hand-made records, and reports where each group learned its ports.

var errNoSiteServer = errors.New("the scenario has no site server")

// publish has the site server republish (a site change reaching AD DS and DNS, or
// publication turned on or off).
func (r *runner) publish(ctx context.Context, a *plan.Publish) error {
	if r.site == nil || r.p.Site.Location == nil {
		return errNoSiteServer
	}
	_, err := r.site.call(ctx, site.CmdPublish, a.Args, agentCallTimeout)
	return err
}

// dnsRecord adds a hand-made SRV record at the site's DNS server and returns it.
func (r *runner) dnsRecord(ctx context.Context, a *plan.DNSRecord) (string, error) {
	if r.site == nil || r.p.Site.Location == nil {
		return "", errNoSiteServer
	}
	msg, err := r.site.call(ctx, site.CmdDNSRecord, a.Args, agentCallTimeout)
	if err != nil {
		return "", err
	}
	var rec string
	_ = json.Unmarshal(msg.Data, &rec)
	return rec, nil
}

// onSiteStats keeps the site server's latest counters.
func (r *runner) onSiteStats(data json.RawMessage) {
	var st site.Stats
	if json.Unmarshal(data, &st) != nil {
		return
	}
	r.mu.Lock()
	r.siteSt = &st
	r.mu.Unlock()
}

// collectSite asks the site server for its counters at the end of the load.
func (r *runner) collectSite() {
	if r.site == nil || r.site.exited() {
		return
	}
	if msg, err := r.site.call(context.Background(), site.CmdStats, nil, agentCallTimeout); err == nil {
		r.onSiteStats(msg.Data)
	}
}

// locationSection: each group's service location outcome, from the fleets' final
// client states and the run's counters, and the site's publication (r.mu held).
func (r *runner) locationSection(res *reports.Result, rec *metrics.Recorder) {
	s := r.p.Scenario
	if r.p.Site.Location == nil {
		return
	}
	for i := range res.Groups {
		out := &res.Groups[i]
		var g *scenarios.ClientGroup
		for j := range s.Clients {
			if s.Clients[j].Group == out.Group {
				g = &s.Clients[j]
			}
		}
		if g == nil {
			continue
		}
		l := &reports.LocationOutcome{Membership: string(g.Membership), Learned: map[string]int{},
			Refresh: g.LocationRefresh.D().Seconds()}
		pg, _ := r.p.Group(out.Group)
		for _, fi := range pg.Fleets {
			rep := r.fleets[fi].final
			if rep == nil {
				continue
			}
			for _, c := range rep.Clients {
				if c.Group == out.Group && c.Learned != "" {
					l.Learned[c.Learned]++
				}
			}
		}
		l.FollowTime = percentiles(rec.Query(metrics.Key{Metric: metrics.FollowTime, Group: out.Group}))
		l.Followed = int(l.FollowTime.Count)
		l.LDAPQueries = rec.Counter(metrics.CLDAPQueries, out.Group)
		l.LDAPFailures = rec.Counter(metrics.CLDAPFailures, out.Group)
		l.DNSQueries = rec.Counter(metrics.CDNSQueries, out.Group)
		l.DNSFailures = rec.Counter(metrics.CDNSFailures, out.Group)
		l.Relocations = rec.Counter(metrics.CRelocated, out.Group)
		l.Failovers = rec.Counter(metrics.CFailovers, out.Group)
		out.Location = l
	}
	loc := r.p.Site.Location
	sl := &reports.SiteLocation{Domain: loc.Domain, PublishAD: loc.PublishAD, PublishDNS: loc.PublishDNS,
		Delay: s.Site.Publish.Delay.D().Seconds(), HTTP: int(loc.Ports.HTTP), HTTPS: int(loc.Ports.HTTPS)}
	if st := r.siteSt; st != nil && st.Location != nil {
		ls := st.Location
		sl.PublishAD, sl.PublishDNS, sl.HTTP, sl.HTTPS, sl.Records = ls.PublishAD, ls.PublishDNS, int(ls.Ports.HTTP), int(ls.Ports.HTTPS), ls.Records
		for _, x := range ls.LDAP {
			sl.LDAP = append(sl.LDAP, reports.LDAPListener{Addr: x.Addr, Kind: x.Kind.String(), Conns: x.Conns, Searches: x.SearchTotal(),
				Entries: x.Entries, NoSuchObject: x.NoSuchObject, Errors: x.Errors})
		}
		u, t := ls.DNS.UDP, ls.DNS.TCP
		sl.DNS.Queries, sl.DNS.SRV, sl.DNS.A, sl.DNS.TCP = u.Queries+t.Queries, u.SRV+t.SRV, u.A+t.A, t.Queries
		sl.DNS.Answers, sl.DNS.NXDomain, sl.DNS.Refused = u.Answers+t.Answers, u.NXDomain+t.NXDomain, u.Refused+t.Refused
	} else {
		res.Notes = append(res.Notes, "the site server's directory and DNS counters did not arrive")
	}
	res.Location = sl
}

// siteCost is the site server process's cost, sampled with the others.
type siteCost struct {
	series []reports.CostPoint
	peak   uint64
	last   metrics.ProcSample // user and system CPU apart
}

// sampleSite reads the site server's CPU and memory from /proc.
func (r *runner) sampleSite(t float64) {
	if r.site == nil {
		return
	}
	if ps, err := metrics.ReadProc("/proc", r.site.proc.Pid()); err == nil {
		r.mu.Lock()
		r.siteCo.series = append(r.siteCo.series, reports.CostPoint{T: t, CPU: ps.CPUUser + ps.CPUSystem, RSS: ps.RSS})
		r.siteCo.peak = max(r.siteCo.peak, ps.RSSPeak, ps.RSS)
		r.siteCo.last = ps
		r.mu.Unlock()
	}
}

// siteCostResult is the site server's cost for the result (r.mu held): its requests are
// the directory searches and DNS queries it answered.
func (r *runner) siteCostResult() (reports.ProcessCost, bool) {
	if r.site == nil || len(r.siteCo.series) == 0 {
		return reports.ProcessCost{}, false
	}
	n := len(r.siteCo.series)
	c := reports.ProcessCost{Role: "site", Name: r.p.Site.SiteCode, PID: r.site.proc.Pid(), Series: r.siteCo.series,
		RSSPeak: r.siteCo.peak, CPUUser: r.siteCo.last.CPUUser, CPUSystem: r.siteCo.last.CPUSystem, RSSEnd: r.siteCo.series[n-1].RSS}
	if st := r.siteSt; st != nil && st.Location != nil {
		for _, l := range st.Location.LDAP {
			c.Requests += l.SearchTotal()
		}
		c.Requests += st.Location.DNS.UDP.Queries + st.Location.DNS.TCP.Queries
	}
	if c.Requests > 0 {
		c.CPUPerRequestUS = (c.CPUUser + c.CPUSystem) * 1e6 / float64(c.Requests)
	}
	return c, true
}
