package sitedns

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
)

// BenchmarkLookupMP is one client's DNS service location on loopback: one UDP SRV
// exchange whose additional section carries the A records, server in the same process.
func BenchmarkLookupMP(b *testing.B) {
	_, addr := startServer(b, testZone())
	dial := SourceDialer(netip.MustParseAddr("127.0.0.1"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LookupMP(ctx, dial, addr, "PS1", "corp.example"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupMPTruncated: 30 MPs, so the UDP answer is truncated and the client
// asks again over TCP.
func BenchmarkLookupMPTruncated(b *testing.B) {
	z := testZone()
	for i := range 30 {
		z.MPs = append(z.MPs, MP{FQDN: fmt.Sprintf("big%02d.corp.example", i), Addr: netip.AddrFrom4([4]byte{198, 18, 6, byte(i)}),
			SiteCode: "PS3", HTTPPort: 80})
	}
	_, addr := startServer(b, z)
	dial := SourceDialer(netip.MustParseAddr("127.0.0.1"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LookupMP(ctx, dial, addr, "PS3", "corp.example"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookupMPParallel(b *testing.B) {
	_, addr := startServer(b, testZone())
	dial := SourceDialer(netip.MustParseAddr("127.0.0.1"))
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := LookupMP(ctx, dial, addr, "PS1", "corp.example"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
