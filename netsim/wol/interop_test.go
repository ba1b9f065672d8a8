package wol

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Interop with the tools an administrator would check against. The Debian packages are
// wakeonlan and tshark; CI installs them, elsewhere these tests skip saying so.

func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (Debian package %s): %v", name, pkg, err)
	}
	return p
}

// TestWakeonlanToListener: a packet from the Debian wakeonlan tool is decoded by both
// portlab listeners with the right MAC, unicast to the UDP socket and as a broadcast to
// 127.255.255.255 on AF_PACKET.
func TestWakeonlanToListener(t *testing.T) {
	tool := needTool(t, "wakeonlan", "wakeonlan")
	mac := mustMAC(t, "52:54:00:ab:cd:ef")

	wakeonlan := func(to netip.AddrPort) func() error {
		return func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, tool, "-i", to.Addr().String(), "-p", fmt.Sprint(to.Port()), mac.String()).CombinedOutput()
			if err != nil {
				return fmt.Errorf("wakeonlan: %v: %s", err, out)
			}
			return nil
		}
	}
	isMAC := func(w Wake) bool { return w.Target.String() == mac.String() }

	t.Run("udp unicast", func(t *testing.T) {
		l, err := ListenUDP(context.Background(), netip.MustParseAddrPort("127.0.0.1:0"))
		if err != nil {
			t.Fatal(err)
		}
		w, _ := await(t, run(t, l), wakeonlan(l.Addr()), isMAC)
		if w.Dst != l.Addr() || len(w.Password) != 0 {
			t.Errorf("wake %+v", w)
		}
	})
	t.Run("afpacket broadcast", func(t *testing.T) {
		needPacket(t)
		port := freeUDPPort(t)
		l, err := ListenInterface("lo", ListenConfig{Port: port})
		if err != nil {
			t.Fatal(err)
		}
		to := netip.AddrPortFrom(netip.MustParseAddr("127.255.255.255"), port)
		w, _ := await(t, run(t, l), wakeonlan(to), isMAC)
		if w.Dst != to {
			t.Errorf("wake %+v, want destination %s", w, to)
		}
	})
}

// TestTsharkDecodesSent: Wireshark's dissector reads portlab's packets as Wake On LAN
// with the right MAC and password.
func TestTsharkDecodesSent(t *testing.T) {
	tool := needTool(t, "tshark", "tshark")
	needPacket(t) // tshark captures through dumpcap, which needs the same privilege
	tests := []struct {
		name     string
		mac      string
		password []byte
		wantInfo string
	}{
		{"plain", "52:54:00:01:02:03", nil, ""},
		{"secureon 6", "52:54:00:01:02:04", []byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66}, "password 11:22:33:44:55:66"},
		{"secureon 4", "52:54:00:01:02:05", []byte{0xc0, 0xa8, 0x01, 0x02}, "password 192.168.1.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := freeUDPPort(t)
			to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, tool,
				"-i", "lo", "-f", fmt.Sprintf("udp dst port %d", port),
				// tshark 4.0 has WOL as a UDP heuristic (and EtherType 0x0842), not as a
				// port dissector for -d; enable the heuristic explicitly.
				"--enable-heuristic", "wol_udp",
				"-c", "1", "-a", "duration:20", "-l",
				"-T", "fields", "-E", "separator=|", "-e", "wol.mac", "-e", "_ws.col.Info")
			var stdout strings.Builder
			cmd.Stdout = &stdout
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Readiness: tshark says "Capturing on 'Loopback: lo'" once dumpcap has the
			// interface open. Everything else on stderr (the root warning) is kept for
			// the failure message.
			var errText strings.Builder
			sc := bufio.NewScanner(stderr)
			ready := false
			for sc.Scan() {
				errText.WriteString(sc.Text() + "\n")
				if strings.HasPrefix(sc.Text(), "Capturing on") {
					ready = true
					break
				}
			}
			if !ready {
				cmd.Wait()
				t.Fatalf("tshark did not start capturing:\n%s", errText.String())
			}
			go func() {
				for sc.Scan() {
				}
			}()
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			// Send until tshark has its one packet (-c 1), at most 5 times.
			var werr error
		send:
			for try := 0; try < 5; try++ {
				if _, err := Send(ctx, to, mustMAC(t, tt.mac), Sender{Password: tt.password}); err != nil {
					t.Fatal(err)
				}
				select {
				case werr = <-exited:
					break send
				case <-time.After(time.Second):
				}
				if try == 4 {
					cancel()
					werr = <-exited
				}
			}
			if werr != nil {
				t.Fatalf("tshark: %v\n%s", werr, errText.String())
			}
			// wol.mac is listed once per repetition. tshark 4.0's wol.passwd field value is
			// broken (it holds the first bytes of the formatted text), so the password is
			// checked in the Info column, which shows it as the dissector formats it.
			macs, info, ok := strings.Cut(strings.TrimSpace(stdout.String()), "|")
			if !ok {
				t.Fatalf("tshark output %q: want MACs|Info", stdout.String())
			}
			if want := strings.TrimSuffix(strings.Repeat(tt.mac+",", 16), ","); macs != want {
				t.Errorf("tshark wol.mac = %q, want %s 16 times", macs, tt.mac)
			}
			if !strings.HasPrefix(info, "MagicPacket for ") || !strings.Contains(info, "("+tt.mac+")") {
				t.Errorf("tshark Info %q, want a MagicPacket for %s", info, tt.mac)
			}
			if tt.wantInfo != "" && !strings.Contains(info, tt.wantInfo) {
				t.Errorf("tshark Info %q, want it to contain %q", info, tt.wantInfo)
			}
			if tt.wantInfo == "" && strings.Contains(info, "password") {
				t.Errorf("tshark Info %q shows a password, want none", info)
			}
		})
	}
}
