package mp

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"strconv"
	"testing"

	"github.com/portlab/portlab/wire"
)

// TestEndpoints runs every endpoint and verb on every request port: HTTP and HTTPS,
// default and alternate.
func TestEndpoints(t *testing.T) {
	s := startServer(t, func(c *Config) { c.PolicyBytes = 5000 })
	c := client(s)
	msg := func(ep string) ([]byte, string) {
		b, ct, err := wire.BuildMessage(wire.Header{ID: "m1", SourceID: "GUID:1", SourceHost: "C1", TargetEndpoint: ep, Group: "g"}, []byte("<payload/>"))
		if err != nil {
			t.Fatal(err)
		}
		return b, ct
	}
	for _, role := range []Role{RoleHTTP, RoleHTTPAlt, RoleHTTPS, RoleHTTPSAlt} {
		base := baseURL(s, role)
		port := int(s.Addrs().Get(role).Port())
		t.Run(string(role), func(t *testing.T) {
			// Location queries.
			a := do(t, c, "GET", base+wire.PathAut+"?"+wire.QueryMPList, "", nil)
			if a.status != 200 {
				t.Fatalf("MPLIST: %d %s", a.status, a.body)
			}
			var l wire.MPList
			if err := xml.Unmarshal(a.body, &l); err != nil {
				t.Fatalf("MPLIST XML: %v\n%s", err, a.body)
			}
			// A real MPLIST names the MP and its capabilities, never its ports.
			if len(l.MPs) != 1 || l.MPs[0].Name != "mp1" || l.MPs[0].SiteCode != "PS1" || l.MPs[0].HTTPPort != 0 ||
				!bytes.Contains(a.body, []byte(`<Version>9141</Version>`)) || !bytes.Contains(a.body, []byte(`<Property Name="SSLState" Value="1">`)) {
				t.Fatalf("MPLIST %+v\n%s", l.MPs, a.body)
			}
			for _, q := range []string{wire.QueryMPCert, wire.QuerySiteSign} {
				a := do(t, c, "GET", base+wire.PathAut+"?"+q, "", nil)
				if _, err := hex.DecodeString(string(a.body)); a.status != 200 || err != nil || len(a.body) < 100 {
					t.Fatalf("%s: %d %v %.40s", q, a.status, err, a.body)
				}
			}
			if a := do(t, c, "GET", base+wire.PathAut+"?"+wire.QueryMPKeyInfo, "", nil); a.status != 200 || !bytes.Contains(a.body, []byte("<SITECODE>PS1</SITECODE>")) {
				t.Fatalf("MPKEYINFORMATION: %d %s", a.status, a.body)
			}
			if a := do(t, c, "GET", base+wire.PathAut+"?NOSUCH", "", nil); a.status != 404 {
				t.Fatalf("unknown query: %d", a.status)
			}
			// Verbs.
			if a := do(t, c, "HEAD", base+wire.PathAut+"?"+wire.QueryMPList, "", nil); a.status != 200 || len(a.body) != 0 || a.header.Get("Content-Length") == "0" {
				t.Fatalf("HEAD: %d %q %v", a.status, a.body, a.header)
			}
			if a := do(t, c, wire.MethodPropfind, base+wire.PathAut, "", nil); a.status != http.StatusMultiStatus || !bytes.Contains(a.body, []byte("multistatus")) {
				t.Fatalf("PROPFIND: %d %s", a.status, a.body)
			}
			if a := do(t, c, wire.MethodBITSPost, base+wire.PathRequest, "", []byte("fragment")); a.status != 200 || a.header.Get("BITS-Packet-Type") != "Ack" {
				t.Fatalf("BITS_POST: %d %v", a.status, a.header)
			}
			for _, m := range []string{"DELETE", "PUT", "OPTIONS", "POST"} {
				if a := do(t, c, m, base+wire.PathRequest, "", nil); a.status != 405 || a.header.Get("Allow") == "" {
					t.Fatalf("%s: %d allow %q", m, a.status, a.header.Get("Allow"))
				}
			}
			if a := do(t, c, wire.MethodCCMPost, base+wire.PathAut, "", nil); a.status != 405 {
				t.Fatalf("CCM_POST on .sms_aut: %d", a.status)
			}
			if a := do(t, c, "GET", base+"/nowhere", "", nil); a.status != 404 {
				t.Fatalf("unknown path: %d", a.status)
			}
			// Policy bodies.
			if a := do(t, c, "GET", base+wire.PathPolicy+"?MachinePolicy&guid=1", "", nil); a.status != 200 || len(a.body) != 5000 {
				t.Fatalf("policy: %d, %d bytes", a.status, len(a.body))
			}
			// CCM messages, both request paths, every endpoint.
			for _, path := range []string{wire.PathRequest, wire.PathRequestWinAuth} {
				for _, ep := range wire.Endpoints() {
					body, ct := msg(ep)
					a := do(t, c, wire.MethodCCMPost, base+path, ct, body)
					if a.status != 200 {
						t.Fatalf("%s %s: %d %s", path, ep, a.status, a.body)
					}
					h, payload, err := wire.ParseMessage(a.header.Get("Content-Type"), bytes.NewReader(a.body), 1<<20)
					if err != nil || h.ReplyTo != ep || h.ID != "m1" || h.Group != "g" || len(payload) == 0 {
						t.Fatalf("%s reply: %+v %v", ep, h, err)
					}
				}
			}
			body, ct := msg("MP_NoSuchEndpoint")
			if a := do(t, c, wire.MethodCCMPost, base+wire.PathRequest, ct, body); a.status != 404 {
				t.Fatalf("unknown endpoint: %d", a.status)
			}
			if a := do(t, c, wire.MethodCCMPost, base+wire.PathRequest, ct, []byte("garbage")); a.status != 400 {
				t.Fatalf("malformed multipart: %d", a.status)
			}
			if a := do(t, c, wire.MethodCCMPost, base+wire.PathRequest, "text/plain", body); a.status != 400 {
				t.Fatalf("wrong content type: %d", a.status)
			}
			snap := s.Snapshot()
			if n := countFor(snap, LabelMPList, port, 200); n != 2 { // GET and HEAD
				t.Fatalf("MPLIST on port %d counted %d times", port, n)
			}
			if n := countFor(snap, wire.EndpointPolicy, port, 200); n != 2 {
				t.Fatalf("policy requests on port %d counted %d", port, n)
			}
		})
	}
	snap := s.Snapshot()
	for _, tr := range []string{"http", "https"} {
		if ts := snap.Transports[tr]; ts.BytesIn == 0 || ts.BytesOut == 0 || ts.Accepted == 0 {
			t.Fatalf("%s transport counters: %+v", tr, ts)
		}
	}
	if snap.TLS.Full == 0 {
		t.Fatalf("TLS: %+v", snap.TLS)
	}
	if snap.Process.RSSBytes == 0 || snap.Process.Err != "" {
		t.Fatalf("process: %+v", snap.Process)
	}
}

