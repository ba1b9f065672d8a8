package scenarios

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/goccy/go-yaml/token"
)

// Bounds that keep every run finite and every resource reasonable.
const (
	MaxDuration     = time.Hour
	MaxGroupClients = 100_000
	MaxTotalClients = 200_000
	MaxEvents       = 1000
	// MaxNameLen bounds every name a scenario gives (scenario, segment, router, MP,
	// group, rule), checked before anything is built, because names become other names
	// with limits of their own: an MP's name is its host name in MPLIST (a DNS label
	// holds 63 characters); the scenario's name starts the results directory's name and
	// groups' names are in .hgrm file names (NAME_MAX, 255 bytes); a rule's name is its
	// nftables counter object (NFT_OBJ_MAXNAMELEN, 256 with the NUL) and the comment in
	// the rule's user data (NFT_USERDATA_MAXLEN, 256 bytes in all, or netlink says
	// ERANGE); and namespaces pinned with --keep are named portlab-<run>-<kind>-<name>
	// under /run/netns (NAME_MAX again). 63 fits all of them with room to spare.
	MaxNameLen = 63
)

// reservedRuleName is the counter of a firewall's default action (netsim.DefaultCounter).
const reservedRuleName = "default"

var (
	nameRE     = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	scenarioRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	groupRE    = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	ruleRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	siteRE     = regexp.MustCompile(`^[A-Za-z0-9]{3}$`)
)

// validator checks a decoded, defaulted scenario and reports at YAML positions.
type validator struct {
	s *Scenario
	d *decoder
	// structural: the decoder already reported errors, so whole-scenario checks
	// (reachability) would only echo them.
	structural bool
	// sitePortsOK: the site's initial ports passed, so later states are worth checking.
	sitePortsOK bool
}

// written reports whether the author wrote path (rather than a default filling it).
func (v *validator) written(path string) bool {
	_, ok := v.d.pos[path]
	return ok
}

func (v *validator) errf(path, hint, format string, args ...any) {
	var p *token.Position
	// The exact path may be absent (a defaulted field): walk up to the nearest written one.
	for q := path; ; {
		if pos, ok := v.d.pos[q]; ok {
			p = pos
			break
		}
		if q == "" {
			break
		}
		q = parentPath(q)
	}
	v.d.errorAt(p, path, fmt.Sprintf(format, args...), hint)
}

func parentPath(p string) string {
	i := max(strings.LastIndexByte(p, '.'), strings.LastIndexByte(p, '['))
	if i < 0 {
		return ""
	}
	return p[:i]
}

// name checks a name's form and length; what is "segment name" or such.
func (v *validator) name(path, name, what string, re *regexp.Regexp, form string) {
	switch {
	case name == "":
		v.errf(path, "", "%s is required", what)
	case len(name) > MaxNameLen:
		v.errf(path, "names become host, file, namespace and nftables names, which have limits of their own", "%s is %d characters long; at most %d", what, len(name), MaxNameLen)
	case !re.MatchString(name):
		v.errf(path, form, "invalid %s %q", what, name)
	}
}

// zeroPort reports a port written as 0 where 0 would silently become the default.
func (v *validator) zeroPort(path, def string) bool {
	if !v.d.zeros[path] {
		return false
	}
	v.errf(path, "leave the field out to get the default ("+def+")", "port 0 out of range 1-65535")
	return true
}

func (v *validator) port(path string, p int, allowZero bool) {
	if p == 0 && allowZero {
		return
	}
	if p < 1 || p > 65535 {
		v.errf(path, "", "port %d out of range 1-65535", p)
	}
}

func (v *validator) dur(path string, d Duration, lo, hi time.Duration) {
	if d.D() < lo || d.D() > hi {
		if d <= 0 {
			v.errf(path, "", "duration %s must be positive", d)
			return
		}
		v.errf(path, "", "duration %s out of range %s to %s", d, lo, hi)
	}
}

func (v *validator) oneOf(path, val, what string, allowed ...string) {
	if slices.Contains(allowed, val) {
		return
	}
	if val == "" {
		v.errf(path, "one of "+strings.Join(allowed, ", "), "%s is required", what)
		return
	}
	hint := ""
	if c := closest(val, allowed); c != "" {
		hint = fmt.Sprintf("did you mean `%s`?", c)
	}
	v.errf(path, hint, "unknown %s %q (want %s)", what, val, strings.Join(allowed, ", "))
}

// ref checks that name is one of known, with a spelling hint when it is not.
func (v *validator) ref(path, name, what string, known []string) bool {
	if slices.Contains(known, name) {
		return true
	}
	hint := ""
	if c := closest(name, known); c != "" {
		hint = fmt.Sprintf("did you mean `%s`?", c)
	} else if len(known) > 0 {
		hint = fmt.Sprintf("known %ss: %s", what, strings.Join(slices.Compact(sortedCopy(known)), ", "))
	}
	v.errf(path, hint, "no %s named %q", what, name)
	return false
}

