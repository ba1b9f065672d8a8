package sitedns

import (
	"sync/atomic"

	"github.com/miekg/dns"
)

// Counters are one transport's totals since the server started.
type Counters struct {
	Queries uint64 // questions handled (malformed and rejected messages not included)
	// By query type.
	A, AAAA, SRV, SOA, NS, ANY, OtherType uint64

	Answers   uint64 // responses with at least one answer record
	NoData    uint64 // NOERROR without an answer: the name exists, the type does not
	NXDomain  uint64 // names in the zone that do not exist
	Refused   uint64 // names outside the zone, classes other than IN, before the first Publish
	Truncated uint64 // UDP responses cut to the client's size with TC set
	// Malformed counts messages that could not be read at all (dropped unanswered) or
	// were refused before reaching the zone (FORMERR, NOTIMP): a response flag set, no
	// or several questions, an opcode other than QUERY.
	Malformed uint64
}

// Stats are the server's counters by transport.
type Stats struct {
	UDP, TCP Counters
}

type counters struct {
	queries                                  atomic.Uint64
	a, aaaa, srv, soa, ns, anyT, other       atomic.Uint64
	answers, noData, nxDomain, refused, trnc atomic.Uint64
	malformed                                atomic.Uint64
}

func (c *counters) countType(t uint16) {
	switch t {
	case dns.TypeA:
		c.a.Add(1)
	case dns.TypeAAAA:
		c.aaaa.Add(1)
	case dns.TypeSRV:
		c.srv.Add(1)
	case dns.TypeSOA:
		c.soa.Add(1)
	case dns.TypeNS:
		c.ns.Add(1)
	case dns.TypeANY:
		c.anyT.Add(1)
	default:
		c.other.Add(1)
	}
}

func (c *counters) snapshot() Counters {
	return Counters{
		Queries: c.queries.Load(),
		A:       c.a.Load(), AAAA: c.aaaa.Load(), SRV: c.srv.Load(), SOA: c.soa.Load(), NS: c.ns.Load(),
		ANY: c.anyT.Load(), OtherType: c.other.Load(),
		Answers: c.answers.Load(), NoData: c.noData.Load(), NXDomain: c.nxDomain.Load(),
		Refused: c.refused.Load(), Truncated: c.trnc.Load(), Malformed: c.malformed.Load(),
	}
}
