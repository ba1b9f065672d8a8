package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/portlab/portlab/agent"
	"github.com/portlab/portlab/agent/mp"
	"github.com/portlab/portlab/scenarios"
	"github.com/portlab/portlab/wire"
	"github.com/spf13/cobra"
)

func newMPCmd(io streams) *cobra.Command {
	c := &cobra.Command{
		Use:   "mp",
		Short: "Run a fake ConfigMgr management point by hand",
	}
	c.AddCommand(newMPServeCmd(io), newMPMessageCmd(io), newMPDecodeCmd(io))
	return c
}

func newMPServeCmd(io streams) *cobra.Command {
	var (
		cfg          mp.Config
		key          string
		noResumption bool
		serviceTime  time.Duration
		duration     time.Duration
		verbose      bool
	)
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve one fake management point on loopback until Ctrl-C",
		Long: `serve runs the same management point as a scenario run, outside any namespace: the
HTTP and HTTPS request ports (default and alternate), the notification port and HTTP(S)
long polling, with a fresh CA. It speaks ConfigMgr's wire format: location queries
(MPLIST, MPCERT, SITESIGNCERT, MPKEYINFORMATION...), CCM_POST messages to
/ccm_system/request (registration assigns an SMSID, policy assignments list policies
whose bodies it serves under /SMS_MP/.sms_pol), and the NTLM handshake of
/ccm_system_windowsauth/request. It prints its addresses, the CA file and example curl
commands, and stops cleanly on Ctrl-C (exit 0) or after --duration, printing its
counters. Addresses must be loopback; port 0 picks a free port.`,
		Example: `  portlab mp serve --http 127.0.0.1:8080 --https 127.0.0.1:8443
  curl --cacert CA.pem 'https://127.0.0.1:8443/SMS_MP/.sms_aut?MPLIST'
  portlab mp message --endpoint MP_ClientRegistration > reg.bin
  curl -X CCM_POST -H 'Content-Type: multipart/mixed; boundary="aAbBcCdDv1234567890VxXyYzZ"' \
       --data-binary @reg.bin http://127.0.0.1:8080/ccm_system/request -o reply.bin
  portlab mp decode reply.bin
  curl -X CCM_POST --ntlm -u 'CORP\CLIENT1$:' -H 'Content-Type: multipart/mixed; boundary="aAbBcCdDv1234567890VxXyYzZ"' \
       --data-binary @reg.bin http://127.0.0.1:8080/ccm_system_windowsauth/request -o reply.bin
  wrk -t2 -c32 -d10s 'http://127.0.0.1:8080/SMS_MP/.sms_aut?MPLIST'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.TLS.Key = key
			cfg.TLS.Resumption = !noResumption
			cfg.ServiceTime = mp.ServiceTime{Dist: string(scenarios.DistFixed), Mean: agent.Duration(serviceTime)}
			if cfg.Listen == (mp.Listen{}) {
				return WithCode(ExitInvalid, errors.New("nothing to serve: give at least one of --http, --https, --http-alt, --https-alt, --notification"))
			}
			// mp serve is for checks on this host: it binds loopback only, never an
			// address another machine could reach.
			for _, r := range mp.Roles() {
				if a := cfg.Listen.Get(r); a.IsValid() && !a.Addr().IsLoopback() {
					return WithCode(ExitInvalid, fmt.Errorf("--%s %s: mp serve binds loopback addresses only (127.0.0.0/8, ::1); a scenario run serves the lab's addresses", flagName(r), a))
				}
			}
			// A closed stdout (| head) must not kill the server before it cleans up: with
			// SIGPIPE noted, writes fail instead, and the temporary CA goes on exit.
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, syscall.SIGPIPE, syscall.SIGHUP)
			defer signal.Stop(sigs)
			if cfg.TLS.CAFile == "" {
				dir, err := os.MkdirTemp("", "portlab-mp-")
				if err != nil {
					return fmt.Errorf("mp serve: CA directory: %w", err)
				}
				defer os.RemoveAll(dir)
				cfg.TLS.CAFile = filepath.Join(dir, "ca.pem")
			}
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: level}))
			s, err := mp.New(cfg, log)
			if errors.Is(err, mp.ErrConfig) {
				return WithCode(ExitInvalid, err)
			}
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := s.Start(ctx); err != nil {
				s.Close()
				return err
			}
			printMPAddrs(io, s)
			serveUntil(ctx, duration, sigs)
			s.Close()
			printMPSummary(io, s.Snapshot())
			return nil
		},
	}
	f := c.Flags()
	f.Var((*addrPortFlag)(&cfg.Listen.HTTP), "http", "HTTP request port address, host:port")
	f.Var((*addrPortFlag)(&cfg.Listen.HTTPAlt), "http-alt", "HTTP alternate request port address")
	f.Var((*addrPortFlag)(&cfg.Listen.HTTPS), "https", "HTTPS request port address")
	f.Var((*addrPortFlag)(&cfg.Listen.HTTPSAlt), "https-alt", "HTTPS alternate request port address")
	f.Var((*addrPortFlag)(&cfg.Listen.Notification), "notification", "client notification (TCP) port address, such as 127.0.0.1:10123")
	f.StringVar(&cfg.Name, "name", "mp1", "MP host name (MPLIST, certificate)")
	f.StringVar(&cfg.FQDN, "fqdn", "", "MP FQDN (MPLIST, certificate, NTLM target; default NAME.DOMAIN)")
	f.StringVar(&cfg.SiteCode, "site", "PS1", "site code")
	f.StringVar(&cfg.Domain, "domain", "corp.example", "the site's DNS domain")
	f.StringSliceVar(&cfg.Accounts, "account", nil, "computer account windowsauth accepts, NAME$ or DOMAIN\\NAME$ (repeatable; default any)")
	f.StringVar(&key, "key", string(scenarios.DefaultTLSKey), "server key: ecdsa-p256, rsa-2048 or rsa-3072")
	f.BoolVar(&noResumption, "no-resumption", false, "disable TLS session resumption")
	f.StringVar(&cfg.TLS.CAFile, "ca-file", "", "write the CA certificate here (default: a temporary file removed on exit)")
	f.DurationVar(&serviceTime, "service-time", scenarios.DefaultServiceTime, "fixed service time per request")
	f.Float64Var(&cfg.ErrorRate, "error-rate", 0, "fraction of requests answered 500/503")
	f.IntVar(&cfg.PolicyBytes, "policy-bytes", scenarios.DefaultPolicyBytes, "policy body size")
	f.IntVar(&cfg.MaxConnections, "max-connections", 0, "concurrent connection limit (0: none)")
	f.Int64Var(&cfg.Seed, "seed", 1, "seed of service-time and error draws")
	f.DurationVar(&duration, "duration", 0, "stop after this long (0: until Ctrl-C)")
	f.BoolVarP(&verbose, "verbose", "v", false, "log every connection error")
	return c
}

// printMPAddrs prints one line per role: role, then a URL a tool can use.
func printMPAddrs(io streams, s *mp.Server) {
	cfg := s.Config()
	a := s.Addrs()
	fmt.Fprintf(io.out, "%s (site %s, %s key) serving; Ctrl-C stops\n", cfg.Name, cfg.SiteCode, cfg.TLS.Key)
	tw := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
	for _, r := range mp.Roles() {
		addr := a.Get(r)
		if !addr.IsValid() {
			continue
		}
		switch r.Transport() {
		case "tcp":
			fmt.Fprintf(tw, "%s\ttcp://%s\n", r, addr)
		default:
			fmt.Fprintf(tw, "%s\t%s://%s%s?%s\n", r, r.Transport(), addr, wire.PathAut, wire.QueryMPList)
		}
	}
	fmt.Fprintf(tw, "ca\t%s\n", cfg.TLS.CAFile)
	tw.Flush()
	if h := a.HTTPS; h.IsValid() {
		fmt.Fprintf(io.out, "try: curl --cacert %s 'https://%s%s?%s'\n", cfg.TLS.CAFile, h, wire.PathAut, wire.QueryMPList)
	}
	if h := a.HTTP; h.IsValid() {
		fmt.Fprintf(io.out, "try: curl -A '%s' 'http://%s%s?%s'\n", wire.UserAgent, h, wire.PathAut, wire.QueryMPList)
		fmt.Fprintf(io.out, "try: portlab mp message --endpoint %s > reg.bin && curl -X %s -A %s -H '%s' --data-binary @reg.bin http://%s%s -o reply.bin && portlab mp decode reply.bin\n",
			wire.EndpointRegistration, wire.MethodCCMPost, wire.UserAgentCCMPost, "Content-Type: "+wire.ContentTypeCCM, h, wire.PathRequest)
	}
}

// flagName is the serve flag of a role.
func flagName(r mp.Role) string { return strings.ReplaceAll(string(r), "_", "-") }

func printMPSummary(io streams, snap mp.Snapshot) {
	var total uint64
	var byStatus []string
	counts := map[int]uint64{}
	for _, r := range snap.Requests {
		total += r.Count
		counts[r.Status] += r.Count
	}
	for st, n := range counts {
		byStatus = append(byStatus, fmt.Sprintf("%d:%d", st, n))
	}
	slices.Sort(byStatus)
	p := snap.Process
	fmt.Fprintf(io.out, "stopped: %d requests (%s), %d registered, TLS handshakes %d full %d resumed, NTLM %d authenticated, %d pushes, CPU %.2fs user %.2fs system, RSS %.1f MiB\n",
		total, strings.Join(byStatus, " "), snap.Registry.Registered, snap.TLS.Full, snap.TLS.Resumed, snap.Auth.Authenticated, snap.Notify.Pushes,
		p.CPUUserSeconds, p.CPUSystemSeconds, float64(p.RSSBytes)/(1<<20))
}

// addrPortFlag is a host:port flag (an IP address and a port; port 0 picks a free one).
type addrPortFlag netip.AddrPort

func (a *addrPortFlag) String() string {
	if !netip.AddrPort(*a).IsValid() {
		return ""
	}
	return netip.AddrPort(*a).String()
}

func (a *addrPortFlag) Set(v string) error {
	ap, err := netip.ParseAddrPort(v)
	if err != nil {
		return fmt.Errorf("want IP:port, such as 127.0.0.1:8080: %w", err)
	}
	*a = addrPortFlag(ap)
	return nil
}

func (a *addrPortFlag) Type() string { return "addr:port" }

// serveUntil waits until ctx ends, duration passes (0: no limit) or a hang-up arrives on
// sigs; a broken pipe (SIGPIPE, also on sigs) does not stop a server.
func serveUntil(ctx context.Context, duration time.Duration, sigs <-chan os.Signal) {
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case sig := <-sigs:
			if sig != syscall.SIGPIPE {
				return
			}
		}
	}
}
