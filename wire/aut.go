package wire

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Location queries: GET /SMS_MP/.sms_aut?<query>, anonymous. The query is the raw query
// string (no key=value form): MPLIST, MPLIST1, MPLIST1&<site>, MPLIST2&<site>, MPCERT,
// SITESIGNCERT, MPKEYINFORMATION, MPKEYINFORMATIONEX, MPKEYINFORMATIONMEDIA,
// GETCLIENTAFFINITY&<SMSID>; names are case-insensitive (clients and admins write
// both mplist and MPLIST).

// ErrUnknownQuery: the .sms_aut query is not one an MP answers (the MP answers 404).
var ErrUnknownQuery = errors.New("unknown location query")

// AutKind is the kind of a location query.
type AutKind uint8

// Location query kinds.
const (
	AutMPList AutKind = iota + 1
	AutMPList1
	AutMPList2
	AutMPCert
	AutSiteSignCert
	AutMPKeyInfo
	AutMPKeyInfoEx
	AutMPKeyInfoMedia
	AutClientAffinity
)

var autNames = [...]string{
	AutMPList: QueryMPList, AutMPList1: QueryMPList1, AutMPList2: QueryMPList2,
	AutMPCert: QueryMPCert, AutSiteSignCert: QuerySiteSign, AutMPKeyInfo: QueryMPKeyInfo,
	AutMPKeyInfoEx: QueryMPKeyInfoEx, AutMPKeyInfoMedia: QueryMPKeyInfoMedia,
	AutClientAffinity: QueryClientAffinity,
}

// String returns the query name (MPLIST, …).
func (k AutKind) String() string {
	if int(k) < len(autNames) && autNames[k] != "" {
		return autNames[k]
	}
	return "AutKind(" + strconv.Itoa(int(k)) + ")"
}

// AutQuery is a parsed location query.
type AutQuery struct {
	Kind  AutKind
	Site  string // MPLIST1&<site>, MPLIST2&<site> (upper-cased)
	SMSID string // GETCLIENTAFFINITY&<SMSID>
}

// ParseAutQuery maps the raw query of a .sms_aut request to a typed query. Unknown
// names, and arguments where the query takes none (or a malformed site code or
// SMSID), wrap ErrUnknownQuery. MPLIST2 without a site is accepted (unconfirmed).
func ParseAutQuery(raw string) (AutQuery, error) {
	var q AutQuery
	if len(raw) > 256 {
		return q, fmt.Errorf("%w: query longer than 256 bytes", ErrUnknownQuery)
	}
	name, arg, hasArg := strings.Cut(raw, "&")
	for k := AutMPList; k <= AutClientAffinity; k++ {
		if strings.EqualFold(name, autNames[k]) {
			q.Kind = k
			break
		}
	}
	bad := func(why string) (AutQuery, error) {
		return AutQuery{}, fmt.Errorf("%w: %q: %s", ErrUnknownQuery, raw, why)
	}
	switch q.Kind {
	case 0:
		return bad("not a location query")
	case AutMPList1, AutMPList2:
		if !hasArg {
			return q, nil
		}
		if !siteCode(arg) {
			return bad("bad site code")
		}
		q.Site = strings.ToUpper(arg)
	case AutClientAffinity:
		if !hasArg || !smsID(arg) {
			return bad("GETCLIENTAFFINITY needs an SMSID")
		}
		q.SMSID = arg
	default:
		if hasArg {
			return bad("takes no argument")
		}
	}
	return q, nil
}

func siteCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// smsID accepts GUID:<36 hex and dashes>, braces optional.
func smsID(s string) bool {
	g, ok := strings.CutPrefix(s, "GUID:")
	if !ok {
		return false
	}
	g = strings.TrimSuffix(strings.TrimPrefix(g, "{"), "}")
	if len(g) != 36 {
		return false
	}
	for i := 0; i < len(g); i++ {
		c := g[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// MPListEntry is one MP of an MPLIST document. No ports: clients use the ports they
// were configured with.
type MPListEntry struct {
	Name     string // NetBIOS name
	FQDN     string
	SiteCode string
	Version  int // the MP's build number, 9141
	SSLState int // Capabilities Property SSLState: 0 HTTP, 1/3 HTTPS (unconfirmed values)
}

// AppendMPList appends the MPLIST document real MPs answer (for MPLIST, MPLIST1 and
// MPLIST2 alike): <MPList><MP Name FQDN SiteCode><Version>…</Version><Capabilities
// SchemaVersion="1.0"><Property Name="SSLState" Value="0"/></Capabilities></MP></MPList>,
// UTF-8 without an XML declaration (unconfirmed).
func AppendMPList(dst []byte, mps []MPListEntry) []byte {
	dst = append(dst, "<MPList>"...)
	for i := range mps {
		m := &mps[i]
		dst = append(dst, "<MP"...)
		dst = xAttr(dst, "Name", m.Name)
		dst = xAttr(dst, "FQDN", m.FQDN)
		dst = xAttr(dst, "SiteCode", m.SiteCode)
		dst = append(dst, '>')
		dst = xElemInt(dst, "Version", int64(m.Version))
		dst = append(dst, `<Capabilities SchemaVersion="1.0"><Property Name="SSLState"`...)
		dst = xAttrInt(dst, "Value", int64(m.SSLState))
		dst = append(dst, "/></Capabilities></MP>"...)
	}
	return append(dst, "</MPList>"...)
}

// ParseMPList reads an MPLIST document (UTF-8 or UTF-16) into entries.
func ParseMPList(doc []byte) ([]MPListEntry, error) {
	var out []MPListEntry
	err := visit(doc, func(s *xmlScanner, path [][]byte, t xmlToken) (bool, error) {
		if err := rootIs(path, "MPList"); err != nil {
			return false, err
		}
		var err error
		switch {
		case pathIs(path, "MPList", "MP"):
			var m MPListEntry
			if m.Name, err = attrString(t.attrs, "Name"); err != nil {
				return false, err
			}
			if m.FQDN, err = attrString(t.attrs, "FQDN"); err != nil {
				return false, err
			}
			if m.SiteCode, err = attrString(t.attrs, "SiteCode"); err != nil {
				return false, err
			}
			out = append(out, m)
		case pathIs(path, "MPList", "MP", "Version") && len(out) > 0:
			v, err := textString(s, t)
			out[len(out)-1].Version, _ = strconv.Atoi(v)
			return true, err
		case pathIs(path, "MPList", "MP", "Capabilities", "Property") && len(out) > 0:
			if name, _ := attr(t.attrs, "Name"); string(name) == "SSLState" {
				v, _ := attr(t.attrs, "Value")
				out[len(out)-1].SSLState = parseIntLoose(v)
			}
		}
		return false, err
	})
	return out, err
}

// AppendX509Certificate appends <X509Certificate>HEX</X509Certificate> (upper-case
// hex of the DER), the SITESIGNCERT document. portlab answers MPCERT with the same
// document for the MP's certificate: MPCERT's real form is unconfirmed.
func AppendX509Certificate(dst, der []byte) []byte {
	dst = append(dst, "<X509Certificate>"...)
	dst = appendHexUpper(dst, der)
	return append(dst, "</X509Certificate>"...)
}

func appendHexUpper(dst, b []byte) []byte {
	const digits = "0123456789ABCDEF"
	for _, c := range b {
		dst = append(dst, digits[c>>4], digits[c&15])
	}
	return dst
}

// ParseX509Certificate returns the DER of an <X509Certificate> document, or of a bare
// hex string (either case, whitespace ignored).
func ParseX509Certificate(doc []byte) ([]byte, error) {
	doc = decodeDoc(doc)
	var h []byte
	if t := strings.TrimSpace(string(doc)); strings.HasPrefix(t, "<") {
		err := visit(doc, func(s *xmlScanner, path [][]byte, t xmlToken) (bool, error) {
			if err := rootIs(path, "X509Certificate"); err != nil {
				return false, err
			}
			var err error
			h, err = s.text(nil, t)
			return true, err
		})
		if err != nil {
			return nil, err
		}
	} else {
		h = []byte(t)
	}
	h = []byte(strings.Join(strings.Fields(string(h)), ""))
	der := make([]byte, hex.DecodedLen(len(h)))
	if _, err := hex.Decode(der, h); err != nil || len(der) == 0 {
		return nil, fmt.Errorf("%w: certificate is not hex", ErrMalformed)
	}
	return der, nil
}

// MPKeyInfo is the content of an MPKEYINFORMATION document (and its EX variant).
type MPKeyInfo struct {
	Name, FQDN, SiteCode string
	SigningCert          []byte // DER
	EncryptionCert       []byte // DER
}

// AppendMPKeyInfo appends <MPKEYINFORMATION> (or <MPKEYINFORMATIONEX> when ex): NAME,
// FQDN, SITECODE, SIGNINGCERTIFICATE, ENCRYPTIONCERTIFICATE (certificates as upper-case
// hex). FQDN and SITECODE are what public tools read; the rest, and the EX root, are
// unconfirmed.
func AppendMPKeyInfo(dst []byte, k *MPKeyInfo, ex bool) []byte {
	root := "MPKEYINFORMATION"
	if ex {
		root = "MPKEYINFORMATIONEX"
	}
	dst = append(dst, '<')
	dst = append(dst, root...)
	dst = append(dst, '>')
	dst = xElem(dst, "NAME", k.Name)
	dst = xElem(dst, "FQDN", k.FQDN)
	dst = xElem(dst, "SITECODE", k.SiteCode)
	dst = append(dst, "<SIGNINGCERTIFICATE>"...)
	dst = appendHexUpper(dst, k.SigningCert)
	dst = append(dst, "</SIGNINGCERTIFICATE><ENCRYPTIONCERTIFICATE>"...)
	dst = appendHexUpper(dst, k.EncryptionCert)
	dst = append(dst, "</ENCRYPTIONCERTIFICATE></"...)
	dst = append(dst, root...)
	return append(dst, '>')
}

// MediaKeyInfo is the content of an MPKEYINFORMATIONMEDIA document: the site and the
// unknown-computer GUIDs boot media use as their client id (what pxethief reads).
type MediaKeyInfo struct {
	SiteCode       string
	X64Unknown     string // x64UnknownMachineGUID
	X86Unknown     string // x86UnknownMachineGUID
	SigningCert    []byte
	EncryptionCert []byte
	MPName, FQDN   string
}

// AppendMediaKeyInfo appends <MPKEYINFORMATIONMEDIA> (root name unconfirmed) with
// <UnknownMachines x64UnknownMachineGUID x86UnknownMachineGUID/> and <SITECODE>.
func AppendMediaKeyInfo(dst []byte, m *MediaKeyInfo) []byte {
	dst = append(dst, "<MPKEYINFORMATIONMEDIA>"...)
	dst = xElem(dst, "NAME", m.MPName)
	dst = xElem(dst, "FQDN", m.FQDN)
	dst = xElem(dst, "SITECODE", m.SiteCode)
	dst = append(dst, "<UnknownMachines"...)
	dst = xAttr(dst, "x64UnknownMachineGUID", m.X64Unknown)
	dst = xAttr(dst, "x86UnknownMachineGUID", m.X86Unknown)
	dst = append(dst, " /><SIGNINGCERTIFICATE>"...)
	dst = appendHexUpper(dst, m.SigningCert)
	dst = append(dst, "</SIGNINGCERTIFICATE><ENCRYPTIONCERTIFICATE>"...)
	dst = appendHexUpper(dst, m.EncryptionCert)
	return append(dst, "</ENCRYPTIONCERTIFICATE></MPKEYINFORMATIONMEDIA>"...)
}

// ParseMPKeyInfo reads FQDN and SITECODE (and the other fields when present) from any
// of the MPKEYINFORMATION documents; element names are matched case-insensitively, as
// public tools do.
func ParseMPKeyInfo(doc []byte) (MPKeyInfo, error) {
	var k MPKeyInfo
	err := visit(doc, func(s *xmlScanner, path [][]byte, t xmlToken) (bool, error) {
		if len(path) != 2 {
			return false, nil
		}
		var err error
		var v string
		switch strings.ToUpper(string(t.name)) {
		case "NAME":
			k.Name, err = textString(s, t)
		case "FQDN":
			k.FQDN, err = textString(s, t)
		case "SITECODE":
			k.SiteCode, err = textString(s, t)
		case "SIGNINGCERTIFICATE":
			if v, err = textString(s, t); err == nil {
				k.SigningCert, _ = hex.DecodeString(v)
			}
		case "ENCRYPTIONCERTIFICATE":
			if v, err = textString(s, t); err == nil {
				k.EncryptionCert, _ = hex.DecodeString(v)
			}
		default:
			return false, nil
		}
		return true, err
	})
	if err == nil && k.FQDN == "" && k.SiteCode == "" {
		err = fmt.Errorf("%w: key information without FQDN or SITECODE", ErrMalformed)
	}
	return k, err
}

// AppendClientAffinity appends the GETCLIENTAFFINITY answer: the primary users of the
// device smsid, each in a <User> element (what public tools read). The root and the
// layout around <User> are unconfirmed.
func AppendClientAffinity(dst []byte, smsid string, users []string) []byte {
	dst = append(dst, "<ClientAffinity"...)
	dst = xAttr(dst, "SMSID", smsid)
	dst = append(dst, '>')
	for _, u := range users {
		dst = append(dst, "<Affinity>"...)
		dst = xElem(dst, "User", u)
		dst = append(dst, "</Affinity>"...)
	}
	return append(dst, "</ClientAffinity>"...)
}
