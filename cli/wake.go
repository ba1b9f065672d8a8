package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/portlab/portlab/netsim"
	"github.com/portlab/portlab/netsim/wol"
	"github.com/spf13/cobra"
)

// newWakeCmd groups the manual Wake-on-LAN checks: send magic packets like the site
// server, listen like a sleeping NIC. Both work on loopback or, with ip netns exec,
// inside a kept topology.
func newWakeCmd(io streams) *cobra.Command {
	c := &cobra.Command{
		Use:   "wake",
		Short: "Send or watch Wake-on-LAN magic packets (manual checks on loopback or in a kept topology)",
		Long: `wake sends magic packets the way the ConfigMgr site server does (UDP to the site's
wake-up port, unicast or subnet-directed broadcast) and listens for them the way a
sleeping NIC does. Destinations are limited to the lab: 127.0.0.0/8, and 198.18.0.0/15
from inside a kept run's namespace only (ip netns exec portlab-<run>-<node> ...).`,
		Example: `  portlab wake listen --port 40009 &
  portlab wake send --mac 52:54:00:12:34:56 --to 127.0.0.1 --port 40009
  ip netns exec <ns> portlab wake listen --iface eth0 --count 1 --timeout 30s`,
	}
	c.AddCommand(newWakeSendCmd(io), newWakeListenCmd(io))
	return c
}

func newWakeSendCmd(io streams) *cobra.Command {
	var (
		macs     []string
		to       string
		port     uint16
		retries  int
		rate     float64
		password string
	)
	c := &cobra.Command{
		Use:   "send --mac MAC[,MAC...] --to ADDR",
		Short: "Send magic packets for one or more MACs to an address in the lab",
		Long: `send builds one magic packet per MAC (6×0xFF, the MAC 16 times, an optional SecureOn
password) and sends it over UDP to ADDR:PORT — the client's own address (unicast) or its
subnet's broadcast address (subnet-directed broadcast; SO_BROADCAST is set). Every MAC
gets 1+retries copies, in rounds, at most rate packets per second overall. One line per
packet. ADDR must be inside 127.0.0.0/8, or inside 198.18.0.0/15 when send runs in a
namespace portlab pinned (ip netns exec portlab-<run>-<node> portlab wake send ...): from
the host's namespace a lab address is not portlab's, and the packet would leave the
host by its default route. portlab sends nowhere else.`,
		Example: `  portlab wake send --mac 52:54:00:12:34:56 --to 127.0.0.1 --port 40009
  ip netns exec portlab-3f2a9c1e-site portlab wake send --mac 52:54:00:00:00:01,52:54:00:00:00:02 --to 198.18.31.255 --retries 0
  portlab wake send --mac 52:54:00:12:34:56 --to 127.0.0.1 --password 11:22:33:44:55:66`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Checked here rather than with MarkFlagRequired, whose error would exit 5.
			if to == "" {
				return WithCode(ExitInvalid, errors.New("--to: give the destination address"))
			}
			addr, err := netip.ParseAddr(to)
			if err != nil {
				return WithCode(ExitInvalid, fmt.Errorf("--to %q: want an IPv4 address: %w", to, err))
			}
			dst := netip.AddrPortFrom(addr, port)
			if err := wol.CheckDestination(dst); err != nil {
				return WithCode(ExitInvalid, err)
			}
			if err := labReachable(dst.Addr()); err != nil {
				return WithCode(ExitInvalid, err)
			}
			if len(macs) == 0 {
				return WithCode(ExitInvalid, errors.New("--mac: give at least one MAC address"))
			}
			pw, err := wol.ParsePassword(password)
			if err != nil {
				return WithCode(ExitInvalid, fmt.Errorf("--password: %w", err))
			}
			targets := make([]wol.Target, 0, len(macs))
			for _, m := range macs {
				hw, err := net.ParseMAC(m)
				if err != nil || len(hw) != 6 {
					return WithCode(ExitInvalid, fmt.Errorf("--mac %q: want a 6-byte MAC address like 52:54:00:12:34:56", m))
				}
				targets = append(targets, wol.Target{MAC: hw, To: dst})
			}
			copies := retries + 1
			s := wol.Sender{Rate: rate, Retries: retries, Password: pw, Report: func(x wol.Sent) {
				if x.Err != nil {
					fmt.Fprintf(io.err, "%s  %s -> %s  copy %d/%d  failed: %v\n",
						x.At.Format(stampFormat), x.Target.MAC, x.Target.To, x.Attempt+1, copies, x.Err)
					return
				}
				fmt.Fprintf(io.out, "%s  %s -> %s  copy %d/%d  %d bytes\n",
					x.At.Format(stampFormat), x.Target.MAC, x.Target.To, x.Attempt+1, copies, x.Bytes)
			}}
			_, err = s.Send(cmd.Context(), targets)
			if errors.Is(err, wol.ErrInvalid) || errors.Is(err, wol.ErrUnsafeDestination) {
				return WithCode(ExitInvalid, err)
			}
			return err
		},
	}
	f := c.Flags()
	f.StringSliceVar(&macs, "mac", nil, "MAC address(es) to wake, comma-separated or repeated")
	f.StringVar(&to, "to", "", "destination IPv4 address: the client (unicast) or its subnet's broadcast address")
	f.Uint16Var(&port, "port", 9, "UDP destination port (the site's wake-up port)")
	f.IntVar(&retries, "retries", 2, "copies per MAC after the first")
	f.Float64Var(&rate, "rate", 1000, "packets per second overall; 0 for no limit")
	f.StringVar(&password, "password", "", "SecureOn password: 4 or 6 hex bytes (11:22:33:44:55:66) or a dotted quad")
	return c
}