func countFor(s Snapshot, endpoint string, port, status int) uint64 {
	var n uint64
	for _, r := range s.Requests {
		if r.Endpoint == endpoint && r.Port == port && r.Status == status {
			n += r.Count
		}
	}
	return n
}

// TestTLSResumption: with resumption on, a second connection resumes; with it off, it
// cannot. Each key type serves a handshake.
func TestTLSResumption(t *testing.T) {
	for _, tc := range []struct {
		key    string
		resume bool
	}{{KeyECDSAP256, true}, {KeyRSA2048, true}, {KeyECDSAP256, false}} {
		t.Run(tc.key+"/resume="+strconv.FormatBool(tc.resume), func(t *testing.T) {
			s := startServer(t, func(c *Config) {
				c.TLS.Key = tc.key
				c.TLS.Resumption = tc.resume
				c.Listen = Listen{HTTPS: lo0}
			})
			cache := tls.NewLRUClientSessionCache(4)
			for range 3 {
				c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
					TLSClientConfig: &tls.Config{RootCAs: s.CA().Pool(), ClientSessionCache: cache}}}
				if a := do(t, c, "GET", baseURL(s, RoleHTTPS)+wire.PathAut+"?"+wire.QueryMPList, "", nil); a.status != 200 {
					t.Fatal(a.status)
				}
			}
			st := s.Snapshot().TLS
			if st.Full+st.Resumed != 3 {
				t.Fatalf("handshakes %+v, want 3", st)
			}
			if tc.resume && st.Resumed == 0 || !tc.resume && st.Resumed != 0 {
				t.Fatalf("resumption %v: %+v", tc.resume, st)
			}
		})
	}
}

// TestKnobs: error rate, service time distributions, connection limit.
func TestKnobs(t *testing.T) {
	s := startServer(t, func(c *Config) { c.ErrorRate = 1; c.Listen = Listen{HTTP: lo0} })
	c := client(s)
	seen := map[int]int{}
	for range 40 {
		seen[do(t, c, "GET", baseURL(s, RoleHTTP)+wire.PathAut+"?"+wire.QueryMPList, "", nil).status]++
	}
	if seen[500] == 0 || seen[503] == 0 || seen[500]+seen[503] != 40 {
		t.Fatalf("error_rate 1: %v", seen)
	}

	for _, st := range []ServiceTime{
		{Dist: "fixed", Mean: Duration(3e6)},
		{Dist: "uniform", Min: Duration(1e6), Max: Duration(2e6)},
		{Dist: "exponential", Mean: Duration(1e6)},
	} {
		tm, err := newServiceTimer(st, 7)
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		for range 2000 {
			d, fail := tm.draw()
			if fail != 0 || d < 0 || st.Dist == "uniform" && (d < st.Min.D() || d > st.Max.D()) {
				t.Fatalf("%s: drew %v %d", st.Dist, d, fail)
			}
			sum += float64(d)
		}
		mean := sum / 2000
		want := map[string]float64{"fixed": 3e6, "uniform": 1.5e6, "exponential": 1e6}[st.Dist]
		if mean < want*0.9 || mean > want*1.1 {
			t.Fatalf("%s: mean %v, want about %v", st.Dist, mean, want)
		}
	}
	if _, err := newServiceTimer(ServiceTime{Dist: "uniform", Min: Duration(2), Max: Duration(1)}, 0); err == nil {
		t.Fatal("uniform min > max accepted")
	}
}
