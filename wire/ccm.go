// Package wire holds the shapes of ConfigMgr client <-> management point traffic that
// both the fake MP (harness/mp) and the simulated client (harness/client) speak: paths,
// verbs, the multipart CCM_POST message, the MPLIST document and the client notification
// frames. The shapes follow the public descriptions of the protocol (see DOMAIN.md);
// they are not byte-exact with a real MP and need not be.
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

// Long-poll parameters (query string of PathLongPoll).
const (
	LPParamGUID  = "guid"  // client GUID
	LPParamGroup = "group" // client group (for targeted pushes)
	LPParamWait  = "wait"  // longest hold, Go duration text; the MP caps it
	LPParamAck   = "ack"   // acknowledge push ID (answered at once)
	// DefaultLongPollWait is how long an MP holds a poll with nothing to say (then 204).
	DefaultLongPollWait = 30 * time.Second
)
