package sitedns

import (
	"strings"

	"github.com/miekg/dns"
)

// index is one immutable snapshot of the served records, by owner name.
type index struct {
	apex  string
	soa   dns.RR
	names map[string][]dns.RR
	// ents are empty non-terminals: names that own nothing but have names below them
	// ("_tcp.corp.example." under "_mssms_mp_ps1._tcp.corp.example."). They exist, so
	// they are NOERROR, not NXDOMAIN.
	ents map[string]bool
}

func newIndex(apex string, published, static []dns.RR) *index {
	x := &index{apex: apex, names: map[string][]dns.RR{}, ents: map[string]bool{}}
	for _, set := range [][]dns.RR{published, static} {
		for _, rr := range set {
			name := strings.ToLower(rr.Header().Name)
			x.names[name] = append(x.names[name], rr)
			if rr.Header().Rrtype == dns.TypeSOA && x.soa == nil {
				x.soa = rr
			}
			for n := name; n != apex; {
				_, parent, ok := strings.Cut(n, ".")
				if !ok || parent == "" {
					break
				}
				if parent != apex {
					x.ents[parent] = true
				}
				n = parent
			}
		}
	}
	return x
}

// answer builds the response to req from x (nil before the first Publish) and counts
// what it was.
func (x *index) answer(req *dns.Msg, c *counters) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.RecursionAvailable = false
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(MaxUDPSize, false)
	}
	if req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 {
		// The default accept function already refuses these before the handler;
		// kept for answer's own callers (the fuzz target).
		c.malformed.Add(1)
		resp.Rcode = dns.RcodeFormatError
		if req.Opcode != dns.OpcodeQuery {
			resp.Rcode = dns.RcodeNotImplemented
		}
		return resp
	}
	q := req.Question[0]
	c.queries.Add(1)
	c.countType(q.Qtype)
	name := strings.ToLower(q.Name)
	if x == nil || (q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY) || !dns.IsSubDomain(x.apex, name) {
		c.refused.Add(1)
		resp.Rcode = dns.RcodeRefused
		return resp
	}
	resp.Authoritative = true
	rrs, exists := x.names[name]
	if !exists && !x.ents[name] {
		c.nxDomain.Add(1)
		resp.Rcode = dns.RcodeNameError
		resp.Ns = []dns.RR{x.soa}
		return resp
	}
	for _, rr := range rrs {
		if q.Qtype == dns.TypeANY || rr.Header().Rrtype == q.Qtype {
			resp.Answer = append(resp.Answer, rr)
		}
	}
	if len(resp.Answer) == 0 {
		c.noData.Add(1)
		resp.Ns = []dns.RR{x.soa}
		return resp
	}
	c.answers.Add(1)
	// Additional section: the A records of SRV targets and name servers in the zone.
	seen := map[string]bool{}
	for _, rr := range resp.Answer {
		var target string
		switch r := rr.(type) {
		case *dns.SRV:
			target = r.Target
		case *dns.NS:
			target = r.Ns
		default:
			continue
		}
		target = strings.ToLower(target)
		if seen[target] {
			continue
		}
		seen[target] = true
		for _, a := range x.names[target] {
			if a.Header().Rrtype == dns.TypeA {
				resp.Extra = append(resp.Extra, a)
			}
		}
	}
	return resp
}
