package scenarios

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Defaults, in one place. `portlab show NAME` prints a scenario with them applied.
const (
	DefaultHTTPPort          = 80
	DefaultHTTPSPort         = 443
	DefaultNotificationPort  = 10123
	DefaultWakeupPort        = 9
	DefaultRamp              = 5 * time.Second
	DefaultPolicyInterval    = 10 * time.Second
	DefaultHeartbeatInterval = 60 * time.Second
	DefaultConnectTimeout    = 5 * time.Second
	DefaultKeepalive         = 60 * time.Second
	DefaultLongPollWait      = 30 * time.Second
	DefaultRetries           = 1
	DefaultUnmanagedAfter    = 3
	DefaultServiceTime       = time.Millisecond
	DefaultPolicyBytes       = 4096
	DefaultTLSKey            = KeyRSA2048
	DefaultWakeRetries       = 2
	DefaultWakeRate          = 1000
	DefaultDomain            = "corp.example"
	DefaultPublishDelay      = 10 * time.Second
	DefaultLocationRefresh   = 30 * time.Second
	DefaultFailoverFailures  = 5
	DefaultFailoverWindow    = 20 * time.Second
)

// AutoSubnetPool is where segments without an explicit subnet get a /24.
var autoSubnetPool = netip.MustParsePrefix("198.19.0.0/16")

// BenchmarkRange is the only address space scenarios may use (RFC 2544).
var benchmarkRange = netip.MustParsePrefix("198.18.0.0/15")

// BenchmarkRange returns 198.18.0.0/15.
func BenchmarkRange() netip.Prefix { return benchmarkRange }

// ApplyDefaults fills every absent field with its default. It never fails and never
// overrides what the author wrote; Validate judges the result.
func (s *Scenario) ApplyDefaults() {
	if s.Ramp == 0 {
		s.Ramp = Duration(min(DefaultRamp, s.Duration.D()/2))
	}
	p := &s.Site.Ports
	setInt(&p.HTTP.Default, DefaultHTTPPort)
	setInt(&p.HTTPS.Default, DefaultHTTPSPort)
	setInt(&p.Notification, DefaultNotificationPort)
	setInt(&p.Wakeup, DefaultWakeupPort)
	if s.Site.Domain == "" {
		s.Site.Domain = DefaultDomain
	}
	pub := &s.Site.Publish
	if pub.AD == nil {
		pub.AD = ptr(true)
	}
	if pub.DNS == nil {
		pub.DNS = ptr(true)
	}
	if pub.Delay == nil {
		pub.Delay = ptr(Duration(DefaultPublishDelay))
	}
	setInt(&s.Site.CustomWebsite.HTTP, p.HTTP.Default)
	setInt(&s.Site.CustomWebsite.HTTPS, p.HTTPS.Default)
	// What the site systems serve at the start: with the custom website on, its ports.
	served := s.InitialSite().Ports

	s.allocateSubnets()
	if s.Site.Segment == "" && len(s.ManagementPoints) > 0 {
		s.Site.Segment = s.ManagementPoints[0].Segment
	}
	for i := range s.Network.Routers {
		if fw := s.Network.Routers[i].Firewall; fw != nil {
			fw.applyDefaults()
		}
	}
	for i := range s.ManagementPoints {
		mp := &s.ManagementPoints[i]
		if mp.Site == "" {
			mp.Site = s.Site.Code
		}
		if mp.TLS.Key == "" {
			mp.TLS.Key = DefaultTLSKey
		}
		if mp.TLS.Resumption == nil {
			mp.TLS.Resumption = ptr(true)
		}
		if mp.ServiceTime.Dist == "" {
			mp.ServiceTime.Dist = DistFixed
			if mp.ServiceTime.Mean == 0 && mp.ServiceTime.Min == 0 && mp.ServiceTime.Max == 0 {
				mp.ServiceTime.Mean = Duration(DefaultServiceTime)
			}
		}
		setInt(&mp.PolicyBytes, DefaultPolicyBytes)
	}
	for i := range s.Clients {
		g := &s.Clients[i]
		if g.Scheme == "" {
			g.Scheme = SchemeHTTP
		}
		setInt(&g.HTTPPort, served.HTTP.Default)
		setInt(&g.HTTPSPort, served.HTTPS.Default)
		if g.Membership == "" {
			g.Membership = MemberDomain
			if seg := s.segmentByName(g.Segment); seg != nil && seg.Internet {
				g.Membership = MemberInternet
			}
		}
		if g.KnowsAlternate == nil {
			g.KnowsAlternate = ptr(g.Membership.ReadsAD())
		}
		setDur(&g.LocationRefresh, DefaultLocationRefresh)
		setInt(&g.MPFailover.Failures, DefaultFailoverFailures)
		setDur(&g.MPFailover.Window, DefaultFailoverWindow)
		if g.Notification == "" {
			g.Notification = NotifyTCP
		}
		setDur(&g.PolicyInterval, DefaultPolicyInterval)
		setDur(&g.HeartbeatInterval, DefaultHeartbeatInterval)
		setDur(&g.NotificationKeepalive, DefaultKeepalive)
		setDur(&g.LongPollWait, DefaultLongPollWait)
		setDur(&g.ConnectTimeout, DefaultConnectTimeout)
		if g.Retries == nil {
			g.Retries = ptr(DefaultRetries)
		}
		setInt(&g.UnmanagedAfter, DefaultUnmanagedAfter)
	}
	for i := range s.Timeline {
		e := &s.Timeline[i]
		if r := e.Reconfigure; r != nil {
			if r.Method == "" {
				r.Method = MethodPortSwitch
			}
			if r.Fraction == 0 {
				r.Fraction = 1
			}
		}
		if f := e.Firewall; f != nil {
			fw := Firewall{Default: f.Default, Rules: f.Rules}
			if fw.Default == "" {
				fw.Default = s.routerDefault(f.Router)
			}
			fw.applyDefaults()
			f.Default, f.Rules = fw.Default, fw.Rules
		}
		if n := e.Notify; n != nil && n.Action == "" {
			n.Action = ActionMachinePolicy
		}
		if r := e.DNSRecord; r != nil && r.Name == "" {
			r.Name = "_mssms_mp_" + strings.ToLower(s.Site.Code) + "._tcp"
		}
		if w := e.Wake; w != nil {
			if w.Mode == "" {
				w.Mode = WakeUnicast
			}
			if w.Retries == nil {
				w.Retries = ptr(DefaultWakeRetries)
			}
			setInt(&w.Rate, DefaultWakeRate)
		}
	}
}

