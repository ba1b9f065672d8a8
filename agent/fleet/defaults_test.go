package fleet

import "time"

// filled gives a test config the values a scenario would: the fleet itself defaults
// none of them (the scenarios package does, once), so tests state them here.
func filled(cfg Config) Config {
	site := &cfg.SitePorts
	if site.HTTP.Default == 0 {
		site.HTTP.Default = 80
	}
	if site.HTTPS.Default == 0 {
		site.HTTPS.Default = 443
	}
	if site.Notification == 0 {
		site.Notification = 10123
	}
	dur := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	for i := range cfg.Groups {
		g := &cfg.Groups[i]
		if g.Scheme == "" {
			g.Scheme = "http"
		}
		if g.HTTPPort == 0 {
			g.HTTPPort = site.HTTP.Default
		}
		if g.HTTPSPort == 0 {
			g.HTTPSPort = site.HTTPS.Default
		}
		if g.Notification == "" {
			g.Notification = "tcp"
		}
		dur(&g.PolicyInterval, 10*time.Second)
		dur(&g.HeartbeatInterval, 60*time.Second)
		dur(&g.ConnectTimeout, 5*time.Second)
		dur(&g.KeepAlive, 60*time.Second)
		dur(&g.LongPollWait, 30*time.Second)
		if g.UnmanagedAfter == 0 {
			g.UnmanagedAfter = 3
		}
	}
	return cfg
}
