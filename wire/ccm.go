// This file holds the paths, verbs, endpoint names and other constants of the protocol.
// The package documentation is in doc.go.

package wire

import "time"

// UserAgent is the real client's user agent.
const UserAgent = "SMS CCM 5.0"

// Paths.
const (
	PathAut            = "/SMS_MP/.sms_aut"                // ?MPLIST ?MPCERT ?SITESIGNCERT ?MPKEYINFORMATION
	PathPolicy         = "/SMS_MP/.sms_pol"                // GET policy bodies
	PathRequest        = "/ccm_system/request"             // CCM_POST, anonymous
	PathRequestWinAuth = "/ccm_system_windowsauth/request" // CCM_POST, Windows auth
	PathLongPoll       = "/bgb/handler.ashx"               // notification fallback
)

// Location queries (the raw query string of PathAut).
const (
	QueryMPList     = "MPLIST"
	QueryMPCert     = "MPCERT"
	QuerySiteSign   = "SITESIGNCERT"
	QueryMPKeyInfo  = "MPKEYINFORMATION"
	MethodCCMPost   = "CCM_POST"
	MethodBITSPost  = "BITS_POST"
	MethodPropfind  = "PROPFIND"
	ContentTypeMsg  = "multipart/mixed"
	PartHeaderType  = "text/xml; charset=UTF-8"
	PartPayloadType = "application/octet-stream"
)

// AllowedMethods are the verbs an MP accepts; others get 405.
var AllowedMethods = []string{"HEAD", MethodCCMPost, MethodBITSPost, "GET", MethodPropfind}

// Target endpoints named in a message header.
const (
	EndpointRegistration = "MP_ClientRegistration"
	EndpointPolicy       = "MP_PolicyManager" // policy assignment request
	EndpointDDR          = "MP_DDREndpoint"   // heartbeat discovery
	EndpointStatus       = "MP_StatusManager"
	EndpointLocation     = "MP_LocationManager"
)

// Endpoints lists the endpoints an MP serves.
func Endpoints() []string {
	return []string{EndpointRegistration, EndpointPolicy, EndpointDDR, EndpointStatus, EndpointLocation}
}

// Endpoint names as real clients write them in TargetEndpoint (CcmMessaging.log and the
// public client implementations spell them this way). EndpointDDR and EndpointStatus
// above keep the spellings portlab used first (MP_DDREndpoint, MP_StatusManager); the
// lead switches callers to these and then retires the old two.
const (
	EndpointDdrEndpoint    = "MP_DdrEndpoint"    // heartbeat discovery (DDR <Report>)
	EndpointStatusReceiver = "MP_StatusReceiver" // status messages
	EndpointClientID       = "MP_ClientIdManager"
)

// RealEndpoints lists the endpoints a real MP serves under their real names.
func RealEndpoints() []string {
	return []string{EndpointRegistration, EndpointPolicy, EndpointLocation, EndpointDdrEndpoint, EndpointStatusReceiver}
}

// The real message encoding (codec.go).
const (
	// Boundary is the fixed multipart boundary every real client and MP uses.
	Boundary = "aAbBcCdDv1234567890VxXyYzZ"
	// ContentTypeCCM is the Content-Type real senders put on a CCM_POST body and its
	// reply: the boundary quoted (sccmwtf, SCCMSecrets, Metasploit and the SDK all
	// quote it). ReadMessage also accepts it unquoted.
	ContentTypeCCM = `multipart/mixed; boundary="` + Boundary + `"`
	// PartHeaderTypeUTF16 is the content type of the header part (part 1).
	PartHeaderTypeUTF16 = "text/plain; charset=UTF-16"
	// SchemaVersion is the <Msg SchemaVersion> real senders write.
	SchemaVersion = "1.1"
	// HookClientAuth and HookZlib are the hook names real senders use.
	HookClientAuth = "clientauth"
	HookZlib       = "zlib-compress"
	// ReplyToService is the service name in a client's ReplyTo (direct:HOST:SccmMessaging).
	ReplyToService = "SccmMessaging"
)

// More paths and user agents.
const (
	PathRequestAltAuth = "/ccm_system_altauth/request" // CCM_POST on HTTPS-enforced sites
	// UserAgentCCMPost is the real client's user agent on CCM_POST (UserAgent is the GET one).
	UserAgentCCMPost = "ccmhttp"
	// UserAgentSDK is what tools built on the Client Messaging SDK send.
	UserAgentSDK = "ConfigMgr Messaging HTTP Sender"
)

// More location queries of PathAut (see ParseAutQuery for the typed form).
const (
	QueryMPList1          = "MPLIST1"
	QueryMPList2          = "MPLIST2"
	QueryMPKeyInfoEx      = "MPKEYINFORMATIONEX"
	QueryMPKeyInfoMedia   = "MPKEYINFORMATIONMEDIA"
	QueryClientAffinity   = "GETCLIENTAFFINITY"
	ContentTypePolicyBody = "text/xml" // unconfirmed: the Content-Type of a .sms_pol body
)

// HeaderGroup is portlab's one extension of the wire format: the HTTP request header in
// which a portlab client names its client group. It is an HTTP header, not a field of
// <Msg>, because a real MP (IIS + ccmisapi) ignores request headers it does not know,
// while nothing public says which parts of <Msg> it tolerates. See Group.
const HeaderGroup = "X-Portlab-Group"

// Long-poll parameters (query string of PathLongPoll).
const (
	LPParamGUID  = "guid"  // client GUID
	LPParamGroup = "group" // client group (for targeted pushes)
	LPParamWait  = "wait"  // longest hold, Go duration text; the MP caps it
	LPParamAck   = "ack"   // acknowledge push ID (answered at once)
	// DefaultLongPollWait is how long an MP holds a poll with nothing to say (then 204).
	DefaultLongPollWait = 30 * time.Second
)
