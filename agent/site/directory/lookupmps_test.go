package directory

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

// LookupMPs reads what Lookup reads of the MPs and their ports, in two round trips, and
// reports a removed publication and a site without MPs the same way.
func TestLookupMPs(t *testing.T) {
	s, ldapAddr, gcAddr := startServer(t, testPublication())
	for _, addr := range []netip.AddrPort{ldapAddr, gcAddr} {
		full, err := lookup(t, addr, "corp.example", "PS1")
		if err != nil {
			t.Fatal(err)
		}
		light, err := LookupMPs(context.Background(), dial(t, addr), "corp.example", "ps1")
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		if light.Ports != full.Ports || len(light.MPs) != len(full.MPs) || light.MPs[0] != full.MPs[0] || light.MPs[1] != full.MPs[1] || light.SiteCode != "PS1" {
			t.Errorf("%s: LookupMPs %+v, Lookup %+v", addr, light, full)
		}
	}
	if _, err := LookupMPs(context.Background(), dial(t, gcAddr), "corp.example", "XYZ"); !errors.Is(err, ErrNoMP) {
		t.Errorf("site without MPs: %v", err)
	}
	pub := testPublication()
	pub.Enabled = false
	if err := s.Publish(pub); err != nil {
		t.Fatal(err)
	}
	if _, err := LookupMPs(context.Background(), dial(t, gcAddr), "corp.example", "PS1"); !errors.Is(err, ErrNotPublished) {
		t.Errorf("publication removed: %v", err)
	}
	if _, err := LookupMPs(context.Background(), dial(t, gcAddr), "corp..example", "PS1"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("bad domain: %v", err)
	}
	st := s.Stats()
	if st[1].RootDSE != 1 { // only the one full Lookup read the RootDSE on the GC
		t.Errorf("global catalog RootDSE reads %d, want 1", st[1].RootDSE)
	}
}

func BenchmarkLookupMPs(b *testing.B) {
	_, addr, _ := startServer(b, testPublication())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LookupMPs(ctx, dial(b, addr), "corp.example", "PS1"); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzLookupMPsAnswers: LookupMPs's own LDAP reader takes any answer stream without
// panicking or hanging, and what it returns is well formed. The seeds are a real
// server's answers.
func FuzzLookupMPsAnswers(f *testing.F) { fuzzAnswers(f, LookupMPs) }

// BenchmarkLookupMPsClient is the client's share alone, against recorded answers (as
// BenchmarkLookupClient for Lookup).
func BenchmarkLookupMPsClient(b *testing.B) { benchClient(b, LookupMPs) }
