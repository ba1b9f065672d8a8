package wire_test

import (
	"fmt"
	"time"

	"github.com/portlab/portlab/wire"
)

// A client registers: it writes a CCM message, the MP reads it and answers with an SMSID.
func Example() {
	// Client side.
	req := wire.RequestHeader(wire.EndpointRegistration, "CLIENT1", "mp1.corp.example", false)
	req.ID = "{5DD100CD-DF1D-45F5-BA17-A327F43465F8}"
	var enc wire.Encoder
	body, _ := enc.Message(nil, &req, wire.AppendRegistrationRequest(nil, &wire.RegistrationRequest{
		NetBIOSName: "CLIENT1", FQDN: "client1.corp.example"}), true)

	// MP side.
	h, payload, err := wire.ReadMessage(wire.ContentTypeCCM, body, wire.Limits{})
	if err != nil {
		panic(err)
	}
	r, _ := wire.ParseRegistrationRequest(payload)
	fmt.Println(h.TargetEndpoint, r.NetBIOSName, h.Compressed)
	reply := wire.ReplyHeader(&h, "{8E2A7D11-3C4B-4F6A-9D0E-1B2C3D4E5F60}", "MP1", time.Now())
	body, _ = enc.Message(nil, &reply, wire.AppendRegistrationReply(nil, &wire.RegistrationReply{
		SMSID: "GUID:2F1B6C3E-8A4D-4E55-9B21-0C7D3E9A4F10"}), true)

	// Client side again.
	_, payload, _ = wire.ReadMessage(wire.ContentTypeCCM, body, wire.Limits{})
	rr, _ := wire.ParseRegistrationReply(payload)
	fmt.Println(rr.SMSID)
	// Output:
	// MP_ClientRegistration CLIENT1 true
	// GUID:2F1B6C3E-8A4D-4E55-9B21-0C7D3E9A4F10
}

func ExampleExpandMP() {
	for _, p := range wire.MachinePolicies() {
		if p.Secret() {
			fmt.Println(p.Category, wire.ExpandMP(p.Location, "mp1.corp.example:8080"))
		}
	}
	// Output:
	// NAAConfig http://mp1.corp.example:8080/SMS_MP/.sms_pol?{7C1A1F66-5C1B-4E38-9A0E-1D2B3C4D5E04}.2_00
}

func ExampleParseAutQuery() {
	for _, raw := range []string{"mplist", "MPLIST2&ps1", "SMSTRC"} {
		q, err := wire.ParseAutQuery(raw)
		fmt.Println(q.Kind, q.Site, err)
	}
	// Output:
	// MPLIST  <nil>
	// MPLIST2 PS1 <nil>
	// AutKind(0)  unknown location query: "SMSTRC": not a location query
}