func (s *Scenario) segmentByName(name string) *Segment {
	for i := range s.Network.Segments {
		if s.Network.Segments[i].Name == name {
			return &s.Network.Segments[i]
		}
	}
	return nil
}

func (s *Scenario) routerDefault(name string) Action {
	for _, r := range s.Network.Routers {
		if r.Name == name && r.Firewall != nil && r.Firewall.Default != "" {
			return r.Firewall.Default
		}
	}
	return Accept
}

func (fw *Firewall) applyDefaults() {
	if fw.Default == "" {
		fw.Default = Accept
	}
	for j := range fw.Rules {
		r := &fw.Rules[j]
		if r.Name == "" {
			r.Name = fmt.Sprintf("rule%d", j+1)
		}
		if r.Proto == "" {
			r.Proto = ProtoAny
		}
	}
}

// allocateSubnets gives each segment without a subnet the next /24 of 198.19.0.0/16
// that overlaps nothing the author wrote.
func (s *Scenario) allocateSubnets() {
	var taken []netip.Prefix
	for _, seg := range s.Network.Segments {
		for _, p := range []Prefix{seg.Subnet, seg.Clients} {
			if p.IsValid() {
				taken = append(taken, p.Prefix)
			}
		}
	}
	next := autoSubnetPool.Addr().As4()
	for i := range s.Network.Segments {
		seg := &s.Network.Segments[i]
		if seg.Subnet.IsValid() {
			continue
		}
		for next[2] < 255 {
			cand := netip.PrefixFrom(netip.AddrFrom4(next), 24)
			next[2]++
			if !overlapsAny(cand, taken) {
				seg.Subnet = Prefix{cand}
				taken = append(taken, cand)
				break
			}
		}
	}
}

func overlapsAny(p netip.Prefix, list []netip.Prefix) bool {
	for _, q := range list {
		if p.Overlaps(q) {
			return true
		}
	}
	return false
}

func setInt(p *int, def int) {
	if *p == 0 {
		*p = def
	}
}

func setDur(p *Duration, def time.Duration) {
	if *p == 0 {
		*p = Duration(def)
	}
}

func ptr[T any](v T) *T { return &v }
