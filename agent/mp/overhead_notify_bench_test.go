package mp

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/portlab/portlab/wire"
)

// BenchmarkOverheadKeepalive is BenchmarkOverhead's notification keep-alive case: the
// MP's TCP notification listener beside a minimal server doing the same I/O (read a
// frame, answer a frame of the same size), each its own process, CPU per keep-alive
// from /proc, over the same sessions (64 logged-in sessions, keep-alives round-robin,
// each answered before the session's next). Run:
//
//	go test ./agent/mp -run '^$' -bench OverheadKeepalive -benchtime 3s -count 3
func BenchmarkOverheadKeepalive(b *testing.B) {
	cfg := benchConfig(KeyECDSAP256)
	a, ready, mpPID := startAgentProc(b, cfg)
	minAddr, minPID := startMinimalNotify(b)
	sideBySide(b, a, mpPID, ready.Addrs.Notification.String(), minPID, minAddr, func(addr string) int { return driveKeepalives(b, addr, b.N) })
}

// driveKeepalives logs 64 sessions in and sends n keep-alives over them from 8
// goroutines (8 sessions each), each read back before that session's next; returns n.
func driveKeepalives(b *testing.B, addr string, n int) int {
	var mu sync.Mutex
	left := n
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			var sess []*bufio.ReadWriter
			for s := range 8 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				rw := bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c))
				if err := wire.WriteFrame(rw, wire.FrameLogin, wire.Login{GUID: fmt.Sprintf("GUID:bench-%d-%d", g, s), Group: "g"}); err != nil || rw.Flush() != nil {
					b.Error("login:", err)
					return
				}
				if t, _, err := wire.ReadFrame(rw); err != nil || t != wire.FrameLoginOK {
					b.Errorf("login answer %v %v", t, err)
					return
				}
				sess = append(sess, rw)
			}
			for i := 0; ; i++ {
				mu.Lock()
				if left == 0 {
					mu.Unlock()
					return
				}
				left--
				mu.Unlock()
				rw := sess[i%len(sess)]
				if err := wire.WriteFrame(rw, wire.FrameKeepAlive, nil); err != nil || rw.Flush() != nil {
					b.Error("keep-alive:", err)
					return
				}
				if t, _, err := wire.ReadFrame(rw); err != nil || t != wire.FrameKeepAliveOK {
					b.Errorf("keep-alive answer %v %v", t, err)
					return
				}
			}
		})
	}
	wg.Wait()
	return n
}

// minimalNotifyEnv makes the test binary a minimal notification server.
const minimalNotifyEnv = "PORTLAB_MP_TEST_MINIMAL_NOTIFY"

func startMinimalNotify(b *testing.B) (string, int) {
	b.Helper()
	self, _ := os.Executable()
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), minimalNotifyEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() }) // our own child, by PID
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("minimal notification server: %v", err)
	}
	return strings.TrimSpace(line), cmd.Process.Pid
}

// serveMinimalNotify reads frames (5-byte header, payload) on each connection and
// answers each with an empty frame of the answering type: the I/O of the MP's
// notification listener and nothing else (no session registry, no JSON).
func serveMinimalNotify() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(l.Addr().String())
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r, w := bufio.NewReader(c), bufio.NewWriter(c)
			var hdr [5]byte
			for {
				if _, err := io.ReadFull(r, hdr[:]); err != nil {
					return
				}
				if _, err := r.Discard(int(uint32(hdr[1])<<24 | uint32(hdr[2])<<16 | uint32(hdr[3])<<8 | uint32(hdr[4]))); err != nil {
					return
				}
				answer := wire.FrameKeepAliveOK
				if wire.FrameType(hdr[0]) == wire.FrameLogin {
					answer = wire.FrameLoginOK
				}
				w.Write([]byte{byte(answer), 0, 0, 0, 0})
				if w.Flush() != nil {
					return
				}
			}
		}()
	}
}