func (v *validator) unique(path, name, what string, seen map[string]string) {
	if first, ok := seen[name]; ok {
		v.errf(path, "names must be unique", "%s %q is already defined at %s", what, name, first)
		return
	}
	seen[name] = path
}

func (v *validator) validate() {
	s := v.s
	if s.Version != CurrentVersion {
		if s.Version == 0 && !v.written("version") {
			v.errf("version", "add `version: 1` at the top", "version is required")
		} else {
			v.errf("version", "this portlab reads version 1", "unsupported version %d", s.Version)
		}
	}
	if s.Name == "" {
		v.errf("name", "", "name is required")
	} else {
		v.name("name", s.Name, "name", scenarioRE, "use lower case letters, digits and dashes")
	}
	v.description(s.Description)
	if s.Duration == 0 {
		v.errf("duration", "for example `duration: 60s`", "duration is required")
	} else {
		v.dur("duration", s.Duration, time.Second, MaxDuration)
	}
	// A ramp is judged against a valid duration only: against a wrong one (reported
	// above, or not decoded at all) the error would only mislead.
	if durOK := s.Duration.D() >= time.Second && s.Duration.D() <= MaxDuration; s.Ramp < 0 || (durOK && s.Ramp > s.Duration) {
		v.errf("ramp", "", "ramp %s must lie between 0 and the duration %s", s.Ramp, s.Duration)
	}
	for path := range v.d.zeros {
		switch path[strings.LastIndexAny(path, ".")+1:] {
		case "duration", "policy_interval", "heartbeat_interval", "connect_timeout", "notification_keepalive", "longpoll_wait", "location_refresh", "window":
			v.errf(path, "leave the field out to get the default", "%s must be positive", path[strings.LastIndexAny(path, ".")+1:])
		}
	}
	v.site()
	v.network()
	v.mps()
	v.clients()
	v.timeline()
	v.gates()
}

// MaxDescriptionLen bounds the description, one line of `portlab list`.
const MaxDescriptionLen = 500

// description checks the one free text of a scenario: it is printed by list and show,
// so it is one line of printable characters (a control character would reach the
// terminal, and YAML writes a line break or carriage return back as a block).
func (v *validator) description(d string) {
	if i := strings.IndexFunc(d, func(r rune) bool { return r != ' ' && Printable(string(r)) != string(r) }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(d[i:])
		v.errf("description", "a description is one line of plain text", "description holds the control character %s at character %d", Printable(string(r)), utf8.RuneCountInString(d[:i])+1)
	} else if n := utf8.RuneCountInString(d); n > MaxDescriptionLen {
		v.errf("description", "a description is one line of `portlab list`", "description is %d characters long; at most %d", n, MaxDescriptionLen)
	}
}

func (v *validator) site() {
	st := v.s.Site
	if st.Code == "" {
		v.errf("site.code", "for example `code: PS1`", "site code is required")
	} else if !siteRE.MatchString(st.Code) {
		v.errf("site.code", "a site code is three letters or digits", "invalid site code %q", st.Code)
	}
	seen := map[string]string{st.Code: "site.code"}
	for i, c := range st.Secondaries {
		path := fmt.Sprintf("site.secondaries[%d]", i)
		if !siteRE.MatchString(c) {
			v.errf(path, "a site code is three letters or digits", "invalid site code %q", c)
		}
		v.unique(path, c, "site code", seen)
	}
	before := len(v.d.errs)
	zero := false
	for _, p := range []struct{ path, def string }{
		{"site.ports.http.default", fmt.Sprint(DefaultHTTPPort)}, {"site.ports.https.default", fmt.Sprint(DefaultHTTPSPort)},
		{"site.ports.notification", fmt.Sprint(DefaultNotificationPort)}, {"site.ports.wakeup", fmt.Sprint(DefaultWakeupPort)},
	} {
		zero = v.zeroPort(p.path, p.def) || zero
	}
	if !zero {
		v.sitePorts("site.ports", st.Ports)
	}
	for _, f := range []struct {
		name string
		port int
	}{{"http", st.CustomWebsite.HTTP}, {"https", st.CustomWebsite.HTTPS}} {
		path := "site.custom_website." + f.name
		if !v.zeroPort(path, "the site's "+strings.ToUpper(f.name)+" default port") && v.written(path) {
			v.port(path, f.port, false)
		}
	}
	if len(v.d.errs) == before && st.CustomWebsite.Enabled {
		// The ports the site systems serve at the start are the custom website's.
		v.sitePorts("site.custom_website", v.s.InitialSite().Ports)
	}
	v.sitePortsOK = len(v.d.errs) == before
	if err := checkDomain(st.Domain); err != nil {
		v.errf("site.domain", "an AD DS domain's DNS name, such as corp.example", "domain %q: %v", clipMiddle(st.Domain, 80), err)
	}
	if d := st.Publish.Delay; d != nil && (*d < 0 || d.D() > MaxDuration) {
		v.errf("site.publish.delay", "0s publishes at once", "publication delay %s out of range 0s to %s", *d, MaxDuration)
	}
	if v.written("site.segment") && v.ref("site.segment", st.Segment, "segment", v.segmentNames()) {
		if seg := v.segment(st.Segment); seg.Clients.IsValid() {
			v.errf("site.segment", "put the site server on a segment without a `clients` range", "segment %q is a client segment", st.Segment)
		}
	}
}

