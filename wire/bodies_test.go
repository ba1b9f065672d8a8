package wire

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestRegistrationRoundTrip(t *testing.T) {
	in := RegistrationRequest{NetBIOSName: "CLIENT1", FQDN: "client1.corp.example", TimeStamp: gTime,
		AgentIdentity: "CCMSetup.exe", AgentVersion: "5.00.9141.1000", RequestType: "Registration",
		LocaleID: 2057, Certificate: "3082ABCD", Signature: "FFEE"}
	got, err := ParseRegistrationRequest(AppendRegistrationRequest(nil, &in))
	if err != nil {
		t.Fatal(err)
	}
	if got != in {
		t.Fatalf("got %+v\nwant %+v", got, in)
	}
	reply := RegistrationReply{SMSID: gSMSID, Status: RegistrationOK, ResponseType: "Registration", TimeStamp: gTime, ApprovalStatus: 1}
	r, err := ParseRegistrationReply(AppendRegistrationReply(nil, &reply))
	if err != nil || r != reply {
		t.Fatalf("%+v %v", r, err)
	}
	if SMSIDGUID(r.SMSID) != "2F1B6C3E-8A4D-4E55-9B21-0C7D3E9A4F10" {
		t.Fatal(SMSIDGUID(r.SMSID))
	}
}

// TestRegistrationReplyForms: the SDK's documented reply, and the same in UTF-16 with
// a BOM and a terminator, as a client might hand it over raw.
func TestRegistrationReplyForms(t *testing.T) {
	doc := `<ClientRegistrationResponse ResponseType="Registration" TimeStamp="2006-12-07T22:56:31Z" Status="0" SMSID="GUID:1af488d8-7b42-4842-a4bd-b3a2842bbc42"/>`
	for _, b := range [][]byte{[]byte(doc), cat([]byte{0xFF, 0xFE}, u16le(doc), []byte{0, 0})} {
		r, err := ParseRegistrationReply(b)
		if err != nil || r.SMSID != "GUID:1af488d8-7b42-4842-a4bd-b3a2842bbc42" || r.Status != 0 {
			t.Fatalf("%+v %v", r, err)
		}
	}
	if _, err := ParseRegistrationReply([]byte(`<ClientRegistrationResponse Status="0"/>`)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("no SMSID: %v", err)
	}
	if r, err := ParseRegistrationReply([]byte(`<ClientRegistrationResponse Status="3"/>`)); err != nil || r.Status != RegistrationRejected {
		t.Fatalf("rejected: %+v %v", r, err)
	}
}

func TestAssignmentsRoundTrip(t *testing.T) {
	in := AssignmentRequest{ClientID: gSMSID, FQDN: gFQDN, NetBIOSName: gClient, PolicySource: "SMS:PS1", ResourceType: "Machine", RequestType: "Always"}
	got, err := ParseRequestAssignments(AppendRequestAssignments(nil, &in))
	if err != nil || got != in {
		t.Fatalf("%+v %v", got, err)
	}
	ps := MachinePolicies()
	for i := range ps {
		ps[i].AssignmentID = ps[i].ID
	}
	doc := AppendReplyAssignments(nil, &AssignmentReply{ClientID: gSMSID, NetBIOSName: gClient, PolicySource: "SMS:PS1", Policies: ps})
	back, err := AppendPolicies(nil, doc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, ps) {
		t.Fatalf("got %+v\nwant %+v", back, ps)
	}
	var secret []Policy
	for _, p := range back {
		if p.Secret() {
			secret = append(secret, p)
		}
	}
	if len(secret) != 1 || secret[0].Category != "NAAConfig" {
		t.Fatalf("secret policies %+v", secret)
	}
	loc := ExpandMP(secret[0].Location, "mp1.corp.example:8080")
	if loc != "http://mp1.corp.example:8080/SMS_MP/.sms_pol?{7C1A1F66-5C1B-4E38-9A0E-1D2B3C4D5E04}.2_00" {
		t.Fatal(loc)
	}
	// The regular expression sccmwtf applies to the reply must find the NAA location.
	if !bytes.Contains(doc, []byte(`PolicyCategory="NAAConfig" PolicyFlags="6"><PolicyLocation><![CDATA[http://<mp>/SMS_MP/.sms_pol?`)) {
		t.Fatal("NAAConfig location not in the sccmwtf-readable form")
	}
}

