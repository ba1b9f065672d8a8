package mp

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portlab/portlab/wire"
)

// ccmRequest builds a CCM_POST body to ep as a real client sends it (wire's codec).
func ccmRequest(t testing.TB, ep, sourceID string, payload []byte) []byte {
	t.Helper()
	h := wire.RequestHeader(ep, "CLIENT1", "MP1", false)
	h.ID, h.SourceID, h.SentTime = "{11111111-2222-3333-4444-555555555555}", sourceID, time.Now()
	var e wire.Encoder
	body, err := e.Message(nil, &h, payload, true)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// ccmReply reads the MP's reply to a CCM_POST.
func ccmReply(t testing.TB, a getResult) (wire.MsgHeader, []byte) {
	t.Helper()
	h, payload, err := wire.ReadMessage(a.header.Get("Content-Type"), a.body, wire.Limits{})
	if err != nil {
		t.Fatalf("reply: %v\n%q", err, a.body)
	}
	return h, payload
}

// TestEndpoints runs every location query, policy body, endpoint and verb on every
// request port (HTTP and HTTPS, default and alternate), with the bytes real clients
// send.
func TestEndpoints(t *testing.T) {
	s := startServer(t, func(c *Config) { c.PolicyBytes = 5000; c.Domain = "corp.example" })
	c := client(s)
	for _, role := range []Role{RoleHTTP, RoleHTTPAlt, RoleHTTPS, RoleHTTPSAlt} {
		base := baseURL(s, role)
		port := int(s.Addrs().Get(role).Port())
		t.Run(string(role), func(t *testing.T) {
			// Location queries.
			for _, q := range []string{wire.QueryMPList, wire.QueryMPList1 + "&PS1", wire.QueryMPList2 + "&ps1", "mplist"} {
				a := do(t, c, "GET", base+wire.PathAut+"?"+q, "", nil)
				l, err := wire.ParseMPList(a.body)
				// A real MPLIST names the MP and its capabilities, never its ports.
				if a.status != 200 || err != nil || len(l) != 1 || l[0].Name != "MP1" || l[0].FQDN != "mp1.corp.example" ||
					l[0].SiteCode != "PS1" || l[0].SSLState != 1 || bytes.Contains(a.body, []byte(strconv.Itoa(port))) {
					t.Fatalf("%s: %d %v %+v\n%s", q, a.status, err, l, a.body)
				}
			}
			if a := do(t, c, "GET", base+wire.PathAut+"?"+wire.QueryMPList1+"&XY1", "", nil); a.status != 200 || bytes.Contains(a.body, []byte("<MP ")) {
				t.Fatalf("MPLIST of another site: %d %s", a.status, a.body)
			}
			for _, q := range []string{wire.QueryMPCert, wire.QuerySiteSign} {
				a := do(t, c, "GET", base+wire.PathAut+"?"+q, "", nil)
				der, err := wire.ParseX509Certificate(a.body)
				if err == nil {
					_, err = x509.ParseCertificate(der)
				}
				if a.status != 200 || err != nil {
					t.Fatalf("%s: %d %v %.60s", q, a.status, err, a.body)
				}
			}
			for _, q := range []string{wire.QueryMPKeyInfo, wire.QueryMPKeyInfoEx, wire.QueryMPKeyInfoMedia} {
				a := do(t, c, "GET", base+wire.PathAut+"?"+q, "", nil)
				if k, err := wire.ParseMPKeyInfo(a.body); a.status != 200 || err != nil || k.SiteCode != "PS1" {
					t.Fatalf("%s: %d %v %+v", q, a.status, err, k)
				}
			}
			if a := do(t, c, "GET", base+wire.PathAut+"?"+wire.QueryClientAffinity+"&GUID:12345678-1234-1234-1234-123456789012", "", nil); a.status != 200 {
				t.Fatalf("GETCLIENTAFFINITY: %d %s", a.status, a.body)
			}
			for _, q := range []string{"NOSUCH", wire.QueryMPCert + "&x", ""} {
				if a := do(t, c, "GET", base+wire.PathAut+"?"+q, "", nil); a.status != 404 {
					t.Fatalf("query %q: %d", q, a.status)
				}
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

			// Registration: an anonymous caller of windowsauth gets 401 with the offers;
			// the anonymous path assigns an SMSID, the same one again for the same client.
			reg := ccmRequest(t, wire.EndpointRegistration, "", wire.AppendRegistrationRequest(nil, &wire.RegistrationRequest{NetBIOSName: "CLIENT1", FQDN: "client1.corp.example"}))
			a := do(t, c, wire.MethodCCMPost, base+wire.PathRequestWinAuth, wire.ContentTypeCCM, reg)
			if offers := a.header.Values("WWW-Authenticate"); a.status != 401 || strings.Join(offers, ",") != "Negotiate,NTLM" {
				t.Fatalf("windowsauth, anonymous: %d %v", a.status, offers)
			}
			var smsid string
			for range 2 {
				a = do(t, c, wire.MethodCCMPost, base+wire.PathRequest, wire.ContentTypeCCM, reg)
				if a.status != 200 || a.header.Get("Content-Type") != wire.ContentTypeCCM {
					t.Fatalf("registration: %d %v %s", a.status, a.header, a.body)
				}
				h, payload := ccmReply(t, a)
				r, err := wire.ParseRegistrationReply(payload)
				if err != nil || !strings.HasPrefix(r.SMSID, "GUID:") || h.CorrelationID != "{11111111-2222-3333-4444-555555555555}" || !h.Compressed {
					t.Fatalf("registration reply %+v %+v %v", r, h, err)
				}
				if smsid != "" && r.SMSID != smsid {
					t.Fatalf("second registration: %s, first %s", r.SMSID, smsid)
				}
				smsid = r.SMSID
			}
			// Policy: the assignments, each location with the <mp> placeholder, and
			// each body served at the size asked.
			a = do(t, c, wire.MethodCCMPost, base+wire.PathRequest, wire.ContentTypeCCM,
				ccmRequest(t, wire.EndpointPolicy, smsid, wire.AppendRequestAssignments(nil, &wire.AssignmentRequest{ClientID: smsid, FQDN: "client1.corp.example", NetBIOSName: "CLIENT1", PolicySource: "SMS:PS1"})))
			if a.status != 200 {
				t.Fatalf("policy: %d %s", a.status, a.body)
			}
			_, payload := ccmReply(t, a)
			policies, err := wire.AppendPolicies(nil, payload)
			secret := false
			if err != nil || len(policies) < 4 {
				t.Fatalf("assignments %+v %v", policies, err)
			}
			for _, p := range policies {
				if !strings.Contains(p.Location, wire.MPPlaceholder) {
					t.Fatalf("policy %s location %q has no <mp>", p.ID, p.Location)
				}
				secret = secret || (p.Category == "NAAConfig" && p.Secret())
				loc := wire.ExpandMP(p.Location, s.Addrs().Get(role).String())
				_, pathQuery, _ := strings.Cut(strings.TrimPrefix(loc, "http://"), "/")
				b := do(t, c, "GET", base+"/"+pathQuery, "", nil)
				if info, err := wire.ParsePolicyBody(b.body); b.status != 200 || len(b.body) != 5000 || err != nil || info.ID != p.ID {
					t.Fatalf("policy body %s: %d, %d bytes, %v %+v", loc, b.status, len(b.body), err, info)
				}
			}
			if !secret {
				t.Fatalf("no NAAConfig policy flagged secret in %+v", policies)
			}
			if b := do(t, c, "GET", base+wire.PathPolicy+"?{00000000-0000-0000-0000-000000000000}.1_00", "", nil); b.status != 404 {
				t.Fatalf("unknown policy: %d", b.status)
			}
			// Location manager, heartbeat DDR, status message.
			a = do(t, c, wire.MethodCCMPost, base+wire.PathRequest, wire.ContentTypeCCM, ccmRequest(t, wire.EndpointLocation, smsid, wire.AppendSiteInformationRequest(nil, "PS1")))
			if _, payload := ccmReply(t, a); a.status != 200 {
				t.Fatalf("site information: %d", a.status)
			} else if si, err := wire.ParseSiteInformationReply(payload); err != nil || si.SiteCode != "PS1" || si.BuildNumber != mpBuild {
				t.Fatalf("site information %+v %v", si, err)
			}
			a = do(t, c, wire.MethodCCMPost, base+wire.PathRequest, wire.ContentTypeCCM, ccmRequest(t, wire.EndpointLocation, smsid,
				wire.AppendContentLocationRequest(nil, &wire.ContentLocationRequest{PackageID: "PS100001", SiteCode: "PS1"})))
			if _, payload := ccmReply(t, a); a.status != 200 {
				t.Fatalf("content location: %d", a.status)
			} else if cl, err := wire.ParseContentLocationReply(payload); err != nil || len(cl.Locations) == 0 {
				t.Fatalf("content location %+v %v", cl, err)
			}
			for ep, doc := range map[string][]byte{
				wire.EndpointDdrEndpoint:    wire.AppendHeartbeatDDR(nil, &wire.HeartbeatDDR{Client: wire.ReportClient{ClientID: smsid, NetBIOSName: "CLIENT1"}, FQDN: "client1.corp.example", SiteCode: "PS1"}),
				wire.EndpointStatusReceiver: wire.AppendStatusMessage(nil, &wire.StatusMessage{Client: wire.ReportClient{ClientID: smsid, NetBIOSName: "CLIENT1"}}),
			} {
				if a := do(t, c, wire.MethodCCMPost, base+wire.PathRequest, wire.ContentTypeCCM, ccmRequest(t, ep, smsid, doc)); a.status != 200 {
					t.Fatalf("%s: %d %s", ep, a.status, a.body)
				}
			}
			// What a real MP refuses.
			if a := do(t, c, wire.MethodCCMPost, base+wire.PathRequest, wire.ContentTypeCCM, ccmRequest(t, "MP_NoSuchEndpoint", smsid, []byte("<x/>"))); a.status != 404 {
				t.Fatalf("unknown endpoint: %d", a.status)
			}
			if a := do(t, c, wire.MethodCCMPost, base+wire.PathRequest, wire.ContentTypeCCM, []byte("garbage")); a.status != 400 {
				t.Fatalf("malformed multipart: %d", a.status)
			}
			if a := do(t, c, wire.MethodCCMPost, base+wire.PathRequest, "text/plain", reg); a.status != 400 {
				t.Fatalf("wrong content type: %d", a.status)
			}
			wantAlt := 403
			if role.Transport() == "https" {
				wantAlt = 200
			}
			if a := do(t, c, wire.MethodCCMPost, base+wire.PathRequestAltAuth, wire.ContentTypeCCM, reg); a.status != wantAlt {
				t.Fatalf("altauth over %s: %d, want %d", role.Transport(), a.status, wantAlt)
			}
			snap := s.Snapshot()
			if n := countFor(snap, LabelMPList, port, 200); n != 6 { // 5 GETs and a HEAD
				t.Fatalf("MPLIST on port %d counted %d times", port, n)
			}
			wantReg := uint64(2)
			if wantAlt == 200 {
				wantReg++
			}
			if n := countFor(snap, wire.EndpointRegistration, port, 200); n != wantReg {
				t.Fatalf("registrations on port %d counted %d", port, n)
			}
			if n := countFor(snap, LabelWindowsAuth, port, 401); n != 1 {
				t.Fatalf("windowsauth 401s on port %d counted %d", port, n)
			}
			if n := countFor(snap, LabelPolicyBody, port, 200); n != uint64(len(policies)) {
				t.Fatalf("policy bodies on port %d counted %d", port, n)
			}
		})
	}
	snap := s.Snapshot()
	for _, tr := range []string{"http", "https"} {
		if ts := snap.Transports[tr]; ts.BytesIn == 0 || ts.BytesOut == 0 || ts.Accepted == 0 {
			t.Fatalf("%s transport counters: %+v", tr, ts)
		}
	}
	if snap.TLS.Full == 0 || snap.Registry.Registered != 1 || snap.Auth.Anonymous != 4 {
		t.Fatalf("TLS %+v registry %+v auth %+v", snap.TLS, snap.Registry, snap.Auth)
	}
	if snap.Process.RSSBytes == 0 || snap.Process.Err != "" {
		t.Fatalf("process: %+v", snap.Process)
	}
}

// TestWindowsAuth: the NTLM handshake on one keep-alive connection authenticates it
// (negotiate → 401 with the challenge → authenticate → served, and served again
// without a header); a new connection starts over; listed accounts only when the
// configuration lists them.
func TestWindowsAuth(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Domain = "corp.example"; c.Accounts = []string{`CORP\CLIENT1$`} })
	url := baseURL(s, RoleHTTP) + wire.PathRequestWinAuth
	body := ccmRequest(t, wire.EndpointRegistration, "", wire.AppendRegistrationRequest(nil, &wire.RegistrationRequest{NetBIOSName: "CLIENT1", FQDN: "client1.corp.example"}))
	handshake := func(c *http.Client, acc wire.ComputerAccount) int {
		t.Helper()
		neg, err := acc.NegotiateToken()
		if err != nil {
			t.Fatal(err)
		}
		a := doAuth(t, c, url, wire.AuthHeaderValue("NTLM", neg), body)
		ch, err := wire.ParseAuthHeader(a.header.Get("WWW-Authenticate"))
		if a.status != 401 || err != nil {
			t.Fatalf("negotiate leg: %d %v %v", a.status, a.header, err)
		}
		auth, err := acc.AuthenticateToken(ch.NTLM)
		if err != nil {
			t.Fatal(err)
		}
		return doAuth(t, c, url, wire.AuthHeaderValue("NTLM", auth), body).status
	}
	oneConn := func() *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
	}
	c := oneConn()
	if st := handshake(c, wire.ComputerAccount{Domain: "CORP", User: "CLIENT1$"}); st != 200 {
		t.Fatalf("authenticate leg: %d", st)
	}
	if a := doAuth(t, c, url, "", body); a.status != 200 {
		t.Fatalf("the authenticated connection again: %d", a.status)
	}
	if a := doAuth(t, oneConn(), url, "", body); a.status != 401 {
		t.Fatalf("a new connection without credentials: %d", a.status)
	}
	if st := handshake(oneConn(), wire.ComputerAccount{Domain: "CORP", User: "CLIENT2$"}); st != 401 {
		t.Fatalf("an account not listed: %d", st)
	}
	if a := doAuth(t, oneConn(), url, "NTLM AAAA", body); a.status != 401 {
		t.Fatalf("a malformed token: %d", a.status)
	}
	snap := s.Snapshot()
	if snap.Auth.Authenticated != 1 || snap.Auth.Challenges != 2 || snap.Auth.Refused != 2 {
		t.Fatalf("auth counters %+v", snap.Auth)
	}
}

func doAuth(t testing.TB, c *http.Client, url, authz string, body []byte) getResult {
	t.Helper()
	req, err := http.NewRequest(wire.MethodCCMPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", wire.ContentTypeCCM)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return getResult{resp.StatusCode, resp.Header, b}
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