// sitePorts checks one state of the site's ports, as the console's Ports tab would.
func (v *validator) sitePorts(path string, p SitePorts) {
	v.port(path+".http.default", p.HTTP.Default, false)
	v.port(path+".http.alternate", p.HTTP.Alternate, true)
	v.port(path+".https.default", p.HTTPS.Default, false)
	v.port(path+".https.alternate", p.HTTPS.Alternate, true)
	v.port(path+".notification", p.Notification, false)
	v.port(path+".wakeup", p.Wakeup, false)
	if p.HTTP.Alternate != 0 && p.HTTP.Alternate == p.HTTP.Default {
		v.errf(path+".http.alternate", "remove the alternate or pick another port", "HTTP alternate port %d equals the default", p.HTTP.Default)
	}
	if p.HTTPS.Alternate != 0 && p.HTTPS.Alternate == p.HTTPS.Default {
		v.errf(path+".https.alternate", "remove the alternate or pick another port", "HTTPS alternate port %d equals the default", p.HTTPS.Default)
	}
	// Every TCP port the site publishes must be distinct: one listener per port.
	tcp := []struct {
		path string
		port int
	}{
		{".http.default", p.HTTP.Default}, {".http.alternate", p.HTTP.Alternate},
		{".https.default", p.HTTPS.Default}, {".https.alternate", p.HTTPS.Alternate},
		{".notification", p.Notification},
	}
	for i := range tcp {
		for j := range i {
			a, b := tcp[j], tcp[i]
			if a.port == 0 || b.port != a.port {
				continue
			}
			if (a.path == ".http.default" && b.path == ".http.alternate") || (a.path == ".https.default" && b.path == ".https.alternate") {
				continue // reported above
			}
			hint := ""
			if strings.HasPrefix(a.path, ".http.") && strings.HasPrefix(b.path, ".https.") {
				hint = "HTTP and HTTPS cannot share a port (PORTSWITCH.VBS refuses it too)"
			}
			v.errf(path+b.path, hint, "port %d is already used by %s", b.port, strings.TrimPrefix(path+a.path, "site."))
		}
	}
}

func (v *validator) segmentNames() []string {
	var n []string
	for _, s := range v.s.Network.Segments {
		n = append(n, s.Name)
	}
	return n
}

func (v *validator) segment(name string) *Segment {
	for i := range v.s.Network.Segments {
		if v.s.Network.Segments[i].Name == name {
			return &v.s.Network.Segments[i]
		}
	}
	return nil
}

func (v *validator) network() {
	n := v.s.Network
	if len(n.Segments) == 0 {
		v.errf("network.segments", "add at least one client segment and one for the management points", "no segments")
	}
	nodes := map[string]string{"site": "(reserved for the site server)"}
	type block struct {
		path string
		p    netip.Prefix
	}
	var blocks []block
	for i, seg := range n.Segments {
		path := fmt.Sprintf("network.segments[%d]", i)
		v.name(path+".name", seg.Name, "segment name", nameRE, "use lower case letters, digits and dashes")
		v.unique(path+".name", seg.Name, "name", nodes)
		for _, f := range []struct {
			field string
			p     Prefix
		}{{"subnet", seg.Subnet}, {"clients", seg.Clients}} {
			if !f.p.IsValid() {
				continue
			}
			fp := path + "." + f.field
			if !benchmarkRange.Contains(f.p.Addr()) || f.p.Bits() < benchmarkRange.Bits() {
				v.errf(fp, "portlab only uses 198.18.0.0/15 (RFC 2544), so it never touches a real network", "%s %s lies outside 198.18.0.0/15", f.field, f.p)
				continue
			}
			if f.field == "subnet" && f.p.Bits() > 29 {
				v.errf(fp, "use /29 or larger: routers and management points need addresses", "subnet %s is too small", f.p)
			}
			for _, b := range blocks {
				if b.p.Overlaps(f.p.Prefix) {
					hint := ""
					if f.field == "clients" && b.path == path+".subnet" {
						hint = "the client identity range must lie outside the subnet, so the gateway is never a client address"
					}
					v.errf(fp, hint, "%s %s overlaps %s (%s)", f.field, f.p, b.p, b.path)
				}
			}
			blocks = append(blocks, block{fp, f.p.Prefix})
		}
		if !seg.Subnet.IsValid() {
			v.errf(path+".subnet", "give this segment a subnet inside 198.18.0.0/15", "no free /24 left in 198.19.0.0/16 for automatic subnets")
		}
	}
	segs := v.segmentNames()
	for i, r := range n.Routers {
		path := fmt.Sprintf("network.routers[%d]", i)
		v.name(path+".name", r.Name, "router name", nameRE, "use lower case letters, digits and dashes")
		v.unique(path+".name", r.Name, "name", nodes)
		if len(r.Links) < 2 {
			v.errf(path+".links", "a router links two or more segments", "router %q has %d link(s)", r.Name, len(r.Links))
		}
		seen := map[string]string{}
		for j, l := range r.Links {
			lp := fmt.Sprintf("%s.links[%d]", path, j)
			if v.ref(lp, l, "segment", segs) {
				v.unique(lp, l, "link to segment", seen)
			}
		}
		if r.Firewall != nil {
			v.firewall(path+".firewall", *r.Firewall)
		}
	}
}

