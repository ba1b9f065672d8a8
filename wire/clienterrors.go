package wire

import "strings"

// ClientLogError is the error a real client's CcmMessaging.log shows for a request
// that ended with outcome (portlab's outcomes: refused, timeout, reset, tls_error,
// error, http_<status>), so a rehearsal's failures read the way an administrator finds
// them on a client:
//
//	refused    12029  ERROR_WINHTTP_CANNOT_CONNECT   (the SYN was answered by RST or ICMP)
//	timeout    12002  ERROR_WINHTTP_TIMEOUT          (a dropped SYN, or no answer)
//	reset      12030  ERROR_WINHTTP_CONNECTION_ERROR (the connection broke mid-exchange)
//	tls_error  12175  ERROR_WINHTTP_SECURE_FAILURE   (the certificate or handshake failed)
//	http_NNN   0x87d00231 CCM_E_BAD_HTTP_STATUS_CODE ("Post to … failed with 0x87d00231")
//
// The WinHTTP codes are WinHTTP's. That the post failure CcmMessaging logs for an HTTP
// error status is 0x87d00231 follows DOMAIN.md's log excerpt; which CCM_E_ name goes
// with that value is unconfirmed. "ok" and unknown outcomes give "".
func ClientLogError(outcome string) string {
	switch outcome {
	case "refused":
		return CCMErrCannotConnect
	case "timeout":
		return CCMErrTimeout
	case "reset":
		return CCMErrConnection
	case "tls_error":
		return CCMErrSecure
	case "error":
		return CCMErrConnection
	}
	if strings.HasPrefix(outcome, "http_") {
		return CCMErrBadStatus
	}
	return ""
}

// The codes ClientLogError returns.
const (
	CCMErrCannotConnect = "12029 ERROR_WINHTTP_CANNOT_CONNECT"
	CCMErrTimeout       = "12002 ERROR_WINHTTP_TIMEOUT"
	CCMErrConnection    = "12030 ERROR_WINHTTP_CONNECTION_ERROR"
	CCMErrSecure        = "12175 ERROR_WINHTTP_SECURE_FAILURE"
	CCMErrBadStatus     = "0x87d00231 CCM_E_BAD_HTTP_STATUS_CODE"
)

// ClientLogErrors lists every code ClientLogError returns.
func ClientLogErrors() []string {
	return []string{CCMErrCannotConnect, CCMErrTimeout, CCMErrConnection, CCMErrSecure, CCMErrBadStatus}
}
