package sitedns

import (
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// These tests drive BIND's dig (Debian package bind9-dnsutils) against the server.

func dig(t *testing.T, server netip.AddrPort, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("dig")
	if err != nil {
		t.Skip("dig not installed (apt-get install bind9-dnsutils; make test-tools)")
	}
	full := append([]string{"@" + server.Addr().String(), "-p", fmt.Sprint(server.Port()), "+time=2", "+tries=1"}, args...)
	out, err := exec.Command(bin, full...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %s: %v\n%s", strings.Join(full, " "), err, out)
	}
	t.Logf("dig %s\n%s", strings.Join(full, " "), out)
	return string(out)
}

// section returns the records of one section of dig's output, whitespace squeezed.
func section(out, name string) []string {
	var recs []string
	in := false
	for line := range strings.SplitSeq(out, "\n") {
		switch {
		case strings.HasPrefix(line, ";; "+name+" SECTION:"):
			in = true
		case in && (line == "" || strings.HasPrefix(line, ";;")):
			in = false
		case in:
			recs = append(recs, strings.Join(strings.Fields(line), " "))
		}
	}
	slices.Sort(recs)
	return recs
}

var statusRE = regexp.MustCompile(`status: ([A-Z]+)`)

func status(out string) string {
	if m := statusRE.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}

func TestInteropDigSRV(t *testing.T) {
	s, addr := startServer(t, testZone())
	for _, transport := range [][]string{nil, {"+tcp"}} {
		out := dig(t, addr, append([]string{"_mssms_mp_ps1._tcp.corp.example", "SRV"}, transport...)...)
		if status(out) != "NOERROR" || !strings.Contains(out, " aa") {
			t.Errorf("%v: status %q or not authoritative", transport, status(out))
		}
		wantAnswer := []string{
			"_mssms_mp_ps1._tcp.corp.example. 14400 IN SRV 0 0 443 mp1.corp.example.",
			"_mssms_mp_ps1._tcp.corp.example. 14400 IN SRV 0 0 80 mp2.corp.example.",
		}
		if got := section(out, "ANSWER"); !slices.Equal(got, wantAnswer) {
			t.Errorf("%v: answer %q, want %q", transport, got, wantAnswer)
		}
		wantExtra := []string{"mp1.corp.example. 3600 IN A 198.18.1.10", "mp2.corp.example. 3600 IN A 198.18.1.11"}
		if got := section(out, "ADDITIONAL"); !slices.Equal(got, wantExtra) {
			t.Errorf("%v: additional %q, want %q", transport, got, wantExtra)
		}
	}
	if st := s.Stats(); st.UDP.SRV != 1 || st.TCP.SRV != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestInteropDigStaleRecord(t *testing.T) {
	s, addr := startServer(t, testZone())
	// Someone published PS2's MP by hand, at the port of the day.
	if err := s.AddStatic("_mssms_mp_ps2._tcp.corp.example. 14400 IN SRV 0 0 8080 mp3.corp.example."); err != nil {
		t.Fatal(err)
	}
	z := testZone()
	z.MPs[2].HTTPPort = 8081 // the site moves PS2's HTTP port; the site republishes
	if err := s.Publish(z); err != nil {
		t.Fatal(err)
	}
	out := dig(t, addr, "+tcp", "_mssms_mp_ps2._tcp.corp.example", "SRV")
	want := []string{
		"_mssms_mp_ps2._tcp.corp.example. 14400 IN SRV 0 0 8080 mp3.corp.example.", // the stale hand-made record
		"_mssms_mp_ps2._tcp.corp.example. 14400 IN SRV 0 0 8081 mp3.corp.example.", // the site's current one
	}
	if got := section(out, "ANSWER"); !slices.Equal(got, want) {
		t.Errorf("answer %q, want %q", got, want)
	}
}

func TestInteropDigErrors(t *testing.T) {
	_, addr := startServer(t, testZone())
	for name, want := range map[string]string{
		"nope.corp.example":      "NXDOMAIN",
		"www.other.example":      "REFUSED",
		"mp1.corp.example. AAAA": "NOERROR",
	} {
		out := dig(t, addr, strings.Fields(name)...)
		if got := status(out); got != want {
			t.Errorf("%s: status %q, want %q", name, got, want)
		}
		if want != "REFUSED" && len(section(out, "AUTHORITY")) != 1 {
			t.Errorf("%s: authority %q, want the SOA", name, section(out, "AUTHORITY"))
		}
	}
}
