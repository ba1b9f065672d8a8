package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/portlab/portlab/agent/site"
	"github.com/portlab/portlab/agent/site/directory"
	"github.com/portlab/portlab/plan"
	"github.com/portlab/portlab/scenarios"
	"github.com/spf13/cobra"
)

func newSiteCmd(io streams) *cobra.Command {
	c := &cobra.Command{
		Use:   "site",
		Short: "Run the site server's directory (LDAP) and DNS by hand",
	}
	c.AddCommand(newSiteServeCmd(io))
	return c
}

func newSiteServeCmd(io streams) *cobra.Command {
	var (
		ldap, gc, dnsAddr addrPortFlag
		scenario          string
		domain, code      string
		mps, records      []string
		httpPort          int
		httpsPort         int
		noAD, noDNS       bool
		duration          time.Duration
		verbose           bool
	)
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve the site's AD DS publication (LDAP) and DNS records on loopback until Ctrl-C",
		Long: `serve runs the site server's service location publication outside any namespace, as a
scenario run serves it: CN=System Management,CN=System,<domain DN> with the mSSMSSite and
mSSMSManagementPoint objects over LDAP (anonymous read; the request ports are in
mSSMSCapabilities' <IISPorts> element), the same tree as a global catalog (--gc), and
the domain's DNS zone with the MPs' A records and _mssms_mp_<site>._tcp SRV records.

With --scenario the publication is the scenario's at the start of its run (domain,
site codes, MPs and their lab addresses, request ports, publish.ad and publish.dns);
otherwise the flags say what to publish. It prints its addresses and example ldapsearch
and dig commands, and stops cleanly on Ctrl-C (exit 0) or after --duration, printing
its counters. Addresses must be loopback; port 0 picks a free port.`,
		Example: `  portlab site serve --ldap 127.0.0.1:3890 --dns 127.0.0.1:5353
  ldapsearch -x -H ldap://127.0.0.1:3890 -b 'CN=System Management,CN=System,DC=corp,DC=example' '(objectClass=mSSMSManagementPoint)'
  dig @127.0.0.1 -p 5353 SRV _mssms_mp_ps1._tcp.corp.example
  portlab site serve --ldap 127.0.0.1:3890 --gc 127.0.0.1:32680 --dns 127.0.0.1:5353 --scenario ad-port-change
  portlab site serve --dns 127.0.0.1:5353 --no-dns --record _mssms_mp_ps1._tcp:80:mp1   # a hand-made record only`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			listen := map[string]netip.AddrPort{"ldap": netip.AddrPort(ldap), "gc": netip.AddrPort(gc), "dns": netip.AddrPort(dnsAddr)}
			any := false
			for name, a := range listen {
				if !a.IsValid() {
					continue
				}
				any = true
				// site serve is for checks on this host: loopback only.
				if !a.Addr().IsLoopback() {
					return WithCode(ExitInvalid, fmt.Errorf("--%s %s: site serve binds loopback addresses only (127.0.0.0/8, ::1); a scenario run serves the lab's addresses", name, a))
				}
			}
			if !any {
				return WithCode(ExitInvalid, errors.New("nothing to serve: give at least one of --ldap, --gc, --dns"))
			}
			var loc site.Location
			if scenario != "" {
				for _, f := range []string{"domain", "site", "mp", "http", "https", "no-ad", "no-dns"} {
					if cmd.Flags().Changed(f) {
						return WithCode(ExitInvalid, fmt.Errorf("--%s: the scenario says what to publish; leave it out with --scenario", f))
					}
				}
				s, err := loadScenario(io, scenario)
				if err != nil {
					return err
				}
				p, err := plan.Lower(s)
				if err != nil {
					return WithCode(ExitInvalid, err)
				}
				if p.Site.Location == nil {
					return WithCode(ExitInvalid, fmt.Errorf("%s: the scenario has no site server", scenario))
				}
				loc = *p.Site.Location
			} else {
				var err error
				if loc, err = flagLocation(domain, code, mps, httpPort, httpsPort, !noAD, !noDNS); err != nil {
					return WithCode(ExitInvalid, err)
				}
			}
			loc.LDAP, loc.GC, loc.DNS = listen["ldap"], listen["gc"], listen["dns"]
			var recs []site.RecordArgs
			for _, r := range records {
				ra, err := parseRecordFlag(r)
				if err != nil {
					return WithCode(ExitInvalid, fmt.Errorf("--record %q: %w", r, err))
				}
				recs = append(recs, ra)
			}
			// A closed stdout (| head) must not stop the server before it cleans up.
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, syscall.SIGPIPE, syscall.SIGHUP)
			defer signal.Stop(sigs)
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: level}))
			ctx := cmd.Context()
			srv, err := site.StartLocation(ctx, loc, log)
			if errors.Is(err, directory.ErrInvalidPublication) {
				return WithCode(ExitInvalid, err)
			}
			if err != nil {
				return err
			}
			defer srv.Close()
			for _, ra := range recs {
				if _, err := srv.AddRecord(ra); err != nil {
					return WithCode(ExitInvalid, fmt.Errorf("--record: %w", err))
				}
			}
			printSiteAddrs(io, srv)
			serveUntil(ctx, duration, sigs)
			if err := srv.Close(); err != nil {
				fmt.Fprintf(io.err, "portlab: site serve: close: %v\n", err)
			}
			printSiteSummary(io, srv.Stats())
			return nil
		},
	}
	f := c.Flags()
	f.Var(&ldap, "ldap", "LDAP (AD DS) address, host:port, such as 127.0.0.1:3890")
	f.Var(&gc, "gc", "global catalog address (the same tree), such as 127.0.0.1:32680")
	f.Var(&dnsAddr, "dns", "DNS address (UDP and TCP), such as 127.0.0.1:5353")
	f.StringVar(&scenario, "scenario", "", "publish what this scenario (file or built-in) publishes at its start")
	f.StringVar(&domain, "domain", scenarios.DefaultDomain, "the site's AD DS and DNS domain")
	f.StringVar(&code, "site", "PS1", "site code")
	f.StringSliceVar(&mps, "mp", []string{"mp1=127.0.0.1"}, "management point NAME=ADDR (repeatable)")
	f.IntVar(&httpPort, "http", scenarios.DefaultHTTPPort, "HTTP request port the site publishes")
	f.IntVar(&httpsPort, "https", scenarios.DefaultHTTPSPort, "HTTPS request port the site publishes")
	f.BoolVar(&noAD, "no-ad", false, "serve the domain without the System Management container (publication off)")
	f.BoolVar(&noDNS, "no-dns", false, "serve the MPs' A records but no SRV record (DNS publication off)")
	f.StringSliceVar(&records, "record", nil, "hand-made SRV record NAME:PORT:TARGET (repeatable), such as _mssms_mp_ps1._tcp:80:mp1")
	f.DurationVar(&duration, "duration", 0, "stop after this long (0: until Ctrl-C)")
	f.BoolVarP(&verbose, "verbose", "v", false, "log every connection error")
	return c
}