func (v *validator) firewall(path string, fw Firewall) {
	if fw.Default != "" {
		checkEnum(v, path+".default", fw.Default, "action")
	}
	v.rules(path+".rules", fw.Rules)
}

func (v *validator) rules(path string, rules []Rule) {
	segs := v.segmentNames()
	seen := map[string]string{}
	for i, r := range rules {
		rp := fmt.Sprintf("%s[%d]", path, i)
		v.name(rp+".name", r.Name, "rule name", ruleRE, "use lower case letters, digits, dashes and underscores")
		if r.Name == reservedRuleName {
			v.errf(rp+".name", "pick another name", "the rule name %q is reserved for the firewall's default action (its counter)", r.Name)
		}
		v.unique(rp+".name", r.Name, "rule", seen)
		checkEnum(v, rp+".proto", r.Proto, "protocol")
		if !r.Port.IsZero() && r.Proto != ProtoTCP && r.Proto != ProtoUDP {
			v.errf(rp+".port", "set `proto: tcp` or `proto: udp`", "a port needs proto tcp or udp, not %s", r.Proto)
		}
		if r.From != "" {
			v.ref(rp+".from", r.From, "segment", segs)
		}
		if r.To != "" {
			v.ref(rp+".to", r.To, "segment", segs)
		}
		if r.Action == "" {
			v.errf(rp+".action", "accept, drop or reject", "action is required")
		}
	}
}

func (v *validator) mps() {
	if len(v.s.ManagementPoints) == 0 {
		v.errf("management_points", "add `management_points: [{name: mp1, segment: dc}]`", "no management points")
	}
	nodes := map[string]string{"site": "(reserved)"}
	for _, s := range v.s.Network.Segments {
		nodes[s.Name] = "a segment"
	}
	for _, r := range v.s.Network.Routers {
		nodes[r.Name] = "a router"
	}
	sites := append([]string{v.s.Site.Code}, v.s.Site.Secondaries...)
	for i, mp := range v.s.ManagementPoints {
		path := fmt.Sprintf("management_points[%d]", i)
		v.name(path+".name", mp.Name, "management point name", nameRE, "use lower case letters, digits and dashes")
		v.unique(path+".name", mp.Name, "name", nodes)
		if mp.Segment == "" {
			v.errf(path+".segment", "", "segment is required")
		} else if v.ref(path+".segment", mp.Segment, "segment", v.segmentNames()) {
			if seg := v.segment(mp.Segment); seg.Clients.IsValid() {
				v.errf(path+".segment", "put management points on a segment without a `clients` range", "segment %q is a client segment", mp.Segment)
			}
		}
		v.ref(path+".site", mp.Site, "site", sites)
		checkEnum(v, path+".tls.key", mp.TLS.Key, "key type")
		st := mp.ServiceTime
		checkEnum(v, path+".service_time.dist", st.Dist, "distribution")
		switch st.Dist {
		case "fixed", "exponential":
			if st.Mean < 0 || st.Mean.D() > 10*time.Second {
				v.errf(path+".service_time.mean", "", "service time %s out of range 0 to 10s", st.Mean)
			}
		case "uniform":
			if st.Min < 0 || st.Max < st.Min || st.Max.D() > 10*time.Second {
				v.errf(path+".service_time", "", "uniform service time needs 0 <= min <= max <= 10s (got %s..%s)", st.Min, st.Max)
			}
		}
		if mp.ErrorRate < 0 || mp.ErrorRate > 1 {
			v.errf(path+".error_rate", "", "error_rate %g out of range 0 to 1", mp.ErrorRate)
		}
		if mp.PolicyBytes < 0 || mp.PolicyBytes > 16<<20 {
			v.errf(path+".policy_bytes", "", "policy_bytes %d out of range 0 to 16MiB", mp.PolicyBytes)
		}
		if mp.Workers < 0 || mp.Workers > 64 {
			v.errf(path+".workers", "", "workers %d out of range 1 to 64 (0 or absent: one per 12,000 clients)", mp.Workers)
		}
		if mp.MaxConnections < 0 {
			v.errf(path+".max_connections", "", "max_connections must not be negative")
		}
	}
	if !v.structural && len(v.d.errs) == 0 {
		v.reachability()
	}
}

