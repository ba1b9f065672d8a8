package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseWrk(t *testing.T) {
	for _, tc := range []struct {
		file     string
		requests int64
		elapsed  time.Duration
		errors   int64
	}{
		{"wrk.txt", 21302, 2100 * time.Millisecond, 0},
		{"wrk-errors.txt", 44871, time.Minute, 13},
	} {
		r, err := parseWrk(readTestdata(t, tc.file))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if r.Requests != tc.requests || r.Elapsed != tc.elapsed || r.Errors() != tc.errors {
			t.Errorf("%s: %d requests in %s, %d errors; want %d in %s, %d", tc.file, r.Requests, r.Elapsed, r.Errors(),
				tc.requests, tc.elapsed, tc.errors)
		}
	}
	if _, err := parseWrk([]byte("unable to connect to 127.0.0.1:1 Connection refused\n")); err == nil {
		t.Error("no summary: want an error")
	}
}

func TestParseWrkTime(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"850.00us": 850 * time.Microsecond, "12.50ms": 12500 * time.Microsecond, "15.00s": 15 * time.Second,
		"1.50m": 90 * time.Second, "2.00h": 2 * time.Hour,
	} {
		if got, err := parseWrkTime(in); err != nil || got != want {
			t.Errorf("parseWrkTime(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "s", "1.0x", "-1s", "NaNs"} {
		if _, err := parseWrkTime(in); err == nil {
			t.Errorf("parseWrkTime(%q): want an error", in)
		}
	}
}

func TestParseHey(t *testing.T) {
	for _, tc := range []struct {
		file             string
		requests, errors int64
		total            time.Duration
	}{
		{"hey.txt", 1000, 0, 2008600 * time.Microsecond},
		{"hey-errors.txt", 20, 20, 1800 * time.Microsecond},
	} {
		r, err := parseHey(readTestdata(t, tc.file))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if r.Requests() != tc.requests || r.Errors() != tc.errors || r.Total != tc.total {
			t.Errorf("%s: %d requests, %d errors in %s; want %d, %d in %s", tc.file, r.Requests(), r.Errors(), r.Total,
				tc.requests, tc.errors, tc.total)
		}
	}
	if _, err := parseHey([]byte("Usage: hey [options...] <url>\n")); err == nil {
		t.Error("no summary: want an error")
	}
}

func TestParseVegeta(t *testing.T) {
	r, err := parseVegeta(readTestdata(t, "vegeta.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 400 || r.Errors() != 0 || r.Rate < 200 || r.Rate > 201 {
		t.Errorf("%d requests, %d errors at %.1f/s; want 400, 0 at 200.5", r.Requests, r.Errors(), r.Rate)
	}
	r.StatusCodes = map[string]int64{"200": 10, "0": 2, "503": 1, "302": 1}
	if r.Errors() != 3 {
		t.Errorf("errors of %v = %d, want 3", r.StatusCodes, r.Errors())
	}
}

func TestParseStatCPU(t *testing.T) {
	// A real line's shape, with a command name holding ") (" to show fields count from the last ')'.
	line := "4242 (portlab) (x) S 1 4242 4242 0 -1 4194560 1510 0 0 0 250 37 0 0 20 0 9 0 123 1900000000 5000 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0\n"
	c, err := parseStatCPU([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if c.User != 2500*time.Millisecond || c.Sys != 370*time.Millisecond {
		t.Errorf("user %s system %s, want 2.5s and 370ms", c.User, c.Sys)
	}
	if _, err := parseStatCPU([]byte("4242 (x) S 1 2 3")); err == nil {
		t.Error("short line: want an error")
	}
	// This process's own line parses.
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Error(err)
	}
}

func TestParseSNMP(t *testing.T) {
	snmp := "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails\nTcp: 1 200 120000 -1 1234 5678 9\nUdp: InDatagrams\nUdp: 3\n"
	if n, err := parseSNMP([]byte(snmp), "Tcp", "PassiveOpens"); err != nil || n != 5678 {
		t.Errorf("PassiveOpens = %d, %v; want 5678", n, err)
	}
	if _, err := parseSNMP([]byte(snmp), "Tcp", "Nope"); err == nil {
		t.Error("unknown counter: want an error")
	}
	if _, err := tcpPassiveOpens(); err != nil {
		t.Error(err)
	}
}

func TestParseMPSummary(t *testing.T) {
	out := "mp1 (site PS1, rsa-2048 key) serving; Ctrl-C stops\nhttp  http://127.0.0.1:45857/SMS_MP/.sms_aut?MPLIST\n" +
		"stopped: 80936 requests (200:80936), 0 registered, TLS handshakes 0 full 0 resumed, NTLM 0 authenticated, 0 pushes, CPU 3.08s user 4.03s system, RSS 55.0 MiB\n"
	s, err := parseMPSummary(out)
	if err != nil || s.Requests != 80936 {
		t.Errorf("parseMPSummary = %+v, %v; want 80936 requests", s, err)
	}
	if _, err := parseMPSummary("mp1 serving\n"); err == nil {
		t.Error("no summary: want an error")
	}
}

func FuzzParseWrk(f *testing.F) {
	f.Add(readTestdata(f, "wrk.txt"))
	f.Add(readTestdata(f, "wrk-errors.txt"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseWrk(b)
		if err == nil && (r.Requests < 0 || r.Elapsed < 0 || r.Errors() < 0) {
			t.Errorf("negative figures without an error: %+v", r)
		}
	})
}

func FuzzParseHey(f *testing.F) {
	f.Add(readTestdata(f, "hey.txt"))
	f.Add(readTestdata(f, "hey-errors.txt"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseHey(b)
		if err == nil && (r.Requests() < 0 || r.Errors() < 0 || r.Total < 0) {
			t.Errorf("negative figures without an error: %+v", r)
		}
	})
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add([]byte("1 (a) S 1 1 1 0 -1 0 0 0 0 0 250 37 0 0 20 0 1 0 1 1 1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseStatCPU(b)
		if err == nil && (c.User < 0 || c.Sys < 0) {
			t.Errorf("negative times without an error: %+v", c)
		}
	})
}