// TestAppendPoliciesHandWritten reads a reply laid out as public tools expect, with a
// policy lacking a category and a location that is plain text.
func TestAppendPoliciesHandWritten(t *testing.T) {
	doc := `<ReplyAssignments><PolicyAssignment PolicyAssignmentID="{A}"><Condition><Expression>x</Expression></Condition>` +
		`<Policy PolicyID="PS120003-PS100009-6F6BCC28" PolicyVersion="1.00" PolicyFlags="1"><PolicyLocation>http://&lt;mp&gt;/SMS_MP/.sms_pol?PS120003-PS100009-6F6BCC28.1_00</PolicyLocation></Policy>` +
		`</PolicyAssignment></ReplyAssignments>`
	ps, err := AppendPolicies(nil, []byte(doc))
	if err != nil || len(ps) != 1 || ps[0].Category != "" || ps[0].Flags != PolicyFlagTaskSequence || ps[0].AssignmentID != "{A}" ||
		ps[0].Location != "http://<mp>/SMS_MP/.sms_pol?PS120003-PS100009-6F6BCC28.1_00" {
		t.Fatalf("%+v %v", ps, err)
	}
	if _, err := AppendPolicies(nil, []byte(`<ReplyAssignments><PolicyAssignment><Policy PolicyFlags="x"/></PolicyAssignment></ReplyAssignments>`)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad flags: %v", err)
	}
}

func TestPolicyBody(t *testing.T) {
	for _, size := range []int{0, 100, 2048, 2049, 100000} {
		b := AppendPolicyBody(nil, &PolicyBody{ID: "{P}", Version: "3.00", Source: "SMS:PS1", Category: "ClientSettings", Size: size})
		if size >= 2048 && len(b) != size+size&1 {
			t.Fatalf("size %d: got %d bytes", size, len(b))
		}
		if b[0] != 0xFF || b[1] != 0xFE {
			t.Fatal("no BOM")
		}
		info, err := ParsePolicyBody(b)
		if err != nil || info.ID != "{P}" || info.Version != "3.00" || info.Source != "SMS:PS1" || info.Class != "CCM_ClientSettings" || info.Secrets != nil {
			t.Fatalf("size %d: %+v %v", size, info, err)
		}
	}
	naa := AppendPolicyBody(nil, &PolicyBody{ID: "{N}", Version: "2.00", Source: "SMS:PS1", Category: "NAAConfig", Size: 4096})
	info, err := ParsePolicyBody(naa)
	if err != nil || info.Class != "CCM_NetworkAccessAccount" || len(naa) != 4096 {
		t.Fatalf("%+v %v", info, err)
	}
	if v, ok := info.Secrets["NetworkAccessUsername"]; !ok || v != "" {
		t.Fatalf("username %q %v", v, ok)
	}
	if v, ok := info.Secrets["NetworkAccessPassword"]; !ok || v != "" || len(info.Secrets) != 2 {
		t.Fatalf("secrets %+v", info.Secrets)
	}
	// The decrypted real body layout (public write-ups), in UTF-8, with a credential.
	real := `<?xml version="1.0" ?><Policy PolicyType="Machine" SchemaVersion="1.00" PolicyID="{083a}" PolicyVersion="2.00" PolicySource="SMS:123"><PolicyRule PolicyRuleID="{ee0b}"><Condition><Expression ExpressionLanguage="WQL"><![CDATA[SELECT 1]]></Expression></Condition><PolicyAction PolicyActionType="WMI-XML"><instance class="CCM_NetworkAccessAccount"><property name="NetworkAccessUsername" type="8" secret="1"><value><![CDATA[8913ABCD]]></value></property></instance></PolicyAction></PolicyRule></Policy>`
	info, err = ParsePolicyBody([]byte(real))
	if err != nil || info.Secrets["NetworkAccessUsername"] != "8913ABCD" {
		t.Fatalf("%+v %v", info, err)
	}
}