// reachability checks that every client segment has a path of routers to some MP.
func (v *validator) reachability() {
	adj := map[string][]string{}
	for _, r := range v.s.Network.Routers {
		for _, a := range r.Links {
			for _, b := range r.Links {
				if a != b {
					adj[a] = append(adj[a], b)
				}
			}
		}
	}
	mpSegs := map[string]bool{}
	for _, mp := range v.s.ManagementPoints {
		mpSegs[mp.Segment] = true
	}
	if len(mpSegs) == 0 {
		return
	}
	for i, seg := range v.s.Network.Segments {
		if !seg.Clients.IsValid() {
			continue
		}
		seen := map[string]bool{seg.Name: true}
		queue := []string{seg.Name}
		found := false
		for len(queue) > 0 && !found {
			cur := queue[0]
			queue = queue[1:]
			found = mpSegs[cur]
			for _, nb := range adj[cur] {
				if !seen[nb] {
					seen[nb] = true
					queue = append(queue, nb)
				}
			}
		}
		if !found {
			v.errf(fmt.Sprintf("network.segments[%d].name", i), "add a router linking it towards a management point's segment",
				"client segment %q has no path to any management point", seg.Name)
		}
	}
}

func (v *validator) groupNames() []string {
	var n []string
	for _, g := range v.s.Clients {
		n = append(n, g.Group)
	}
	return n
}

func (v *validator) clients() {
	if len(v.s.Clients) == 0 {
		v.errf("clients", "add `clients: [{group: all, count: 100, segment: lan}]`", "no client groups")
	}
	seen := map[string]string{}
	perSeg := map[string]int{}
	total := 0
	for i, g := range v.s.Clients {
		path := fmt.Sprintf("clients[%d]", i)
		v.name(path+".group", g.Group, "group name", groupRE, "use lower case letters, digits, dashes and underscores")
		v.unique(path+".group", g.Group, "group", seen)
		if g.Count < 1 || g.Count > MaxGroupClients {
			v.errf(path+".count", "", "count %d out of range 1 to %d", g.Count, MaxGroupClients)
		}
		total += g.Count
		if g.Segment == "" {
			v.errf(path+".segment", "", "segment is required")
		} else if v.ref(path+".segment", g.Segment, "segment", v.segmentNames()) {
			if seg := v.segment(g.Segment); !seg.Clients.IsValid() {
				if !v.segmentClientsWritten(g.Segment) { // else its range was reported already
					v.errf(path+".segment", "give the segment a `clients:` identity range", "segment %q has no client identity range", g.Segment)
				}
			} else {
				perSeg[g.Segment] += g.Count
			}
		}
		if g.MP != "" {
			v.ref(path+".mp", g.MP, "management point", mpNames(v.s))
		}
		checkEnum(v, path+".scheme", g.Scheme, "scheme")
		zero := v.zeroPort(path+".http_port", "the site's HTTP port")
		zero = v.zeroPort(path+".https_port", "the site's HTTPS port") || zero
		if v.written(path+".http_port") && !zero {
			v.port(path+".http_port", g.HTTPPort, false)
		}
		if v.written(path+".https_port") && !zero {
			v.port(path+".https_port", g.HTTPSPort, false)
		}
		if !zero && g.HTTPPort == g.HTTPSPort && (v.written(path+".http_port") || v.written(path+".https_port")) { // both defaulted: the site's ports were reported
			v.errf(path+".https_port", "HTTP and HTTPS need different ports (PORTSWITCH.VBS refuses equal ports)", "https_port %d equals http_port", g.HTTPSPort)
		}
		checkEnum(v, path+".notification", g.Notification, "notification transport")
		checkEnum(v, path+".membership", g.Membership, "membership")
		v.dur(path+".location_refresh", g.LocationRefresh, 100*time.Millisecond, MaxDuration)
		v.dur(path+".mp_failover.window", g.MPFailover.Window, 100*time.Millisecond, MaxDuration)
		fails := g.MPFailover.Failures
		if v.d.zeros[path+".mp_failover.failures"] {
			fails = 0
		}
		if fails < 1 || fails > 100 {
			v.errf(path+".mp_failover.failures", "", "failures %d out of range 1 to 100", fails)
		}
		v.dur(path+".policy_interval", g.PolicyInterval, 100*time.Millisecond, MaxDuration)
		v.dur(path+".heartbeat_interval", g.HeartbeatInterval, 100*time.Millisecond, 24*time.Hour)
		v.dur(path+".connect_timeout", g.ConnectTimeout, 10*time.Millisecond, time.Minute)
		v.dur(path+".notification_keepalive", g.NotificationKeepalive, 100*time.Millisecond, time.Hour)
		v.dur(path+".longpoll_wait", g.LongPollWait, 100*time.Millisecond, 5*time.Minute)
		if r := *g.Retries; r < 0 || r > 10 {
			v.errf(path+".retries", "", "retries %d out of range 0 to 10", r)
		}
		ua := g.UnmanagedAfter
		if v.d.zeros[path+".unmanaged_after"] {
			ua = 0 // as written, not the default that replaced it
		}
		if ua < 1 || ua > 100 {
			v.errf(path+".unmanaged_after", "", "unmanaged_after %d out of range 1 to 100", ua)
		}
	}
	if total > MaxTotalClients {
		v.errf("clients", "", "%d clients in all; at most %d", total, MaxTotalClients)
	}
	for i, seg := range v.s.Network.Segments {
		if n := perSeg[seg.Name]; n > 0 && seg.Clients.IsValid() {
			if room := usable(seg.Clients.Prefix); n > room {
				v.errf(fmt.Sprintf("network.segments[%d].clients", i), "widen the range",
					"%d clients on segment %q but its range %s holds %d addresses", n, seg.Name, seg.Clients, room)
			}
		}
	}
}

