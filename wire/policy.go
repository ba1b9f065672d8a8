package wire

import (
	"bytes"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// MP_PolicyManager: the client sends <RequestAssignments> and the MP answers
// <ReplyAssignments>, a list of <PolicyAssignment> each holding one <Policy> whose
// <PolicyLocation> is a URL with the literal host "<mp>" (the client puts in its MP);
// the client then fetches each body with GET /SMS_MP/.sms_pol?{ID}.{version}.

// Policy flags (the SDK's PolicyFlags; SCCMSecrets and SharpSCCM test the secret bit).
const (
	PolicyFlagTaskSequence   = 1 << 0
	PolicyFlagRequiresAuth   = 1 << 1
	PolicyFlagSecret         = 1 << 2
	PolicyFlagIntranetOnly   = 1 << 3
	PolicyFlagPersistWhole   = 1 << 4
	PolicyFlagAuthorizedDDL  = 1 << 5
	PolicyFlagCompressedBody = 1 << 6
)

// MPPlaceholder is the literal host real MPs write in policy locations.
const MPPlaceholder = "<mp>"

// AssignmentRequest is the content of a <RequestAssignments>.
type AssignmentRequest struct {
	ClientID     string // the SMSID, GUID:…
	FQDN         string
	NetBIOSName  string
	SID          string // empty for machine requests
	PolicySource string // SMS:<site code>
	ResourceType string // Machine (default)
	RequestType  string // Always (default, what public clients send), Full or OnUpdate
}

// AppendRequestAssignments appends the <RequestAssignments> document for r.
func AppendRequestAssignments(dst []byte, r *AssignmentRequest) []byte {
	dst = append(dst, `<RequestAssignments SchemaVersion="1.00" ACK="false"`...)
	dst = xAttr(dst, "RequestType", or(r.RequestType, "Always"))
	dst = append(dst, "><Identification><Machine>"...)
	dst = xElem(dst, "ClientID", r.ClientID)
	dst = xElem(dst, "FQDN", r.FQDN)
	dst = xElem(dst, "NetBIOSName", r.NetBIOSName)
	dst = xElem(dst, "SID", r.SID)
	dst = append(dst, "</Machine><User /></Identification>"...)
	dst = xElem(dst, "PolicySource", r.PolicySource)
	dst = append(dst, "<Resource"...)
	dst = xAttr(dst, "ResourceType", or(r.ResourceType, "Machine"))
	return append(dst, " /><ServerCookie /></RequestAssignments>"...)
}

// ParseRequestAssignments reads a <RequestAssignments> (the MP side).
func ParseRequestAssignments(doc []byte) (AssignmentRequest, error) {
	var r AssignmentRequest
	err := visit(doc, func(s *xmlScanner, path [][]byte, t xmlToken) (bool, error) {
		if err := rootIs(path, "RequestAssignments"); err != nil {
			return false, err
		}
		var err error
		switch {
		case len(path) == 1:
			r.RequestType, err = attrString(t.attrs, "RequestType")
		case pathIs(path, "RequestAssignments", "Identification", "Machine", "ClientID"):
			r.ClientID, err = textString(s, t)
			return true, err
		case pathIs(path, "RequestAssignments", "Identification", "Machine", "FQDN"):
			r.FQDN, err = textString(s, t)
			return true, err
		case pathIs(path, "RequestAssignments", "Identification", "Machine", "NetBIOSName"):
			r.NetBIOSName, err = textString(s, t)
			return true, err
		case pathIs(path, "RequestAssignments", "Identification", "Machine", "SID"):
			r.SID, err = textString(s, t)
			return true, err
		case pathIs(path, "RequestAssignments", "PolicySource"):
			r.PolicySource, err = textString(s, t)
			return true, err
		case pathIs(path, "RequestAssignments", "Resource"):
			r.ResourceType, err = attrString(t.attrs, "ResourceType")
		}
		return false, err
	})
	return r, err
}

// Policy is one assignment of a <ReplyAssignments>.
type Policy struct {
	AssignmentID string // PolicyAssignmentID; empty: derived from ID
	ID           string // PolicyID: {GUID} or a package-style id
	Version      string // PolicyVersion, e.g. 2.00
	Type         string // PolicyType: Machine (default when writing)
	Category     string // PolicyCategory: NAAConfig, …
	Flags        uint32 // PolicyFlags
	Location     string // PolicyLocation: http://<mp>/SMS_MP/.sms_pol?…
}

// Secret reports whether the policy carries the secret flag.
func (p Policy) Secret() bool { return p.Flags&PolicyFlagSecret != 0 }

// PolicyLocation returns the location a real MP writes for a policy version:
// http://<mp>/SMS_MP/.sms_pol?{id}.{major}_{minor} (version 2.00 → .2_00), the form in
// ConfigMgr logs and public tools' output; newer sites also write .SHA256:<hash>.
func PolicyLocation(id, version string) string {
	return "http://" + MPPlaceholder + PathPolicy + "?" + id + "." + strings.ReplaceAll(version, ".", "_")
}

// ExpandMP replaces the <mp> placeholder of a policy location with hostport (a host or
// host:port: the client uses the MP and port it is talking to).
func ExpandMP(location, hostport string) string {
	return strings.Replace(location, MPPlaceholder, hostport, 1)
}

// AssignmentReply is the content of a <ReplyAssignments>.
type AssignmentReply struct {
	// ClientID, NetBIOSName and FQDN are echoed in <Identification> when ClientID is
	// set. Leave them empty for a reply that is the same for every client (then it can
	// be encoded once); the SDK documents the element, real clients do not need it.
	ClientID     string
	NetBIOSName  string
	FQDN         string
	PolicySource string // SMS:<site code>
	ServerCookie string // empty: <ServerCookie />
	Policies     []Policy
}

// AppendReplyAssignments appends the MP's <ReplyAssignments> for r. Attributes of the
// root (SchemaVersion, ReplyType) are unconfirmed.
func AppendReplyAssignments(dst []byte, r *AssignmentReply) []byte {
	dst = append(dst, `<ReplyAssignments SchemaVersion="1.00" ReplyType="Full">`...)
	if r.ClientID != "" {
		dst = append(dst, "<Identification><Machine>"...)
		dst = xElem(dst, "ClientID", r.ClientID)
		dst = xElem(dst, "NetBIOSName", r.NetBIOSName)
		dst = xElem(dst, "FQDN", r.FQDN)
		dst = append(dst, "<SID /></Machine></Identification>"...)
	}
	dst = xElem(dst, "PolicySource", r.PolicySource)
	dst = append(dst, `<Resource ResourceType="Machine" />`...)
	dst = xElem(dst, "ServerCookie", r.ServerCookie)
	for i := range r.Policies {
		p := &r.Policies[i]
		dst = append(dst, "<PolicyAssignment"...)
		dst = xAttr(dst, "PolicyAssignmentID", or(p.AssignmentID, p.ID))
		dst = append(dst, "><Policy"...)
		dst = xAttr(dst, "PolicyID", p.ID)
		dst = xAttr(dst, "PolicyVersion", p.Version)
		dst = xAttr(dst, "PolicyType", or(p.Type, "Machine"))
		if p.Category != "" {
			dst = xAttr(dst, "PolicyCategory", p.Category)
		}
		dst = xAttrInt(dst, "PolicyFlags", int64(p.Flags))
		dst = append(dst, "><PolicyLocation>"...)
		loc := p.Location
		if loc == "" {
			loc = PolicyLocation(p.ID, p.Version)
		}
		dst = appendCDATA(dst, loc)
		dst = append(dst, "</PolicyLocation></Policy></PolicyAssignment>"...)
	}
	return append(dst, "</ReplyAssignments>"...)
}

// AppendPolicies reads a <ReplyAssignments> (the client side) and appends its policies
// to dst: every <Policy> under a <PolicyAssignment>, as pxethief walks it. No
// reflection; per policy only its strings are allocated (common values are shared).
func AppendPolicies(dst []Policy, doc []byte) ([]Policy, error) {
	var assignment string
	err := visit(doc, func(s *xmlScanner, path [][]byte, t xmlToken) (bool, error) {
		if err := rootIs(path, "ReplyAssignments"); err != nil {
			return false, err
		}
		var err error
		switch {
		case pathIs(path, "ReplyAssignments", "PolicyAssignment"):
			assignment, err = attrString(t.attrs, "PolicyAssignmentID")
		case pathIs(path, "ReplyAssignments", "PolicyAssignment", "Policy"):
			p := Policy{AssignmentID: assignment}
			if p.ID, err = attrString(t.attrs, "PolicyID"); err != nil {
				return false, err
			}
			if p.Version, err = attrString(t.attrs, "PolicyVersion"); err != nil {
				return false, err
			}
			if p.Type, err = attrString(t.attrs, "PolicyType"); err != nil {
				return false, err
			}
			if p.Category, err = attrString(t.attrs, "PolicyCategory"); err != nil {
				return false, err
			}
			if f, ok := attr(t.attrs, "PolicyFlags"); ok {
				n, err := strconv.ParseUint(strings.TrimSpace(string(f)), 10, 32)
				if err != nil {
					return false, fmt.Errorf("%w: PolicyFlags %q", ErrMalformed, f)
				}
				p.Flags = uint32(n)
			}
			dst = append(dst, p)
		case pathIs(path, "ReplyAssignments", "PolicyAssignment", "Policy", "PolicyLocation"):
			loc, err := s.text(nil, t)
			if err != nil {
				return false, err
			}
			if n := len(dst); n > 0 {
				dst[n-1].Location = intern(bytes.TrimSpace(loc))
			}
			return true, nil
		}
		return false, err
	})
	return dst, err
}

// MachinePolicies returns the machine policies portlab's MP assigns every client: a
// few ordinary ones and an NAAConfig policy flagged secret. The categories other than
// NAAConfig, the ids and the flags value 6 (requires-auth|secret) of NAAConfig are
// portlab's choices (unconfirmed): public tools show real sites assigning dozens of
// policies and test only the secret bit.
func MachinePolicies() []Policy {
	ps := []Policy{
		{ID: "{7C1A1F66-5C1B-4E38-9A0E-1D2B3C4D5E01}", Version: "3.00", Category: "ClientSettings"},
		{ID: "{7C1A1F66-5C1B-4E38-9A0E-1D2B3C4D5E02}", Version: "1.00", Category: "HardwareInventory"},
		{ID: "{7C1A1F66-5C1B-4E38-9A0E-1D2B3C4D5E03}", Version: "2.00", Category: "SoftwareUpdates", Flags: PolicyFlagIntranetOnly},
		{ID: "{7C1A1F66-5C1B-4E38-9A0E-1D2B3C4D5E04}", Version: "2.00", Category: "NAAConfig", Flags: PolicyFlagRequiresAuth | PolicyFlagSecret},
	}
	for i := range ps {
		ps[i].Type = "Machine"
		ps[i].Location = PolicyLocation(ps[i].ID, ps[i].Version)
	}
	return ps
}

// PolicyQuery is the query of GET /SMS_MP/.sms_pol?….
type PolicyQuery struct {
	ID      string // {GUID} or a package-style id
	Version string // 2.00 for the …_00 form
	Hash    string // SHA256:<hex> for the hash form
}

// ParsePolicyQuery reads the raw query of a policy body request: {ID}.2_00,
// ID.1_00 or {ID}.SHA256:HEX, percent-escaped or not. Other forms wrap ErrMalformed.
func ParsePolicyQuery(raw string) (PolicyQuery, error) {
	var q PolicyQuery
	if len(raw) > 512 {
		return q, fmt.Errorf("%w: policy query longer than 512 bytes", ErrMalformed)
	}
	if strings.IndexByte(raw, '%') >= 0 {
		u, err := url.QueryUnescape(raw)
		if err != nil {
			return q, fmt.Errorf("%w: policy query: %v", ErrMalformed, err)
		}
		raw = u
	}
	dot := strings.IndexByte(raw, '.')
	if dot <= 0 || dot == len(raw)-1 {
		return q, fmt.Errorf("%w: policy query %q is not ID.VERSION", ErrMalformed, raw)
	}
	q.ID, raw = raw[:dot], raw[dot+1:]
	for i := 0; i < len(q.ID); i++ {
		if c := q.ID[i]; !(c == '{' || c == '}' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return q, fmt.Errorf("%w: policy id %q", ErrMalformed, q.ID)
		}
	}
	if h, ok := strings.CutPrefix(raw, "SHA256:"); ok {
		if len(h) != 64 || strings.Trim(h, "0123456789abcdefABCDEF") != "" {
			return q, fmt.Errorf("%w: policy hash %q", ErrMalformed, h)
		}
		q.Hash = raw
		return q, nil
	}
	major, minor, ok := strings.Cut(raw, "_")
	if !ok || !digits(major) || !digits(minor) {
		return q, fmt.Errorf("%w: policy version %q", ErrMalformed, raw)
	}
	q.Version = major + "." + minor
	return q, nil
}

func digits(s string) bool {
	if s == "" || len(s) > 9 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
