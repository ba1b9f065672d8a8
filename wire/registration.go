package wire

import (
	"fmt"
	"strings"
	"time"
)

// MP_ClientRegistration: the client sends <ClientRegistrationRequest> (the layout
// SDK-built clients send: Data with AgentInformation, Certificates and
// DiscoveryProperties, then the Signature over Data); the MP assigns an SMSID and
// answers <ClientRegistrationResponse … SMSID="GUID:…"/>, the root element the
// Configuration Manager SDK documents (ClientRegistrationResponse) and the attribute
// every public client reads.

// RegistrationRequest is the content of a <ClientRegistrationRequest>.
type RegistrationRequest struct {
	NetBIOSName   string    // DiscoveryProperties "Netbios Name" (the SDK's NetBiosName)
	FQDN          string    // DiscoveryProperties "FQ Name" (the SDK's ClientFqdn)
	SMSID         string    // requested SMSID; empty lets the MP assign one
	RequestType   string    // Registration (default) or Confirmation
	TimeStamp     time.Time // zero: not written
	AgentIdentity string    // CCMSetup.exe (default)
	AgentVersion  string    // 5.00.9141.1000 (default)
	AgentType     int       // 0: the advanced client
	LocaleID      int       // 1033 (default)
	InternetFlag  int       // 0: intranet
	// Certificate is the hex DER of the client's self-signed signing and encryption
	// certificate, Signature the hex signature over <Data>. portlab's clients hold no
	// key: empty fields are written as zero placeholders of realistic length.
	Certificate string
	Signature   string
}

// placeholderCert is the hex length of a typical client certificate (780 bytes).
var placeholderCert = strings.Repeat("00", 780)

// AppendRegistrationRequest appends the <ClientRegistrationRequest> document for r.
func AppendRegistrationRequest(dst []byte, r *RegistrationRequest) []byte {
	cert := or(r.Certificate, placeholderCert)
	dst = append(dst, "<ClientRegistrationRequest><Data"...)
	dst = xAttr(dst, "HashAlgorithm", hashSHA256)
	dst = xAttr(dst, "SMSID", r.SMSID)
	dst = xAttr(dst, "RequestType", or(r.RequestType, "Registration"))
	if !r.TimeStamp.IsZero() {
		dst = xAttrTime(dst, "TimeStamp", r.TimeStamp)
	}
	dst = append(dst, "><AgentInformation"...)
	dst = xAttr(dst, "AgentIdentity", or(r.AgentIdentity, "CCMSetup.exe"))
	dst = xAttr(dst, "AgentVersion", or(r.AgentVersion, "5.00.9141.1000"))
	dst = xAttrInt(dst, "AgentType", int64(r.AgentType))
	dst = append(dst, ` /><Certificates><Encryption Encoding="HexBinary" KeyType="1">`...)
	dst = appendEscaped(dst, cert)
	dst = append(dst, `</Encryption><Signing Encoding="HexBinary" KeyType="1">`...)
	dst = appendEscaped(dst, cert)
	dst = append(dst, `</Signing></Certificates><DiscoveryProperties><Property Name="Netbios Name"`...)
	dst = xAttr(dst, "Value", r.NetBIOSName)
	dst = append(dst, ` /><Property Name="FQ Name"`...)
	dst = xAttr(dst, "Value", r.FQDN)
	dst = append(dst, ` /><Property Name="Locale ID"`...)
	lcid := r.LocaleID
	if lcid == 0 {
		lcid = 1033
	}
	dst = xAttrInt(dst, "Value", int64(lcid))
	dst = append(dst, ` /><Property Name="InternetFlag"`...)
	dst = xAttrInt(dst, "Value", int64(r.InternetFlag))
	dst = append(dst, ` /></DiscoveryProperties></Data><Signature><SignatureValue>`...)
	dst = appendEscaped(dst, or(r.Signature, placeholderHex))
	return append(dst, "</SignatureValue></Signature></ClientRegistrationRequest>"...)
}