// usable counts host addresses in a client identity range (not network or broadcast).
func usable(p netip.Prefix) int {
	n := 1 << (32 - p.Bits())
	if n > 2 {
		n -= 2
	}
	return n
}

func (v *validator) timeline() {
	if len(v.s.Timeline) > MaxEvents {
		v.errf("timeline", "", "%d events; at most %d", len(v.s.Timeline), MaxEvents)
	}
	groups := v.groupNames()
	var routers, mps []string
	for _, r := range v.s.Network.Routers {
		routers = append(routers, r.Name)
	}
	for _, m := range v.s.ManagementPoints {
		mps = append(mps, m.Name)
	}
	order := make([]int, len(v.s.Timeline))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return v.s.Timeline[order[a]].At < v.s.Timeline[order[b]].At })
	site := v.s.InitialSite()
	durOK := v.s.Duration.D() >= time.Second && v.s.Duration.D() <= MaxDuration
	for _, i := range order {
		e := v.s.Timeline[i]
		path := fmt.Sprintf("timeline[%d]", i)
		atOK := e.At >= 0 && (e.At < v.s.Duration || !durOK)
		if !atOK {
			v.errf(path+".at", "events must happen during the run", "at %s is outside the run (duration %s)", e.At, v.s.Duration)
		}
		n := 0
		for _, set := range []bool{e.SitePorts != nil, e.Reconfigure != nil, e.Firewall != nil, e.Notify != nil, e.Wake != nil, e.MP != nil,
			e.Publish != nil, e.DNSRecord != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			v.errf(path, "each event has `at` and exactly one of site_ports, reconfigure, firewall, notify, wake, mp, publish, dns_record",
				"event has %d actions", n)
		}
		if c := e.SitePorts; c != nil {
			site = c.ApplySite(site, v.s.Site.CustomWebsite)
			if v.sitePortsOK { // otherwise every later state repeats the site's error
				v.sitePorts(path+".site_ports", site.Ports)
			}
		}
		if pc := e.Publish; pc != nil && pc.AD == "" && pc.DNS == "" {
			v.errf(path+".publish", "for example `publish: {ad: off}`", "publish changes nothing: give ad and/or dns (on or off)")
		}
		if r := e.DNSRecord; r != nil {
			p := path + ".dns_record"
			if err := checkRecordName(r.Name, v.s.Site.Domain); err != nil {
				v.errf(p+".name", "a name relative to the site's domain, such as _mssms_mp_ps1._tcp", "record name %q: %v", clipMiddle(r.Name, 80), err)
			}
			if r.Port == 0 && !v.written(p+".port") {
				v.errf(p+".port", "the port the record advertises, such as 80", "port is required")
			} else {
				v.port(p+".port", r.Port, false)
			}
			if r.Target == "" {
				v.errf(p+".target", "the name of a management point", "target is required")
			} else {
				v.ref(p+".target", r.Target, "management point", mps)
			}
		}
		if r := e.Reconfigure; r != nil {
			p := path + ".reconfigure"
			v.ref(p+".group", r.Group, "group", groups)
			checkEnum(v, p+".method", r.Method, "method")
			if r.Method != MethodPush && r.HTTPPort == 0 && r.HTTPSPort == 0 {
				v.errf(p, "give http_port and/or https_port, or use method: push to take the site's ports", "reconfigure by %s names no port", r.Method)
			}
			v.port(p+".http_port", r.HTTPPort, !v.d.zeros[p+".http_port"])
			v.port(p+".https_port", r.HTTPSPort, !v.d.zeros[p+".https_port"])
			if r.HTTPPort != 0 && r.HTTPPort == r.HTTPSPort {
				v.errf(p+".https_port", "PORTSWITCH.VBS refuses equal HTTP and HTTPS ports", "https_port %d equals http_port", r.HTTPSPort)
			}
			if v.d.zeros[p+".fraction"] {
				v.errf(p+".fraction", "leave the field out to reconfigure the whole group", "fraction 0 out of range (0, 1]")
			} else if r.Fraction <= 0 || r.Fraction > 1 {
				v.errf(p+".fraction", "", "fraction %g out of range (0, 1]", r.Fraction)
			}
			if r.Over < 0 || (atOK && durOK && e.At+r.Over > v.s.Duration) {
				v.errf(p+".over", "", "reconfiguration window %s runs past the end of the run", r.Over)
			}
		}
		if f := e.Firewall; f != nil {
			p := path + ".firewall"
			v.ref(p+".router", f.Router, "router", routers)
			v.firewall(p, Firewall{Default: f.Default, Rules: f.Rules})
		}
		if nt := e.Notify; nt != nil {
			if nt.Group != "" {
				v.ref(path+".notify.group", nt.Group, "group", groups)
			}
			checkEnum(v, path+".notify.action", nt.Action, "notification action")
		}
		if w := e.Wake; w != nil {
			p := path + ".wake"
			v.ref(p+".group", w.Group, "group", groups)
			checkEnum(v, p+".mode", w.Mode, "mode")
			if r := *w.Retries; r < 0 || r > 10 {
				v.errf(p+".retries", "", "retries %d out of range 0 to 10", r)
			}
			if v.d.zeros[p+".rate"] {
				v.errf(p+".rate", fmt.Sprintf("leave the field out to get the default (%d)", DefaultWakeRate), "rate 0 out of range 1 to 100000")
			} else if w.Rate < 1 || w.Rate > 100000 {
				v.errf(p+".rate", "", "rate %d out of range 1 to 100000", w.Rate)
			}
		}
		if m := e.MP; m != nil {
			v.ref(path+".mp.name", m.Name, "management point", mps)
			checkEnum(v, path+".mp.action", m.Action, "mp action")
		}
	}
}