func TestParsePolicyQuery(t *testing.T) {
	good := map[string]PolicyQuery{
		"{e98163c7-7b3a-4c3d-bb69-2b398c492290}.2_00":     {ID: "{e98163c7-7b3a-4c3d-bb69-2b398c492290}", Version: "2.00"},
		"%7Be98163c7-7b3a-4c3d-bb69-2b398c492290%7D.5_00": {ID: "{e98163c7-7b3a-4c3d-bb69-2b398c492290}", Version: "5.00"},
		"PS120003-PS100009-6F6BCC28.1_00":                 {ID: "PS120003-PS100009-6F6BCC28", Version: "1.00"},
		"COMGMT00.SHA256:7384DAF9584877D5D0C40497F4008CAB6FB3074BFB911E55F3C5350B2D246F0C": {ID: "COMGMT00",
			Hash: "SHA256:7384DAF9584877D5D0C40497F4008CAB6FB3074BFB911E55F3C5350B2D246F0C"},
	}
	for raw, want := range good {
		if got, err := ParsePolicyQuery(raw); err != nil || got != want {
			t.Errorf("%q: %+v %v", raw, got, err)
		}
	}
	for _, raw := range []string{"", "MachinePolicy&guid=x", "{x}", "{x}.", ".2_00", "{x}.2", "{x}.a_b", "x y.2_00", "{x}.SHA256:12", "%zz.2_00"} {
		if _, err := ParsePolicyQuery(raw); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v, want ErrMalformed", raw, err)
		}
	}
}

