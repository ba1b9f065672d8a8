package cli

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/portlab/portlab/wire"
	"github.com/spf13/cobra"
)

// maxMessageFile bounds what `mp decode` reads.
const maxMessageFile = 16 << 20

func newMPMessageCmd(io streams) *cobra.Command {
	var (
		endpoint, smsid, client, site, domain, mpName, request string
		plain                                                  bool
	)
	c := &cobra.Command{
		Use:   "message",
		Short: "Write a CCM_POST request body as a real ConfigMgr client sends it",
		Long: `message writes one CCM message (the body of a CCM_POST) to stdout, byte for byte in
the layout real clients use: the fixed multipart boundary, the <Msg> header in UTF-16LE
with a BOM, the payload in UTF-16LE with a NUL terminator, zlib-compressed under the
zlib-compress hook (--plain: uncompressed). Replay it with curl against portlab mp serve
(or anything that speaks the protocol); the Content-Type to send is printed on stderr.

Endpoints: MP_ClientRegistration (no --smsid needed), MP_PolicyManager (policy
assignments; --smsid), MP_LocationManager (--request site, the default, or content),
MP_DdrEndpoint (a heartbeat DDR), MP_StatusReceiver (a status message).`,
		Example: `  portlab mp message --endpoint MP_ClientRegistration > reg.bin
  curl -X CCM_POST -H 'Content-Type: multipart/mixed; boundary="aAbBcCdDv1234567890VxXyYzZ"' \
       --data-binary @reg.bin http://127.0.0.1:8080/ccm_system/request -o reply.bin
  portlab mp decode reply.bin          # the SMSID the MP assigned
  portlab mp message --endpoint MP_PolicyManager --smsid GUID:... > policy.bin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fqdn := strings.ToLower(client)
			if domain != "" {
				fqdn += "." + domain
			}
			var doc []byte
			switch endpoint {
			case wire.EndpointRegistration:
				doc = wire.AppendRegistrationRequest(nil, &wire.RegistrationRequest{NetBIOSName: client, FQDN: fqdn, TimeStamp: time.Now()})
			case wire.EndpointPolicy:
				if smsid == "" {
					return WithCode(ExitInvalid, fmt.Errorf("--endpoint %s needs --smsid (the SMSID registration answered)", endpoint))
				}
				doc = wire.AppendRequestAssignments(nil, &wire.AssignmentRequest{ClientID: smsid, FQDN: fqdn, NetBIOSName: client, PolicySource: "SMS:" + site})
			case wire.EndpointLocation:
				switch request {
				case "site":
					doc = wire.AppendSiteInformationRequest(nil, site)
				case "content":
					doc = wire.AppendContentLocationRequest(nil, &wire.ContentLocationRequest{PackageID: site + "00001", SiteCode: site})
				default:
					return WithCode(ExitInvalid, fmt.Errorf("--request %q: want site or content", request))
				}
			case wire.EndpointDdrEndpoint:
				doc = wire.AppendHeartbeatDDR(nil, &wire.HeartbeatDDR{Client: wire.ReportClient{ClientID: smsid, NetBIOSName: client},
					Date: time.Now(), FQDN: fqdn, Domain: domain, SiteCode: site})
			case wire.EndpointStatusReceiver:
				doc = wire.AppendStatusMessage(nil, &wire.StatusMessage{Client: wire.ReportClient{ClientID: smsid, NetBIOSName: client}})
			default:
				return WithCode(ExitInvalid, fmt.Errorf("--endpoint %q: want one of %s", endpoint, strings.Join(wire.RealEndpoints(), ", ")))
			}
			h := wire.RequestHeader(endpoint, client, strings.ToUpper(mpName), false)
			h.ID = messageGUID()
			h.SourceID = smsid
			h.SentTime = time.Now()
			if smsid != "" && endpoint != wire.EndpointRegistration {
				h.ClientAuth = wire.PlaceholderClientAuth(client)
			}
			var e wire.Encoder
			body, err := e.Message(nil, &h, doc, !plain)
			if err != nil {
				return err
			}
			fmt.Fprintf(io.err, "Content-Type: %s\n", wire.ContentTypeCCM)
			_, err = io.out.Write(body)
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&endpoint, "endpoint", wire.EndpointRegistration, "target endpoint")
	f.StringVar(&smsid, "smsid", "", "the client's SMSID (GUID:...), as registration assigned it")
	f.StringVar(&client, "client", "CLIENT1", "the client's NetBIOS name")
	f.StringVar(&site, "site", "PS1", "site code")
	f.StringVar(&domain, "domain", "corp.example", "the client's DNS domain")
	f.StringVar(&mpName, "mp", "mp1", "the MP the client addresses")
	f.StringVar(&request, "request", "site", "MP_LocationManager request: site or content")
	f.BoolVar(&plain, "plain", false, "do not compress the payload (no zlib-compress hook)")
	return c
}

func newMPDecodeCmd(io streams) *cobra.Command {
	return &cobra.Command{
		Use:   "decode FILE",
		Short: "Print the header and payload of a CCM message (a request or a reply body)",
		Long: `decode reads a CCM message body (what portlab mp message writes, or a reply curl saved)
and prints its <Msg> header fields and its payload as XML text. It reads as liberally
as the MP does (UTF-8 or UTF-16 headers, compressed or plain payloads) and refuses what
is not a CCM message (exit 2).`,
		Example: `  portlab mp decode reply.bin
  curl ... -o - | portlab mp decode /dev/stdin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := readMessageFile(args[0], maxMessageFile)
			if err != nil {
				return WithCode(ExitInvalid, err)
			}
			h, payload, err := wire.ReadMessage(wire.ContentTypeCCM, b, wire.Limits{})
			if err != nil {
				return WithCode(ExitInvalid, fmt.Errorf("%s: %w", args[0], err))
			}
			fmt.Fprintf(io.out, "ID: %s\nCorrelationID: %s\nSourceID: %s\nSourceHost: %s\nTargetEndpoint: %s\nTargetAddress: %s\nReplyTo: %s\nCompressed: %v\nBodyLength: %d\n",
				h.ID, h.CorrelationID, h.SourceID, h.SourceHost, h.TargetEndpoint, h.TargetAddress, h.ReplyTo, h.Compressed, h.BodyLength)
			if r, err := wire.ParseRegistrationReply(payload); err == nil && r.SMSID != "" && bytes.Contains(payload, []byte("ClientRegistrationResponse")) {
				fmt.Fprintf(io.out, "SMSID: %s\n", r.SMSID)
			}
			fmt.Fprintf(io.out, "\n%s\n", payload)
			return nil
		},
	}
}

// messageGUID is a random braced GUID.
func messageGUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return string(wire.AppendGUID(nil, b))
}

// readMessageFile reads a file of at most max bytes (a pipe or /dev/stdin too: the
// bound holds whatever the file is).
func readMessageFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if n > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, max)
	}
	return buf.Bytes(), nil
}
