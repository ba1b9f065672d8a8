package directory

import "sync/atomic"

// Kind is what a listener is: plain LDAP (389) or the global catalog (3268). Both serve
// the same tree; the RootDSE's isGlobalCatalogReady tells them apart.
type Kind int

const (
	LDAP Kind = iota
	GlobalCatalog
)

func (k Kind) String() string {
	if k == GlobalCatalog {
		return "gc"
	}
	return "ldap"
}

// ListenerStats are one listener's counters since it started.
type ListenerStats struct {
	Addr string
	Kind Kind

	Conns     uint64 // connections served and closed
	Binds     uint64 // simple binds, all answered success
	Anonymous uint64 // of which with an empty name and password

	SearchBase     uint64 // searches by scope
	SearchOneLevel uint64
	SearchSubtree  uint64
	RootDSE        uint64 // of which base "" scope base
	Entries        uint64 // entries returned
	NoSuchObject   uint64 // searches whose base is not served (publication off, wrong domain)

	// Errors counts every request or connection that failed: the four below plus
	// protocol errors in a decoded request, unsupported operations and failed writes.
	Errors      uint64
	Malformed   uint64 // connections dropped on a message that could not be decoded
	Oversized   uint64 // requests over a size bound (filter, base DN, attribute list, BER length)
	Unsupported uint64 // add, modify, delete, extended operations
	Expired     uint64 // connections cut at Options.ConnLifetime
}

// SearchTotal is the number of searches of every scope.
func (s ListenerStats) SearchTotal() uint64 { return s.SearchBase + s.SearchOneLevel + s.SearchSubtree }

type counters struct {
	conns, binds, anonymous                          atomic.Uint64
	searchBase, searchOne, searchSub, rootDSE        atomic.Uint64
	entries, noSuchObject                            atomic.Uint64
	errors, malformed, oversized, unsupported, expir atomic.Uint64
}

func (c *counters) snapshot(addr string, kind Kind) ListenerStats {
	return ListenerStats{
		Addr: addr, Kind: kind,
		Conns: c.conns.Load(), Binds: c.binds.Load(), Anonymous: c.anonymous.Load(),
		SearchBase: c.searchBase.Load(), SearchOneLevel: c.searchOne.Load(), SearchSubtree: c.searchSub.Load(),
		RootDSE: c.rootDSE.Load(), Entries: c.entries.Load(), NoSuchObject: c.noSuchObject.Load(),
		Errors: c.errors.Load(), Malformed: c.malformed.Load(), Oversized: c.oversized.Load(),
		Unsupported: c.unsupported.Load(), Expired: c.expir.Load(),
	}
}