// flagLocation is the publication the flags describe.
func flagLocation(domain, code string, mps []string, httpPort, httpsPort int, ad, dns bool) (site.Location, error) {
	loc := site.Location{Domain: domain, SiteCode: code, PublishAD: ad, PublishDNS: dns}
	for _, p := range []struct {
		name string
		v    int
	}{{"http", httpPort}, {"https", httpsPort}} {
		if p.v < 1 || p.v > 65535 {
			return loc, fmt.Errorf("--%s %d: out of range 1-65535", p.name, p.v)
		}
	}
	if httpPort == httpsPort {
		return loc, fmt.Errorf("--http and --https are both %d: HTTP and HTTPS cannot share a port", httpPort)
	}
	loc.Ports = site.Ports{HTTP: uint16(httpPort), HTTPS: uint16(httpsPort)}
	if len(mps) == 0 {
		return loc, errors.New("--mp: give at least one management point NAME=ADDR")
	}
	for _, m := range mps {
		name, a, ok := strings.Cut(m, "=")
		addr, err := netip.ParseAddr(a)
		if !ok || name == "" || err != nil || !addr.Is4() {
			return loc, fmt.Errorf("--mp %q: want NAME=IPv4, such as mp1=127.0.0.1", m)
		}
		loc.MPs = append(loc.MPs, site.PublishedMP{Name: name, Site: code, Addr: addr})
	}
	return loc, nil
}

// parseRecordFlag reads NAME:PORT:TARGET.
func parseRecordFlag(s string) (site.RecordArgs, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] == "" || parts[2] == "" {
		return site.RecordArgs{}, errors.New("want NAME:PORT:TARGET, such as _mssms_mp_ps1._tcp:80:mp1")
	}
	port, err := strconv.Atoi(parts[1])
	if err != nil || port < 1 || port > 65535 {
		return site.RecordArgs{}, fmt.Errorf("port %q: want 1-65535", parts[1])
	}
	return site.RecordArgs{Name: parts[0], Port: uint16(port), Target: parts[2]}, nil
}

// printSiteAddrs prints what is served and how to look at it.
func printSiteAddrs(io streams, srv *site.LocationServer) {
	loc := srv.Location()
	ldap, gc, dns := srv.Addrs()
	dn, _ := directory.DomainDN(loc.Domain)
	fmt.Fprintf(io.out, "site %s, domain %s: AD DS publication %s, DNS SRV records %s, request ports HTTP %d HTTPS %d; Ctrl-C stops\n",
		loc.SiteCode, loc.Domain, onOff(loc.PublishAD), onOff(loc.PublishDNS), loc.Ports.HTTP, loc.Ports.HTTPS)
	tw := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
	for _, x := range []struct {
		name string
		a    netip.AddrPort
		url  string
	}{{"ldap", ldap, "ldap://"}, {"gc", gc, "ldap://"}, {"dns", dns, "dns://"}} {
		if x.a.IsValid() {
			fmt.Fprintf(tw, "%s\t%s%s\n", x.name, x.url, x.a)
		}
	}
	tw.Flush()
	for _, a := range []netip.AddrPort{ldap, gc} {
		if a.IsValid() {
			fmt.Fprintf(io.out, "try: ldapsearch -x -LLL -H ldap://%s -b '%s' '(objectClass=mSSMSManagementPoint)' dNSHostName mSSMSCapabilities\n",
				a, directory.SystemManagementDN(dn))
			break
		}
	}
	if dns.IsValid() {
		fmt.Fprintf(io.out, "try: dig @%s -p %d SRV _mssms_mp_%s._tcp.%s\n", dns.Addr(), dns.Port(), strings.ToLower(loc.SiteCode), loc.Domain)
	}
}

func printSiteSummary(io streams, st site.LocationStats) {
	var conns, searches, errs uint64
	for _, l := range st.LDAP {
		conns += l.Conns
		searches += l.SearchTotal()
		errs += l.Errors
	}
	u, t := st.DNS.UDP, st.DNS.TCP
	fmt.Fprintf(io.out, "stopped: LDAP %d connections, %d searches, %d errors; DNS %d queries (%d UDP, %d TCP; %d SRV, %d A), %d NXDOMAIN, %d refused\n",
		conns, searches, errs, u.Queries+t.Queries, u.Queries, t.Queries, u.SRV+t.SRV, u.A+t.A, u.NXDomain+t.NXDomain, u.Refused+t.Refused)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