// ParseRegistrationRequest reads a <ClientRegistrationRequest> (the MP side). The
// certificate and signature are returned as sent; nothing is verified.
func ParseRegistrationRequest(doc []byte) (RegistrationRequest, error) {
	var r RegistrationRequest
	sawData := false
	err := visit(doc, func(s *xmlScanner, path [][]byte, t xmlToken) (bool, error) {
		if err := rootIs(path, "ClientRegistrationRequest"); err != nil {
			return false, err
		}
		var err error
		switch {
		case pathIs(path, "ClientRegistrationRequest", "Data"):
			sawData = true
			if r.SMSID, err = attrString(t.attrs, "SMSID"); err != nil {
				return false, err
			}
			if r.RequestType, err = attrString(t.attrs, "RequestType"); err != nil {
				return false, err
			}
			ts, _ := attr(t.attrs, "TimeStamp")
			r.TimeStamp = parseTimeLoose(string(ts))
		case pathIs(path, "ClientRegistrationRequest", "Data", "AgentInformation"):
			if r.AgentIdentity, err = attrString(t.attrs, "AgentIdentity"); err != nil {
				return false, err
			}
			if r.AgentVersion, err = attrString(t.attrs, "AgentVersion"); err != nil {
				return false, err
			}
			at, _ := attr(t.attrs, "AgentType")
			r.AgentType = parseIntLoose(at)
		case pathIs(path, "ClientRegistrationRequest", "Data", "Certificates", "Signing"):
			r.Certificate, err = textString(s, t)
			return true, err
		case pathIs(path, "ClientRegistrationRequest", "Data", "DiscoveryProperties", "Property"):
			name, _ := attr(t.attrs, "Name")
			v, err := attrString(t.attrs, "Value")
			if err != nil {
				return false, err
			}
			switch string(name) {
			case "Netbios Name":
				r.NetBIOSName = v
			case "FQ Name":
				r.FQDN = v
			case "Locale ID":
				r.LocaleID = parseIntLoose([]byte(v))
			case "InternetFlag":
				r.InternetFlag = parseIntLoose([]byte(v))
			}
		case pathIs(path, "ClientRegistrationRequest", "Signature", "SignatureValue"):
			r.Signature, err = textString(s, t)
			return true, err
		}
		return false, nil
	})
	if err == nil && !sawData {
		err = fmt.Errorf("%w: registration request without <Data>", ErrMalformed)
	}
	return r, err
}

// Registration statuses (the SDK's ClientRegistrationResponse Status).
const (
	RegistrationOK       = 0 // registered
	RegistrationPending  = 1 // pending approval: no policy or inventory yet
	RegistrationRetry    = 2 // could not be processed: register again
	RegistrationRejected = 3
)

// RegistrationReply is the content of a <ClientRegistrationResponse>.
type RegistrationReply struct {
	SMSID        string    // GUID:…; returned when Status is 0 or 1
	Status       int       // RegistrationOK …
	ResponseType string    // Registration (default) or Confirmation
	TimeStamp    time.Time // zero: not written
	// ApprovalStatus is written when positive (1: approved). The SDK's reply class
	// exposes an ApprovalStatus; that it is an attribute of this element is unconfirmed.
	ApprovalStatus int
}

// AppendRegistrationReply appends the MP's <ClientRegistrationResponse> for r.
func AppendRegistrationReply(dst []byte, r *RegistrationReply) []byte {
	dst = append(dst, "<ClientRegistrationResponse"...)
	dst = xAttr(dst, "ResponseType", or(r.ResponseType, "Registration"))
	if !r.TimeStamp.IsZero() {
		dst = xAttrTime(dst, "TimeStamp", r.TimeStamp)
	}
	dst = xAttrInt(dst, "Status", int64(r.Status))
	if r.SMSID != "" {
		dst = xAttr(dst, "SMSID", r.SMSID)
	}
	if r.ApprovalStatus > 0 {
		dst = xAttrInt(dst, "ApprovalStatus", int64(r.ApprovalStatus))
	}
	return append(dst, " />"...)
}

// ParseRegistrationReply reads the MP's registration reply (the client side). Like the
// public clients it reads the root element's SMSID attribute whatever the root is
// called; a reply that is neither pending nor rejected and carries no SMSID is an error.
func ParseRegistrationReply(doc []byte) (RegistrationReply, error) {
	var r RegistrationReply
	s := newScanner(decodeDoc(doc))
	root, err := firstElement(&s)
	if err != nil {
		return r, err
	}
	if r.SMSID, err = attrString(root.attrs, "SMSID"); err != nil {
		return r, err
	}
	if r.ResponseType, err = attrString(root.attrs, "ResponseType"); err != nil {
		return r, err
	}
	st, _ := attr(root.attrs, "Status")
	r.Status = parseIntLoose(st)
	ap, _ := attr(root.attrs, "ApprovalStatus")
	r.ApprovalStatus = parseIntLoose(ap)
	ts, _ := attr(root.attrs, "TimeStamp")
	r.TimeStamp = parseTimeLoose(string(ts))
	if err := s.rest(); err != nil {
		return r, err
	}
	if r.SMSID == "" && r.Status != RegistrationRetry && r.Status != RegistrationRejected {
		return r, fmt.Errorf("%w: registration reply without SMSID", ErrMalformed)
	}
	return r, nil
}

// SMSIDGUID returns the GUID of an SMSID ("GUID:…" → "…").
func SMSIDGUID(smsid string) string { return strings.TrimPrefix(smsid, "GUID:") }
