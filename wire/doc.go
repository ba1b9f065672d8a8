// Package wire holds ConfigMgr client <-> management point traffic as real clients and
// MPs exchange it, for both portlab's fake MP (agent/mp) and its simulated clients
// (agent/fleet): the CCM message codec, the bodies of the MP endpoints, the location
// (.sms_aut) documents, the server side of NTLM, and portlab's own notification framing.
// A client written by someone else (sccmwtf, SharpSCCM, sccmhunter, pxethief, anything
// built on the Client Messaging SDK) can talk to portlab's MP through it.
//
// It is not a ConfigMgr implementation: nothing is signed, verified or encrypted (the
// clientauth hook carries placeholders, secret policies are served decrypted), and
// where public sources are silent the shapes are portlab's choices, marked
// "unconfirmed" in the code. It imports nothing else of portlab.
//
// # The message codec
//
// A CCM_POST body and the MP's reply share one layout (Content-Type ContentTypeCCM):
//
//	--aAbBcCdDv1234567890VxXyYzZ
//	content-type: text/plain; charset=UTF-16
//
//	FF FE <Msg SchemaVersion="1.1">…</Msg>         header, UTF-16LE with a BOM
//	--aAbBcCdDv1234567890VxXyYzZ
//	content-type: application/octet-stream
//
//	78 9C …                                        payload: UTF-16LE XML + NUL (no BOM),
//	--aAbBcCdDv1234567890VxXyYzZ--                  zlib when <Hook3 Name="zlib-compress"/>
//
// Body Length counts the plain UTF-16LE payload bytes, terminator included (what SDK
// clients send), not the compressed ones.
//
//   - MsgHeader: the <Msg> fields; RequestHeader and ReplyHeader fill them as a client
//     and an MP do. ClientAuth is the clientauth hook; PlaceholderClientAuth is what
//     portlab's clients send in place of signatures.
//   - EncodePayload(xml, compress) → EncodedPayload: a payload part, built once for a
//     payload that never changes (an MP's static replies) and reused concurrently.
//   - AppendMessage(dst, h, payload): writes a whole body; Encoder does payload and
//     message into reused buffers (a goroutine allocates nothing per message; the zlib
//     compressor is pooled and Reset).
//   - ReadMessage(contentType, body, Limits) → header, payload as UTF-8 XML: liberal in
//     layout and encoding, bounded by Limits (header, payload and inflated sizes); every
//     structural problem wraps ErrMalformed (answer 400). Decoder is the buffer-reusing
//     form.
//
// portlab's one extension: its clients name their client group in the HTTP request
// header HeaderGroup (X-Portlab-Group), which a real MP ignores; Group reads it,
// AppendGroupHeader writes it. Nothing portlab-specific goes into <Msg>.
//
// # Endpoint bodies
//
// Builders append UTF-8 XML (give it to EncodePayload); parsers take the payload
// ReadMessage returns (or UTF-16 bytes) and use a small non-reflective scanner:
//
//	MP_ClientRegistration  AppendRegistrationRequest / ParseRegistrationRequest
//	                       AppendRegistrationReply   / ParseRegistrationReply (SMSID)
//	MP_PolicyManager       AppendRequestAssignments  / ParseRequestAssignments
//	                       AppendReplyAssignments    / AppendPolicies; MachinePolicies,
//	                       PolicyLocation, ExpandMP ("<mp>" → host:port)
//	GET .sms_pol?…         ParsePolicyQuery; AppendPolicyBody / ParsePolicyBody
//	MP_LocationManager     AppendSiteInformationRequest / ParseSiteInformationRequest
//	                       AppendSiteInformationReply   / ParseSiteInformationReply
//	                       AppendContentLocationRequest / ParseContentLocationRequest
//	                       AppendContentLocationReply   / ParseContentLocationReply
//	MP_DdrEndpoint         AppendHeartbeatDDR  / ParseReport
//	MP_StatusReceiver      AppendStatusMessage / ParseReport
//	GET .sms_aut?…         ParseAutQuery (ErrUnknownQuery → 404); AppendMPList /
//	                       ParseMPList; AppendX509Certificate / ParseX509Certificate;
//	                       AppendMPKeyInfo, AppendMediaKeyInfo / ParseMPKeyInfo;
//	                       AppendClientAffinity
//
// # NTLM
//
// ParseAuthHeader decodes "NTLM …" and "Negotiate …" (unwrapping SPNEGO, refusing
// Kerberos with ErrKerberos); ParseNegotiate, NewChallenge and ParseAuthenticate are the
// server's three steps; SPNEGOResponse wraps an answer under Negotiate. ComputerAccount
// is the client side, on github.com/Azure/go-ntlmssp.
//
// # The old dialect
//
// Header, BuildMessage, ParseMessage, MPList and MPEntry (message.go) are portlab's first,
// made-up dialect (UTF-8 XML header, random boundary, ports in MPLIST). They stay until
// agent/mp and agent/fleet use the API above; do not use them in new code.
package wire
