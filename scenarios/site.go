package scenarios

// SiteState is the site at one moment of a run: the request, notification and wake-up
// ports its site systems serve, and whether they use the custom website. Validation and
// plan walk the timeline with it, so both see the same ports at the same time.
type SiteState struct {
	// Ports are what the site systems serve (and what the site publishes): with the
	// custom website on, its ports are the request defaults.
	Ports SitePorts
	// CustomWebsite says the site systems use the custom website (SMSWEB).
	CustomWebsite bool
	// defaults are the HTTP and HTTPS default ports of the default website, restored
	// when the custom website is turned off.
	defaults [2]int
}

// InitialSite is the site when the run starts (defaults filled).
func (s *Scenario) InitialSite() SiteState {
	st := SiteState{Ports: s.Site.Ports}
	if s.Site.CustomWebsite.Enabled {
		st = st.customOn(s.Site.CustomWebsite)
	}
	return st
}

func (st SiteState) customOn(cw CustomWebsite) SiteState {
	if st.CustomWebsite {
		return st
	}
	st.defaults = [2]int{st.Ports.HTTP.Default, st.Ports.HTTPS.Default}
	st.CustomWebsite = true
	if cw.HTTP != 0 {
		st.Ports.HTTP.Default = cw.HTTP
	}
	if cw.HTTPS != 0 {
		st.Ports.HTTPS.Default = cw.HTTPS
	}
	return st
}

func (st SiteState) customOff() SiteState {
	if !st.CustomWebsite {
		return st
	}
	st.CustomWebsite = false
	st.Ports.HTTP.Default, st.Ports.HTTPS.Default = st.defaults[0], st.defaults[1]
	return st
}

// ApplySite returns the site after change c. Turning the custom website on moves every
// site system's request ports to the custom website's (cw); turning it off moves them
// back to the default website's. Ports given in the same change win over both.
func (c SitePortsChange) ApplySite(st SiteState, cw CustomWebsite) SiteState {
	if c.CustomWebsite != nil {
		if *c.CustomWebsite {
			st = st.customOn(cw)
		} else {
			st = st.customOff()
		}
	}
	st.Ports = c.Apply(st.Ports)
	return st
}

// RequestDefaultsChanged reports whether the request ports clients use by default moved
// between a and b: a change clients must follow.
func RequestDefaultsChanged(a, b SitePorts) bool {
	return a.HTTP.Default != b.HTTP.Default || a.HTTPS.Default != b.HTTPS.Default
}