// Apply returns the site's ports after this change (validation and the runner).
func (c SitePortsChange) Apply(p SitePorts) SitePorts {
	rp := func(cur RequestPort, ch *RequestPortChange) RequestPort {
		if ch == nil {
			return cur
		}
		if ch.Default != nil {
			cur.Default = *ch.Default
		}
		if ch.Alternate != nil {
			cur.Alternate = *ch.Alternate
		}
		return cur
	}
	p.HTTP = rp(p.HTTP, c.HTTP)
	p.HTTPS = rp(p.HTTPS, c.HTTPS)
	if c.Notification != nil {
		p.Notification = *c.Notification
	}
	if c.Wakeup != nil {
		p.Wakeup = *c.Wakeup
	}
	return p
}

func (v *validator) gates() {
	groups := v.groupNames()
	var routers, mps []string
	rules := map[string][]string{}
	for _, r := range v.s.Network.Routers {
		routers = append(routers, r.Name)
		if r.Firewall != nil {
			for _, rl := range r.Firewall.Rules {
				rules[r.Name] = append(rules[r.Name], rl.Name)
			}
		}
	}
	for _, e := range v.s.Timeline {
		if f := e.Firewall; f != nil {
			for _, rl := range f.Rules {
				if !slices.Contains(rules[f.Router], rl.Name) {
					rules[f.Router] = append(rules[f.Router], rl.Name)
				}
			}
		}
	}
	for _, m := range v.s.ManagementPoints {
		mps = append(mps, m.Name)
	}
	for i := range v.s.Gates {
		g := &v.s.Gates[i]
		path := fmt.Sprintf("gates[%d]", i)
		spec, ok := LookupMetric(g.Metric)
		if !ok {
			hint := ""
			if c := closest(g.Metric, MetricNames()); c != "" {
				hint = fmt.Sprintf("did you mean `%s`?", c)
			} else {
				hint = "`portlab schema` lists the metrics; the README explains each"
			}
			if g.Metric == "" {
				v.errf(path+".metric", hint, "metric is required")
			} else {
				v.errf(path+".metric", hint, "unknown metric %q", g.Metric)
			}
		}
		check := func(f Filter, set bool, field string) bool {
			if !set {
				return false
			}
			if ok && !spec.Allows(f) {
				v.errf(path+"."+field, "", "metric %s cannot be narrowed by %s", g.Metric, field)
				return false
			}
			return true
		}
		if check(FGroup, g.Group != "", "group") {
			v.ref(path+".group", g.Group, "group", groups)
		}
		if check(FOperation, g.Operation != "", "operation") {
			checkEnum(v, path+".operation", g.Operation, "operation")
		}
		if check(FPort, g.Port != 0 || v.d.zeros[path+".port"], "port") {
			v.port(path+".port", g.Port, false)
		}
		if check(FTransport, g.Transport != "", "transport") {
			checkEnum(v, path+".transport", g.Transport, "transport")
		}
		if check(FOutcome, g.Outcome != "", "outcome") && !g.Outcome.Valid() {
			v.errf(path+".outcome", "an HTTP status is written http_500; http_* is any HTTP error", "unknown outcome %q (want %s or http_<status>)", g.Outcome, strings.Join(g.Outcome.Values(), ", "))
		}
		if check(FMP, g.MP != "", "mp") {
			v.ref(path+".mp", g.MP, "management point", mps)
		}
		if check(FRouter, g.Router != "", "router") {
			v.ref(path+".router", g.Router, "router", routers)
		}
		if check(FSource, g.Source != "", "source") {
			checkEnum(v, path+".source", g.Source, "source")
		}
		if check(FRule, g.Rule != "", "rule") {
			if g.Router == "" {
				v.errf(path+".rule", "add `router:`", "a rule gate needs the router it belongs to")
			} else {
				v.ref(path+".rule", g.Rule, "rule", rules[g.Router])
			}
		}
		if ok && spec.Allows(FRule) && g.Rule == "" {
			v.errf(path, "add `router:` and `rule:`", "metric %s needs a router and a rule", g.Metric)
		}
		unit := spec.Unit
		if r := g.RelativeTo; r != nil {
			unit = UnitRatio
			rp := path + ".relative_to"
			ref, _ := g.Reference()
			if *r == (GateFilter{}) {
				v.errf(rp, "name what to compare with, for example `relative_to: {mp: mp-http}`", "relative_to is empty")
			} else if ref.Group == g.Group && ref.Operation == g.Operation && ref.Port == g.Port && ref.Transport == g.Transport &&
				ref.Outcome == g.Outcome && ref.MP == g.MP && ref.Router == g.Router && ref.Rule == g.Rule {
				v.errf(rp, "change at least one filter", "relative_to compares the metric with itself")
			}
			rcheck := func(f Filter, set bool, field string) bool {
				if !set {
					return false
				}
				if ok && !spec.Allows(f) {
					v.errf(rp+"."+field, "", "metric %s cannot be narrowed by %s", g.Metric, field)
					return false
				}
				return true
			}
			if rcheck(FGroup, r.Group != "", "group") {
				v.ref(rp+".group", r.Group, "group", groups)
			}
			if rcheck(FOperation, r.Operation != "", "operation") {
				checkEnum(v, rp+".operation", r.Operation, "operation")
			}
			if rcheck(FPort, r.Port != 0, "port") {
				v.port(rp+".port", r.Port, false)
			}
			if rcheck(FTransport, r.Transport != "", "transport") {
				checkEnum(v, rp+".transport", r.Transport, "transport")
			}
			if rcheck(FOutcome, r.Outcome != "", "outcome") && !r.Outcome.Valid() {
				v.errf(rp+".outcome", "", "unknown outcome %q", r.Outcome)
			}
			if rcheck(FMP, r.MP != "", "mp") {
				v.ref(rp+".mp", r.MP, "management point", mps)
			}
			if rcheck(FRouter, r.Router != "", "router") {
				v.ref(rp+".router", r.Router, "router", routers)
			}
			if rcheck(FRule, r.Rule != "", "rule") {
				v.ref(rp+".rule", r.Rule, "rule", rules[ref.Router])
			}
		}
		checkEnum(v, path+".op", g.Op, "comparison")
		if g.Value.Raw == "" {
			v.errf(path+".value", "", "value is required")
		} else if ok {
			num, err := parseValue(g.Value.Raw, unit)
			switch {
			case err != nil && g.RelativeTo != nil:
				v.errf(path+".value", "", "%s (with relative_to the value is measured / reference)", err)
			case err != nil:
				v.errf(path+".value", "", "%s (metric %s is in %s)", err, g.Metric, unit)
			}
			g.Value.Num = num
		}
	}
}

