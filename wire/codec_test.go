package wire

import (
	"bytes"
	"compress/zlib"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

// Independent encoders for hand-built test bodies (no codec code).
func u16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

func u16be(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return b
}

func zlibStd(t testing.TB, b []byte) []byte {
	var out bytes.Buffer
	zw := zlib.NewWriter(&out)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestHeaderRoundTrip(t *testing.T) {
	h := RequestHeader(EndpointPolicy, "CLIENT1", "mp1.corp.example", true)
	h.ID = "{5DD100CD-DF1D-45F5-BA17-A327F43465F8}"
	h.SourceID = "GUID:2F1B6C3E-8A4D-4E55-9B21-0C7D3E9A4F10"
	h.SentTime = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	h.Priority = 3
	h.ClientAuth = PlaceholderClientAuth("CLIENT1")
	h.ClientAuth.Token = `a<b & "c" 'd'` // escaping
	h.SourceHost = "CLIENT1-ü"           // non-ASCII
	for _, compress := range []bool{true, false} {
		p, err := EncodePayload([]byte(`<RequestAssignments Note="ß &amp; ok"/>`), compress)
		if err != nil {
			t.Fatal(err)
		}
		in := h
		body := AppendMessage(nil, &in, p)
		got, payload, err := ReadMessage(ContentTypeCCM, body, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		in.SchemaVersion = "1.1"
		if got != in {
			t.Fatalf("compress=%v:\n got %+v\nwant %+v", compress, got, in)
		}
		if string(payload) != `<RequestAssignments Note="ß &amp; ok"/>` {
			t.Fatalf("payload %q", payload)
		}
	}
}

func TestAppendGUID(t *testing.T) {
	got := string(AppendGUID(nil, [16]byte{0x5d, 0xd1, 0x00, 0xcd, 0xdf, 0x1d, 0x45, 0xf5, 0xba, 0x17, 0xa3, 0x27, 0xf4, 0x34, 0x65, 0xf8}))
	if got != "{5DD100CD-DF1D-45F5-BA17-A327F43465F8}" {
		t.Fatal(got)
	}
}

func TestGroup(t *testing.T) {
	for in, want := range map[string]string{"pushed": "pushed", " g-1.x_y ": "g-1.x_y", "": "", "a b": "", "x\r\nEvil: 1": "", strings.Repeat("a", 65): ""} {
		if got := Group(in); got != want {
			t.Errorf("Group(%q) = %q, want %q", in, got, want)
		}
	}
	if got := string(AppendGroupHeader(nil, "stale")); got != "X-Portlab-Group: stale\r\n" {
		t.Fatal(got)
	}
	if got := AppendGroupHeader(nil, "bad group"); len(got) != 0 {
		t.Fatal("wrote an invalid group")
	}
}

const variantXML = `<RequestAssignments SchemaVersion="1.00"/>`

// The header real tools send (sccmwtf / SCCMSecrets layout), as UTF-8 text.
const variantHeader = `<Msg ReplyCompression="zlib" SchemaVersion="1.1"><Body Type="ByteRange" Length="86" Offset="0" /><CorrelationID>{00000000-0000-0000-0000-000000000000}</CorrelationID><Hooks><Hook3 Name="zlib-compress" /></Hooks><ID>{041A35B4-DCEE-4F64-A978-D4D489F47D28}</ID><Payload Type="inline" /><Priority>0</Priority><Protocol>http</Protocol><ReplyMode>Sync</ReplyMode><ReplyTo>direct:CLIENT1:SccmMessaging</ReplyTo><SentTime>2025-03-14T09:26:53Z</SentTime><SourceID>GUID:X</SourceID><SourceHost>CLIENT1</SourceHost><TargetAddress>mp:MP_PolicyManager</TargetAddress><TargetEndpoint>MP_PolicyManager</TargetEndpoint><TargetHost>mp1</TargetHost><Timeout>60000</Timeout></Msg>`

// TestReadVariants feeds ReadMessage bodies laid out the ways real tools lay them out,
// each written byte by byte here.
func TestReadVariants(t *testing.T) {
	const b = "aAbBcCdDv1234567890VxXyYzZ"
	plainHeader := strings.Replace(variantHeader, `<Hooks><Hook3 Name="zlib-compress" /></Hooks>`, `<Hooks/>`, 1)
	payload16 := cat(u16le(variantXML), []byte{0, 0})
	z := zlibStd(t, payload16)
	bomLE := []byte{0xFF, 0xFE}
	crlf := func(s string) []byte { return []byte(s) }
	cases := []struct {
		name, ct string
		body     []byte
	}{
		{"sccmwtf: quoted boundary, BOM, zlib with CRLF inside, no final CRLF", ContentTypeCCM, cat(
			crlf("--"+b+"\r\ncontent-type: text/plain; charset=UTF-16\r\n\r\n"), bomLE, u16le(variantHeader),
			crlf("\r\n--"+b+"\r\ncontent-type: application/octet-stream\r\n\r\n"), zlibStd(t, cat(payload16, []byte("\r\n"))),
			crlf("\r\n--"+b+"--"))},
		{"unquoted boundary", "multipart/mixed; boundary=" + b, cat(
			crlf("--"+b+"\r\ncontent-type: text/plain; charset=UTF-16\r\n\r\n"), bomLE, u16le(variantHeader),
			crlf("\r\n--"+b+"\r\ncontent-type: application/octet-stream\r\n\r\n"), z, crlf("\r\n--"+b+"--\r\n"))},
		{"LF line ends", ContentTypeCCM, cat(
			crlf("--"+b+"\ncontent-type: text/plain; charset=UTF-16\n\n"), bomLE, u16le(variantHeader),
			crlf("\n--"+b+"\ncontent-type: application/octet-stream\n\n"), z, crlf("\n--"+b+"--\n"))},
		{"Rex MIME: capitalised headers, transfer encoding, preamble", `Multipart/Mixed; Boundary="` + b + `"`, cat(
			crlf("This is a preamble\r\n--"+b+"\r\nContent-Type: text/plain; charset=UTF-16\r\n\r\n"), bomLE, u16le(variantHeader),
			crlf("\r\n--"+b+"\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"), z,
			crlf("\r\n--"+b+"--\r\n"))},
		{"header UTF-8 without BOM", ContentTypeCCM, cat(
			crlf("--"+b+"\r\ncontent-type: text/xml\r\n\r\n"+variantHeader),
			crlf("\r\n--"+b+"\r\ncontent-type: application/octet-stream\r\n\r\n"), z, crlf("\r\n--"+b+"--\r\n"))},
		{"header UTF-8 with BOM", ContentTypeCCM, cat(
			crlf("--"+b+"\r\ncontent-type: text/plain; charset=UTF-8\r\n\r\n\xEF\xBB\xBF"+variantHeader),
			crlf("\r\n--"+b+"\r\ncontent-type: application/octet-stream\r\n\r\n"), z, crlf("\r\n--"+b+"--\r\n"))},
		{"header UTF-16BE with BOM", ContentTypeCCM, cat(
			crlf("--"+b+"\r\ncontent-type: text/plain; charset=UTF-16\r\n\r\n"), []byte{0xFE, 0xFF}, u16be(variantHeader),
			crlf("\r\n--"+b+"\r\ncontent-type: application/octet-stream\r\n\r\n"), z, crlf("\r\n--"+b+"--\r\n"))},
		{"header UTF-16BE without BOM", ContentTypeCCM, cat(
			crlf("--"+b+"\r\ncontent-type: text/plain; charset=UTF-16\r\n\r\n"), u16be(variantHeader),
			crlf("\r\n--"+b+"\r\ncontent-type: application/octet-stream\r\n\r\n"), z, crlf("\r\n--"+b+"--\r\n"))},
		{"MPRecon: indented header with newlines, plain payload as text/plain", ContentTypeCCM, cat(
			crlf("--"+b+"\r\ncontent-type: text/plain; charset=UTF-16\r\n\r\n"), bomLE, u16le("\n        "+strings.ReplaceAll(plainHeader, "><", ">\n        <")+"\n        "),
			crlf("\r\n--"+b+"\r\ncontent-type: text/plain; charset=UTF-16\r\n\r\n"), payload16, crlf("\r\n--"+b+"--\r\n"))},
		{"zlib payload without the hook (sniffed)", ContentTypeCCM, cat(
			crlf("--"+b+"\r\ncontent-type: text/plain; charset=UTF-16\r\n\r\n"), bomLE, u16le(plainHeader),
			crlf("\r\n--"+b+"\r\ncontent-type: application/octet-stream\r\n\r\n"), z, crlf("\r\n--"+b+"--\r\n"))},
		{"pxethief: form-data parts, random boundary, LE header without BOM, plain payload + CRLF + 3 NULs", "multipart/mixed; boundary=3f2e1d0c9b8a", cat(
			crlf("--3f2e1d0c9b8a\r\nContent-Disposition: form-data; name=\"Msg\"\r\nContent-Type: text/plain; charset=UTF-16\r\n\r\n"), u16le(plainHeader),
			crlf("\r\n--3f2e1d0c9b8a\r\nContent-Disposition: form-data; name=\"RequestAssignments\"\r\n\r\n"), u16le(variantXML+"\r\n"), []byte{0, 0, 0},
			crlf("\r\n--3f2e1d0c9b8a--\r\n"))},
		{"payload in UTF-8", ContentTypeCCM, cat(
			crlf("--"+b+"\r\ncontent-type: text/plain; charset=UTF-16\r\n\r\n"), bomLE, u16le(plainHeader),
			crlf("\r\n--"+b+"\r\ncontent-type: application/octet-stream\r\n\r\n"+variantXML+"\x00"), crlf("\r\n--"+b+"--\r\n"))},
		{"part headers absent", ContentTypeCCM, cat(
			crlf("--"+b+"\r\n\r\n"), bomLE, u16le(variantHeader), crlf("\r\n--"+b+"\r\n\r\n"), z, crlf("\r\n--"+b+"--\r\n"))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, p, err := ReadMessage(c.ct, c.body, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if h.TargetEndpoint != EndpointPolicy || h.ID != "{041A35B4-DCEE-4F64-A978-D4D489F47D28}" || h.SourceID != "GUID:X" || h.ReplyMode != "Sync" {
				t.Fatalf("header %+v", h)
			}
			if !h.SentTime.Equal(time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)) {
				t.Fatalf("SentTime %v", h.SentTime)
			}
			if got := strings.TrimRight(string(p), "\r\n"); got != variantXML {
				t.Fatalf("payload %q", p)
			}
		})
	}
}

func TestReadMalformed(t *testing.T) {
	h := gRequestHeader(EndpointPolicy, true)
	good := gMessage(t, h, []byte(variantXML))
	hdrEnd := bytes.Index(good, []byte("\r\n--"+Boundary+"\r\ncontent-type: application"))
	cases := map[string]struct {
		ct   string
		body []byte
		lim  Limits
	}{
		"not multipart":      {"text/xml", good, Limits{}},
		"no boundary":        {"multipart/mixed", good, Limits{}},
		"bad content type":   {"multipart/mixed; boundary=\"x", good, Limits{}},
		"other boundary":     {"multipart/mixed; boundary=zzz", good, Limits{}},
		"empty":              {ContentTypeCCM, nil, Limits{}},
		"one part":           {ContentTypeCCM, append(append([]byte{}, good[:hdrEnd]...), "\r\n--"+Boundary+"--\r\n"...), Limits{}},
		"unterminated part":  {ContentTypeCCM, good[:len(good)-40], Limits{}},
		"header too large":   {ContentTypeCCM, good, Limits{HeaderBytes: 100}},
		"payload too large":  {ContentTypeCCM, good, Limits{PayloadBytes: 10}},
		"inflates too large": {ContentTypeCCM, good, Limits{PlainBytes: 20}},
		"not a Msg": {ContentTypeCCM, cat([]byte("--"+Boundary+"\r\n\r\n"), u16le("<Message/>"),
			[]byte("\r\n--"+Boundary+"\r\n\r\n"), u16le("<x/>"), []byte("\r\n--"+Boundary+"--")), Limits{}},
		"bad header XML": {ContentTypeCCM, cat([]byte("--"+Boundary+"\r\n\r\n"), u16le("<Msg><ID>1</Msg>"),
			[]byte("\r\n--"+Boundary+"\r\n\r\n"), u16le("<x/>"), []byte("\r\n--"+Boundary+"--")), Limits{}},
		"hook without zlib": {ContentTypeCCM, cat([]byte("--"+Boundary+"\r\n\r\n"), u16le(variantHeader),
			[]byte("\r\n--"+Boundary+"\r\n\r\n"), u16le("<x/>"), []byte("\r\n--"+Boundary+"--")), Limits{}},
		"corrupt zlib": {ContentTypeCCM, cat([]byte("--"+Boundary+"\r\n\r\n"), u16le(variantHeader),
			[]byte("\r\n--"+Boundary+"\r\n\r\n\x78\x9c\xff\xff\xff\xff"), []byte("\r\n--"+Boundary+"--")), Limits{}},
	}
	for name, c := range cases {
		if _, _, err := ReadMessage(c.ct, c.body, c.lim); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

// TestOldAPIUnchanged: the old dialect keeps working while agent/mp and agent/fleet use it.
func TestOldAPIUnchanged(t *testing.T) {
	body, ct, err := BuildMessage(Header{ID: "1", TargetEndpoint: EndpointDDR, Group: "g"}, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	h, p, err := ParseMessage(ct, bytes.NewReader(body), 16)
	if err != nil || h.Group != "g" || string(p) != "x" {
		t.Fatalf("%+v %q %v", h, p, err)
	}
	if EndpointDDR != "MP_DDREndpoint" || EndpointStatus != "MP_StatusManager" || len(Endpoints()) != 5 {
		t.Fatal("old constants changed")
	}
}
