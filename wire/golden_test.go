package wire

import (
	"bytes"
	"compress/zlib"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current code")

// Fixed inputs for the golden files: ids, times, names.
var (
	gTime     = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	gSMSID    = "GUID:2F1B6C3E-8A4D-4E55-9B21-0C7D3E9A4F10"
	gClient   = "CLIENT1"
	gFQDN     = "client1.corp.example"
	gMP       = "mp1.corp.example"
	gSite     = "PS1"
	gReqID    = "{5DD100CD-DF1D-45F5-BA17-A327F43465F8}"
	gReplyID  = "{8E2A7D11-3C4B-4F6A-9D0E-1B2C3D4E5F60}"
	gCertDER  = []byte{0x30, 0x82, 0x01, 0x0A, 0x02, 0x82, 0x01, 0x01, 0x00, 0xC3, 0xA1, 0x5F}
	gPolicies = MachinePolicies()
)

func gRequestHeader(endpoint string, registered bool) MsgHeader {
	h := RequestHeader(endpoint, gClient, gMP, false)
	h.ID = gReqID
	h.SentTime = gTime
	if registered {
		h.SourceID = gSMSID
		h.ClientAuth = PlaceholderClientAuth(gClient)
	}
	return h
}

func gMessage(t testing.TB, h MsgHeader, xml []byte) []byte {
	t.Helper()
	p, err := EncodePayload(xml, true)
	if err != nil {
		t.Fatal(err)
	}
	return AppendMessage(nil, &h, p)
}

func gReply(t testing.TB, req MsgHeader, xml []byte) []byte {
	h := ReplyHeader(&req, gReplyID, "MP1", gTime)
	return gMessage(t, h, xml)
}

// goldenCases returns every golden document: name → bytes (multipart bodies end in
// _request / _reply; the rest are GET bodies).
func goldenCases(t testing.TB) map[string][]byte {
	reg := gRequestHeader(EndpointRegistration, false)
	pol := gRequestHeader(EndpointPolicy, true)
	loc := gRequestHeader(EndpointLocation, true)
	loc.Priority = 3
	ddr := gRequestHeader(EndpointDdrEndpoint, true)
	sts := gRequestHeader(EndpointStatusReceiver, true)
	client := ReportClient{ClientID: gSMSID, NetBIOSName: gClient}
	cases := map[string][]byte{
		"registration_request": gMessage(t, reg, AppendRegistrationRequest(nil, &RegistrationRequest{
			NetBIOSName: gClient, FQDN: gFQDN, TimeStamp: gTime})),
		"registration_reply": gReply(t, reg, AppendRegistrationReply(nil, &RegistrationReply{
			SMSID: gSMSID, TimeStamp: gTime, ApprovalStatus: 1})),
		"policy_request": gMessage(t, pol, AppendRequestAssignments(nil, &AssignmentRequest{
			ClientID: gSMSID, FQDN: gFQDN, NetBIOSName: gClient, PolicySource: "SMS:" + gSite})),
		"policy_reply": gReply(t, pol, AppendReplyAssignments(nil, &AssignmentReply{
			PolicySource: "SMS:" + gSite, Policies: gPolicies})),
		"siteinfo_request": gMessage(t, loc, AppendSiteInformationRequest(nil, gSite)),
		"siteinfo_reply": gReply(t, loc, AppendSiteInformationReply(nil, &SiteInfo{
			SiteCode: gSite, SiteName: "Primary Site 1", Version: "5.00.9141.1000", BuildNumber: 9141})),
		"contentlocation_request": gMessage(t, loc, AppendContentLocationRequest(nil, &ContentLocationRequest{
			PackageID: "PS100004", PackageVersion: 2, SiteCode: gSite, ADSite: "Default-First-Site-Name",
			Forest: "corp.example", Domain: "corp.example", IPAddress: "198.18.16.10", SubnetAddress: "198.18.16.0"})),
		"contentlocation_reply": gReply(t, loc, AppendContentLocationReply(nil, &ContentLocationReply{
			SiteCode: gSite, Locations: []ContentLocation{{ServerName: "dp1.corp.example",
				URL: "http://dp1.corp.example/SMS_DP_SMSPKG$/PS100004", ADSite: "Default-First-Site-Name",
				Subnet: "198.18.16.0", Metric: 1, Locality: "LOCAL"}}})),
		"ddr_request": gMessage(t, ddr, AppendHeartbeatDDR(nil, &HeartbeatDDR{Client: client, Date: gTime,
			FQDN: gFQDN, Domain: "CORP", SiteCode: gSite, IP: "198.18.16.10"})),
		"status_request": gMessage(t, sts, AppendStatusMessage(nil, &StatusMessage{Client: client, Date: gTime,
			Component: "PolicyAgent", MessageID: 10002, Severity: 0x40000000})),
		"mplist": AppendMPList(nil, []MPListEntry{
			{Name: "MP1", FQDN: gMP, SiteCode: gSite, Version: 9141},
			{Name: "MP2", FQDN: "mp2.corp.example", SiteCode: gSite, Version: 9141, SSLState: 1}}),
		"mpcert":       AppendX509Certificate(nil, gCertDER),
		"sitesigncert": AppendX509Certificate(nil, gCertDER[2:]),
		"mpkeyinfo": AppendMPKeyInfo(nil, &MPKeyInfo{Name: "MP1", FQDN: gMP, SiteCode: gSite,
			SigningCert: gCertDER, EncryptionCert: gCertDER}, false),
		"mpkeyinfoex": AppendMPKeyInfo(nil, &MPKeyInfo{Name: "MP1", FQDN: gMP, SiteCode: gSite,
			SigningCert: gCertDER, EncryptionCert: gCertDER}, true),
		"mpkeyinfomedia": AppendMediaKeyInfo(nil, &MediaKeyInfo{MPName: "MP1", FQDN: gMP, SiteCode: gSite,
			X64Unknown: "{51A01B75-0D36-4B4E-8B0A-000000000001}", X86Unknown: "{51A01B75-0D36-4B4E-8B0A-000000000002}",
			SigningCert: gCertDER, EncryptionCert: gCertDER}),
		"clientaffinity": AppendClientAffinity(nil, gSMSID, []string{`CORP\alice`}),
		"policy_body": AppendPolicyBody(nil, &PolicyBody{ID: gPolicies[0].ID, Version: gPolicies[0].Version,
			Source: "SMS:" + gSite, Category: gPolicies[0].Category, Size: 2048}),
		"naaconfig_policy_body": AppendPolicyBody(nil, &PolicyBody{ID: gPolicies[3].ID, Version: gPolicies[3].Version,
			Source: "SMS:" + gSite, Category: "NAAConfig"}),
	}
	ch, err := NewChallenge(&Negotiate{Flags: NTLMFlagUnicode | NTLMFlagRequestTarget | NTLMFlagNTLM |
		NTLMFlagAlwaysSign | NTLMFlagESS | NTLMFlagTargetInfo | NTLMFlagVersion | NTLMFlag128 | NTLMFlag56},
		&ChallengeConfig{NetBIOSDomain: "CORP", NetBIOSComputer: "MP1", DNSDomain: "corp.example",
			DNSComputer: gMP, Time: gTime, Rand: bytes.NewReader([]byte{1, 2, 3, 4, 5, 6, 7, 8})})
	if err != nil {
		t.Fatal(err)
	}
	cases["ntlm_challenge"] = ch.Message
	return cases
}

// TestGolden compares every document with its golden file, byte for byte.
func TestGolden(t *testing.T) {
	for name, got := range goldenCases(t) {
		path := filepath.Join("testdata", name+".golden")
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (run go test ./wire -run TestGolden -update)", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes differ from %s (%d bytes); rerun with -update if intended", name, len(got), path, len(want))
		}
	}
}