func mpNames(s *Scenario) []string {
	var n []string
	for _, m := range s.ManagementPoints {
		n = append(n, m.Name)
	}
	return n
}

func (v *validator) segmentClientsWritten(name string) bool {
	for i, seg := range v.s.Network.Segments {
		if seg.Name == name {
			return v.written(fmt.Sprintf("network.segments[%d].clients", i))
		}
	}
	return false
}

// checkDomain checks a DNS domain name: letters, digits and inner hyphens, 1 to 63
// bytes a label, 253 in all, no trailing dot.
func checkDomain(d string) error {
	if d == "" || len(d) > 253 {
		return fmt.Errorf("want 1 to 253 characters")
	}
	for l := range strings.SplitSeq(d, ".") {
		if err := checkLabel(l, false); err != nil {
			return err
		}
	}
	return nil
}

// checkLabel checks one DNS label; service labels (_tcp, _mssms_mp_ps1) may hold underscores.
func checkLabel(l string, underscore bool) error {
	if l == "" || len(l) > 63 {
		return fmt.Errorf("label %q: want 1 to 63 characters", clipMiddle(l, 70))
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return fmt.Errorf("label %q starts or ends with a hyphen", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || underscore && c == '_') {
			return fmt.Errorf("label %q holds %q: want letters, digits and hyphens", l, string(c))
		}
	}
	return nil
}

// checkRecordName checks a hand-made record's owner name: relative to domain, or
// absolute (with or without the trailing dot) inside it.
func checkRecordName(name, domain string) error {
	n := strings.TrimSuffix(name, ".")
	if n == "" || len(n) > 253 {
		return fmt.Errorf("want 1 to 253 characters")
	}
	if strings.HasSuffix(name, ".") && !strings.HasSuffix(strings.ToLower(n), "."+strings.ToLower(domain)) && !strings.EqualFold(n, domain) {
		return fmt.Errorf("not inside the site's domain %s", domain)
	}
	for l := range strings.SplitSeq(n, ".") {
		if err := checkLabel(l, true); err != nil {
			return err
		}
	}
	return nil
}
