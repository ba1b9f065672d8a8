package fleet

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/portlab/portlab/wire"
)

// BenchmarkConnectorDo is one CCM_POST exchange of a client on a kept-alive loopback
// connection: what the fleet's own HTTP code costs per request beside the kernel's
// (allocations per request are the figure to watch).
func BenchmarkConnectorDo(b *testing.B) {
	reply := make([]byte, 3000)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", wire.ContentTypeCCM)
		w.Write(reply)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	cn, err := newConnector(nil, "")
	if err != nil {
		b.Fatal(err)
	}
	ap := netip.MustParseAddrPort(ln.Addr().String())
	h, err := cn.open(context.Background(), netip.MustParseAddr("127.0.0.1"), &MP{Name: "mp1", Addr: ap.Addr()}, int(ap.Port()), "http", time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer h.close()
	req := request{method: wire.MethodCCMPost, path: wire.PathRequest, ctype: wire.ContentTypeCCM, body: make([]byte, 1800)}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := cn.do(context.Background(), h, "mp1", req, 5*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}