// TestGoldenFacts checks facts of the golden multipart bodies without the codec: the
// boundary, the part content types, the BOM, the UTF-16LE header, the zlib magic and
// the NUL terminator, and that Body Length counts the plain UTF-16 bytes.
func TestGoldenFacts(t *testing.T) {
	const b = "aAbBcCdDv1234567890VxXyYzZ"
	lengthRe := regexp.MustCompile(`<Body Type="ByteRange" Length="(\d+)" Offset="0" />`)
	files, err := filepath.Glob("testdata/*_re*.golden")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden bodies: %v", err)
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		head := "--" + b + "\r\ncontent-type: text/plain; charset=UTF-16\r\n\r\n"
		if !bytes.HasPrefix(body, []byte(head)) {
			t.Fatalf("%s: does not open with the boundary and the UTF-16 header part", f)
		}
		rest := body[len(head):]
		if rest[0] != 0xFF || rest[1] != 0xFE {
			t.Fatalf("%s: header part does not start with the UTF-16LE BOM FF FE", f)
		}
		mid := "\r\n--" + b + "\r\ncontent-type: application/octet-stream\r\n\r\n"
		i := bytes.Index(rest, []byte(mid))
		if i < 0 {
			t.Fatalf("%s: no application/octet-stream part", f)
		}
		hdr := rest[2:i]
		u := make([]uint16, len(hdr)/2)
		for k := range u {
			u[k] = uint16(hdr[2*k]) | uint16(hdr[2*k+1])<<8
		}
		header := string(utf16.Decode(u))
		if !strings.HasPrefix(header, `<Msg `) || !strings.Contains(header, `SchemaVersion="1.1"`) || !strings.HasSuffix(header, "</Msg>") {
			t.Fatalf("%s: header is not a UTF-16LE <Msg SchemaVersion=\"1.1\">: %.80q", f, header)
		}
		tail := "\r\n--" + b + "--\r\n"
		if !bytes.HasSuffix(rest, []byte(tail)) {
			t.Fatalf("%s: does not close with the boundary", f)
		}
		payload := rest[i+len(mid) : len(rest)-len(tail)]
		hooked := strings.Contains(header, `<Hook3 Name="zlib-compress" />`)
		plain := payload
		if hooked {
			if payload[0] != 0x78 || (payload[1] != 0x9C && payload[1] != 0xDA) {
				t.Fatalf("%s: zlib-compress hook but payload starts % x", f, payload[:2])
			}
			zr, err := zlib.NewReader(bytes.NewReader(payload))
			if err != nil {
				t.Fatal(err)
			}
			if plain, err = io.ReadAll(zr); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		} else if payload[0] == 0x78 {
			t.Fatalf("%s: zlib magic without the hook", f)
		}
		if !bytes.HasSuffix(plain, []byte{0, 0}) || len(plain)%2 != 0 {
			t.Fatalf("%s: payload is not UTF-16 text with a NUL terminator", f)
		}
		if plain[0] == 0xFF && plain[1] == 0xFE {
			t.Fatalf("%s: payload carries a BOM; real payloads do not", f)
		}
		if plain[0] != '<' || plain[1] != 0 {
			t.Fatalf("%s: payload does not start with UTF-16LE '<'", f)
		}
		m := lengthRe.FindStringSubmatch(header)
		if m == nil {
			t.Fatalf("%s: no Body Length", f)
		}
		if n, _ := strconv.Atoi(m[1]); n != len(plain) {
			t.Fatalf("%s: Body Length %d, plain UTF-16 payload %d bytes", f, n, len(plain))
		}
	}
}

// TestGoldenUncompressed checks the plain-payload layout (no hook, no zlib) the same way.
func TestGoldenUncompressed(t *testing.T) {
	h := gRequestHeader(EndpointLocation, false)
	p, err := EncodePayload(AppendSiteInformationRequest(nil, gSite), false)
	if err != nil {
		t.Fatal(err)
	}
	body := AppendMessage(nil, &h, p)
	mid := []byte("content-type: application/octet-stream\r\n\r\n")
	i := bytes.Index(body, mid)
	payload := body[i+len(mid) : len(body)-len("\r\n--"+Boundary+"--\r\n")]
	if payload[0] == 0x78 || !bytes.HasSuffix(payload, []byte{0, 0}) || bytes.Contains(body, []byte("z\x00l\x00i\x00b\x00-\x00c")) {
		t.Fatalf("plain payload: % x…", payload[:4])
	}
	if h.Compressed || h.BodyLength != len(payload) {
		t.Fatalf("header says compressed=%v length=%d for %d plain bytes", h.Compressed, h.BodyLength, len(payload))
	}
}