// labReachable refuses a 198.18.0.0/15 destination unless this thread is in a
// namespace portlab pinned: only there do those addresses belong to portlab's own
// network. Loopback is always fine.
func labReachable(a netip.Addr) error {
	if a.Unmap().IsLoopback() {
		return nil
	}
	ns, err := netsim.PinnedHere()
	if err != nil {
		return fmt.Errorf("--to %s: %w", a, err)
	}
	if ns == "" {
		return fmt.Errorf("--to %s: from this network namespace portlab sends only to 127.0.0.0/8; "+
			"a lab address is reached from inside a kept run: ip netns exec portlab-<run>-<node> portlab wake send ... (portlab run --keep)", a)
	}
	return nil
}

// stampFormat is the time on every wake line: local time with milliseconds.
const stampFormat = "15:04:05.000"

func newWakeListenCmd(io streams) *cobra.Command {
	var (
		port    uint16
		iface   string
		bind    string
		count   int
		timeout time.Duration
	)
	c := &cobra.Command{
		Use:   "listen",
		Short: "Print every magic packet that arrives, one line each",
		Long: `listen prints one line per valid magic packet: target MAC, sender, destination and
port. Packets for any MAC are printed: listen does not decide who wakes.

Without --iface it reads a UDP socket bound to --bind:--port. With --iface it reads the
interface through AF_PACKET (needs root or CAP_NET_RAW) like a NIC: every UDP port and
raw EtherType 0x0842 frames, unless --port is given explicitly. On lo, this also sees
broadcasts to 127.255.255.255.

It stops after --count packets, after --timeout, or on Ctrl-C. With --count, a timeout
before the count is reached exits 5.`,
		Example: `  portlab wake listen --port 40009 --count 1 --timeout 10s
  portlab wake listen --iface lo --count 3
  ip netns exec <ns> portlab wake listen --iface eth0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if count < 0 || timeout < 0 {
				return WithCode(ExitInvalid, errors.New("--count and --timeout must not be negative"))
			}
			l, where, err := openWakeListener(cmd, iface, bind, port)
			if err != nil {
				return err
			}
			defer l.Close()

			parent := cmd.Context()
			ctx, cancel := context.WithCancel(parent)
			defer cancel()
			if timeout > 0 {
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			fmt.Fprintf(io.err, "listening on %s\n", where)
			seen := 0
			err = l.Run(ctx, func(w wol.Wake) {
				fmt.Fprintln(io.out, formatWake(w))
				seen++
				if count > 0 && seen >= count {
					cancel()
				}
			})
			switch {
			case err != nil:
				return err
			case parent.Err() != nil:
				return parent.Err() // interrupted: exit 4
			case count > 0 && seen < count:
				return fmt.Errorf("wake listen: %s: %d of %d magic packets before the %v timeout", where, seen, count, timeout)
			}
			return nil
		},
	}
	f := c.Flags()
	f.Uint16Var(&port, "port", 9, "UDP port (with --iface: only when given explicitly; otherwise every port)")
	f.StringVar(&iface, "iface", "", "read this interface through AF_PACKET, like a NIC")
	f.StringVar(&bind, "bind", "0.0.0.0", "address of the UDP socket, without --iface (0.0.0.0 also hears broadcasts)")
	f.IntVar(&count, "count", 0, "stop after this many magic packets; 0 for no limit")
	f.DurationVar(&timeout, "timeout", 0, "stop after this long; 0 for no limit")
	return c
}

// openWakeListener opens the AF_PACKET or the UDP listener and says where it listens.
func openWakeListener(cmd *cobra.Command, iface, bind string, port uint16) (*wol.Listener, string, error) {
	if iface != "" {
		if _, err := net.InterfaceByName(iface); err != nil {
			return nil, "", WithCode(ExitInvalid, fmt.Errorf("--iface %s: %w", iface, err))
		}
		cfg := wol.ListenConfig{}
		where := "interface " + iface + ", every UDP port and EtherType 0x0842"
		if cmd.Flags().Changed("port") {
			cfg.Port = port
			where = fmt.Sprintf("interface %s, UDP port %d", iface, port)
		}
		l, err := wol.ListenInterface(iface, cfg)
		if errors.Is(err, os.ErrPermission) {
			return nil, "", WithCode(ExitIncapable, fmt.Errorf("%w (AF_PACKET needs root or CAP_NET_RAW; without --iface a UDP socket needs neither)", err))
		}
		return l, where, err
	}
	addr, err := netip.ParseAddr(bind)
	if err != nil || !addr.Is4() {
		return nil, "", WithCode(ExitInvalid, fmt.Errorf("--bind %q: want an IPv4 address", bind))
	}
	l, err := wol.ListenUDP(cmd.Context(), netip.AddrPortFrom(addr, port))
	if errors.Is(err, os.ErrPermission) {
		return nil, "", WithCode(ExitIncapable, fmt.Errorf("%w (ports below 1024 need root or CAP_NET_BIND_SERVICE)", err))
	}
	if err != nil {
		return nil, "", err
	}
	return l, "udp " + l.Addr().String(), nil
}

// formatWake is one output line: time, target MAC, then where the packet came from and
// went, as key=value pairs.
func formatWake(w wol.Wake) string {
	s := fmt.Sprintf("%s  mac=%s", w.At.Local().Format(stampFormat), w.Target)
	if w.Raw {
		s += fmt.Sprintf(" from=%s to=%s ethertype=0x0842", w.SrcMAC, w.DstMAC)
	} else {
		s += fmt.Sprintf(" from=%s to=%s port=%d", w.Src, w.Dst.Addr(), w.Dst.Port())
	}
	if len(w.Password) > 0 {
		s += fmt.Sprintf(" password=%s", net.HardwareAddr(w.Password))
	}
	return s
}
