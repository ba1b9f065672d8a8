package netsim

import "net/netip"

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// testSpec is the network most tests build: two client segments behind one firewall
// router, two MPs and the site server on dc (four members: a switch).
func testSpec() Spec {
	return Spec{
		Segments: []Segment{
			{Name: "lan", Subnet: pfx("198.19.0.0/24"), Clients: pfx("198.18.0.0/17")},
			{Name: "lan2", Subnet: pfx("198.19.1.0/24"), Clients: pfx("198.18.128.0/20")},
			{Name: "dc", Subnet: pfx("198.19.2.0/24")},
		},
		Routers: []Router{{Name: "fw", Links: []string{"lan", "lan2", "dc"}, Firewall: &Firewall{Default: Accept, Rules: []Rule{
			{Name: "open", Proto: ProtoTCP, Ports: PortRange{8080, 8080}, Action: Accept},
			{Name: "blocked", Proto: ProtoTCP, Ports: PortRange{8443, 8443}, Action: Drop},
			{Name: "refused", Proto: ProtoTCP, Ports: PortRange{8444, 8445}, Action: Reject},
			{Name: "lan2-udp", Proto: ProtoUDP, From: "lan2", To: "dc", Action: Reject},
		}}}},
		MPs:  []Host{{Name: "mp1", Segment: "dc"}, {Name: "mp2", Segment: "dc"}},
		Site: &Host{Name: "site", Segment: "dc"},
	}
}

// benchSpec is five namespaces with 65,534 client identities.
func benchSpec() Spec {
	return Spec{
		Segments: []Segment{
			{Name: "lan", Subnet: pfx("198.19.0.0/24"), Clients: pfx("198.18.0.0/16")},
			{Name: "dc", Subnet: pfx("198.19.1.0/24")},
		},
		Routers: []Router{{Name: "core", Links: []string{"lan", "dc"}, Firewall: &Firewall{Default: Accept, Rules: []Rule{
			{Name: "no-8443", Proto: ProtoTCP, Ports: PortRange{8443, 8443}, Action: Drop},
		}}}},
		MPs:  []Host{{Name: "mp1", Segment: "dc"}},
		Site: &Host{Name: "site", Segment: "dc"},
	}
}

// wakeSpec is the built-in wake-up scenario's network: ra forwards directed broadcasts,
// rb does not, rc does but drops UDP 9.
func wakeSpec() Spec {
	return Spec{
		Segments: []Segment{
			{Name: "lan-a", Subnet: pfx("198.19.0.0/24"), Clients: pfx("198.18.16.0/22")},
			{Name: "lan-b", Subnet: pfx("198.19.1.0/24"), Clients: pfx("198.18.20.0/22")},
			{Name: "lan-c", Subnet: pfx("198.19.2.0/24"), Clients: pfx("198.18.24.0/22")},
			{Name: "dc", Subnet: pfx("198.19.3.0/24")},
		},
		Routers: []Router{
			{Name: "ra", Links: []string{"dc", "lan-a"}, DirectedBroadcast: true},
			{Name: "rb", Links: []string{"dc", "lan-b"}},
			{Name: "rc", Links: []string{"dc", "lan-c"}, DirectedBroadcast: true, Firewall: &Firewall{Default: Accept, Rules: []Rule{
				{Name: "block-wol", Proto: ProtoUDP, Ports: PortRange{9, 9}, Action: Drop},
			}}},
		},
		MPs:  []Host{{Name: "mp1", Segment: "dc"}},
		Site: &Host{Name: "site", Segment: "dc"},
	}
}