func TestLocationRoundTrips(t *testing.T) {
	site, err := ParseSiteInformationRequest(AppendSiteInformationRequest(nil, "PS1"))
	if err != nil || site != "PS1" {
		t.Fatal(site, err)
	}
	si := SiteInfo{SiteCode: "PS1", SiteName: "Primary", Version: "5.00.9141.1000", BuildNumber: 9141, RootSiteCode: "CAS"}
	got, err := ParseSiteInformationReply(AppendSiteInformationReply(nil, &si))
	if err != nil || got != si {
		t.Fatalf("%+v %v", got, err)
	}
	// Whatever the root, the first <Site> is read, as MPRecon reads it.
	got, err = ParseSiteInformationReply([]byte(`<Reply><Other><Site><x/></Site></Other><Site><SiteCode>AB1</SiteCode><Version>5.00.1</Version><BuildNumber>12</BuildNumber></Site></Reply>`))
	if err != nil || got.SiteCode != "" {
		t.Fatalf("first site only: %+v %v", got, err)
	}
	got, err = ParseSiteInformationReply([]byte(`<Reply><Site><SiteCode>AB1</SiteCode><Version>5.00.1</Version><BuildNumber>12</BuildNumber></Site></Reply>`))
	if err != nil || got.SiteCode != "AB1" || got.BuildNumber != 12 {
		t.Fatalf("%+v %v", got, err)
	}
	cr := ContentLocationRequest{PackageID: "PS100004", PackageVersion: 2, SiteCode: "PS1", ADSite: "Site", Forest: "corp", Domain: "corp", IPAddress: "198.18.16.10", SubnetAddress: "198.18.16.0"}
	gotcr, err := ParseContentLocationRequest(AppendContentLocationRequest(nil, &cr))
	if err != nil || gotcr != cr {
		t.Fatalf("%+v %v", gotcr, err)
	}
	rep := ContentLocationReply{SiteCode: "PS1", Locations: []ContentLocation{
		{ServerName: "dp1.corp", URL: "http://dp1.corp/SMS_DP_SMSPKG$/PS100004", SMBPath: `\\dp1\SMSPKGC$\PS100004\`, ADSite: "Site", Subnet: "198.18.16.0", Metric: 1, Locality: "LOCAL"},
		{ServerName: "dp2.corp", URL: "http://dp2.corp/x", ADSite: "Other", Subnet: "198.18.32.0", Metric: 2},
	}}
	gotrep, err := ParseContentLocationReply(AppendContentLocationReply(nil, &rep))
	if err != nil || !reflect.DeepEqual(gotrep, rep) {
		t.Fatalf("%+v %v", gotrep, err)
	}
}

func TestReportsAccepted(t *testing.T) {
	c := ReportClient{ClientID: gSMSID, NetBIOSName: gClient}
	r, err := ParseReport(AppendHeartbeatDDR(nil, &HeartbeatDDR{Client: c, Date: gTime, FQDN: gFQDN}))
	if err != nil || r.ClientID != gSMSID || r.NetBIOSName != gClient || r.Content != "Inventory Data" || r.ActionID != discoveryActionID {
		t.Fatalf("%+v %v", r, err)
	}
	r, err = ParseReport(AppendStatusMessage(nil, &StatusMessage{Client: c, Date: gTime, Component: "PolicyAgent", MessageID: 10002}))
	if err != nil || r.Content != "Status Message" || r.ClientID != gSMSID {
		t.Fatalf("%+v %v", r, err)
	}
	// The DDR public tools send (empty body, ClientInstalled 0).
	tool := `<Report><ReportHeader><Identification><Machine><ClientInstalled>0</ClientInstalled><ClientID>GUID:X</ClientID><NetBIOSName>N</NetBIOSName></Machine></Identification><ReportDetails><ReportContent>Inventory Data</ReportContent></ReportDetails></ReportHeader><ReportBody /></Report>`
	if r, err = ParseReport([]byte(tool)); err != nil || r.ClientID != "GUID:X" {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := ParseReport([]byte(`<Report/>`)); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
}

func TestParseAutQuery(t *testing.T) {
	good := map[string]AutQuery{
		"MPLIST":                {Kind: AutMPList},
		"mplist":                {Kind: AutMPList},
		"MPLIST1":               {Kind: AutMPList1},
		"MPLIST1&ps1":           {Kind: AutMPList1, Site: "PS1"},
		"MPLIST2&PS1":           {Kind: AutMPList2, Site: "PS1"},
		"mpcert":                {Kind: AutMPCert},
		"SITESIGNCERT":          {Kind: AutSiteSignCert},
		"MPKEYINFORMATION":      {Kind: AutMPKeyInfo},
		"MpKeyInformationEx":    {Kind: AutMPKeyInfoEx},
		"MPKEYINFORMATIONMEDIA": {Kind: AutMPKeyInfoMedia},
		"GETCLIENTAFFINITY&GUID:2F1B6C3E-8A4D-4E55-9B21-0C7D3E9A4F10": {Kind: AutClientAffinity, SMSID: "GUID:2F1B6C3E-8A4D-4E55-9B21-0C7D3E9A4F10"},
	}
	for raw, want := range good {
		if got, err := ParseAutQuery(raw); err != nil || got != want {
			t.Errorf("%q: %+v %v", raw, got, err)
		}
	}
	for _, raw := range []string{"", "MPLISTX", "SMSTRC", "MPLIST&PS1", "MPCERT&x", "MPLIST1&PS", "MPLIST1&P$1", "GETCLIENTAFFINITY", "GETCLIENTAFFINITY&x", strings.Repeat("A", 300)} {
		if _, err := ParseAutQuery(raw); !errors.Is(err, ErrUnknownQuery) {
			t.Errorf("%q: %v, want ErrUnknownQuery", raw, err)
		}
	}
	if AutMPKeyInfoMedia.String() != "MPKEYINFORMATIONMEDIA" || AutKind(99).String() != "AutKind(99)" {
		t.Fatal("String")
	}
}

func TestAutDocuments(t *testing.T) {
	in := []MPListEntry{{Name: "MP1", FQDN: "mp1.corp.example", SiteCode: "PS1", Version: 9141}, {Name: "MP2", FQDN: "mp2", SiteCode: "PS1", Version: 9141, SSLState: 1}}
	doc := AppendMPList(nil, in)
	if !bytes.HasPrefix(doc, []byte(`<MPList><MP Name="MP1" FQDN="mp1.corp.example" SiteCode="PS1"><Version>9141</Version><Capabilities SchemaVersion="1.0"><Property Name="SSLState" Value="0"/></Capabilities></MP>`)) {
		t.Fatalf("%s", doc)
	}
	got, err := ParseMPList(doc)
	if err != nil || !reflect.DeepEqual(got, in) {
		t.Fatalf("%+v %v", got, err)
	}
	// UTF-16 with BOM, as a client may receive it.
	if got, err = ParseMPList(cat([]byte{0xFF, 0xFE}, u16le(string(doc)))); err != nil || len(got) != 2 {
		t.Fatalf("%+v %v", got, err)
	}
	der := []byte{0x30, 0x82, 0xAB}
	for _, b := range [][]byte{AppendX509Certificate(nil, der), []byte("3082ab\r\n"), []byte(" <X509Certificate>30 82 AB</X509Certificate>")} {
		if d, err := ParseX509Certificate(b); err != nil || !bytes.Equal(d, der) {
			t.Fatalf("%q: % x %v", b, d, err)
		}
	}
	if _, err := ParseX509Certificate([]byte("<X509Certificate>zz</X509Certificate>")); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
	ki := MPKeyInfo{Name: "MP1", FQDN: "mp1", SiteCode: "PS1", SigningCert: der, EncryptionCert: der}
	for _, ex := range []bool{false, true} {
		k, err := ParseMPKeyInfo(AppendMPKeyInfo(nil, &ki, ex))
		if err != nil || !reflect.DeepEqual(k, ki) {
			t.Fatalf("%+v %v", k, err)
		}
	}
	k, err := ParseMPKeyInfo(AppendMediaKeyInfo(nil, &MediaKeyInfo{SiteCode: "PS1", FQDN: "mp1", X64Unknown: "{A}"}))
	if err != nil || k.SiteCode != "PS1" {
		t.Fatalf("%+v %v", k, err)
	}
	aff := AppendClientAffinity(nil, gSMSID, []string{`CORP\alice`})
	if !bytes.Contains(aff, []byte(`<User>CORP\alice</User>`)) {
		t.Fatalf("%s", aff)
	}
}

// TestClientMPConversation runs registration and policy through both sides: what a
// client writes the MP reads, and what the MP answers the client reads.
func TestClientMPConversation(t *testing.T) {
	var enc Encoder
	var dec Decoder
	// Client → MP: registration.
	req := RequestHeader(EndpointRegistration, "CLIENT7", "mp1", false)
	req.ID = "{00000000-0000-0000-0000-000000000007}"
	body, err := enc.Message(nil, &req, AppendRegistrationRequest(nil, &RegistrationRequest{NetBIOSName: "CLIENT7", FQDN: "client7.corp"}), true)
	if err != nil {
		t.Fatal(err)
	}
	h, payload, err := dec.Decode(ContentTypeCCM, body, Limits{})
	if err != nil || h.TargetEndpoint != EndpointRegistration {
		t.Fatal(h, err)
	}
	rr, err := ParseRegistrationRequest(payload)
	if err != nil || rr.NetBIOSName != "CLIENT7" {
		t.Fatal(rr, err)
	}
	// MP → client.
	rh := ReplyHeader(&h, "{00000000-0000-0000-0000-0000000000AA}", "MP1", gTime)
	body, err = enc.Message(nil, &rh, AppendRegistrationReply(nil, &RegistrationReply{SMSID: "GUID:00000000-0000-0000-0000-000000000007"}), true)
	if err != nil {
		t.Fatal(err)
	}
	h2, payload, err := dec.Decode(ContentTypeCCM, body, Limits{})
	if err != nil || h2.CorrelationID != req.ID || h2.TargetAddress != req.ReplyTo {
		t.Fatal(h2, err)
	}
	reply, err := ParseRegistrationReply(payload)
	if err != nil || reply.SMSID != "GUID:00000000-0000-0000-0000-000000000007" {
		t.Fatal(reply, err)
	}
	// The static policy reply, encoded once and sent to everyone.
	static, err := EncodePayload(AppendReplyAssignments(nil, &AssignmentReply{PolicySource: "SMS:PS1", Policies: MachinePolicies()}), true)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		rh := ReplyHeader(&h, "{00000000-0000-0000-0000-0000000000AB}", "MP1", gTime)
		_, payload, err := dec.Decode(ContentTypeCCM, AppendMessage(nil, &rh, static), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if ps, err := AppendPolicies(nil, payload); err != nil || len(ps) != 4 {
			t.Fatal(ps, err)
		}
	}
}

func TestTextHelpers(t *testing.T) {
	s := "a\U0001F600ü<&>\"'\x01\t"
	if got := string(decodeText(nil, appendUTF16(nil, s))); got != s {
		t.Fatalf("%q", got)
	}
	if got := string(appendEscaped(nil, s)); got != "a\U0001F600ü&lt;&amp;&gt;&quot;&apos;\uFFFD&#x9;" {
		t.Fatalf("%q", got)
	}
	if got := string(appendCDATA(nil, "x]]>y")); got != "<![CDATA[x]]]]><![CDATA[>y]]>" {
		t.Fatalf("%q", got)
	}
	// An unpaired surrogate decodes to U+FFFD.
	bad := []byte{0x3C, 0, 0x00, 0xD8, 0x3E, 0}
	if got := string(decodeText(nil, bad)); got != "<\uFFFD>" {
		t.Fatalf("%q", got)
	}
}
