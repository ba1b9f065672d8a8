package wol

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func mustMAC(t testing.TB, s string) net.HardwareAddr {
	t.Helper()
	m, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// packet builds magic packet bytes by hand, independently of MarshalBinary.
func packet(mac net.HardwareAddr, pw []byte) []byte {
	b := bytes.Repeat([]byte{0xFF}, 6)
	for i := 0; i < 16; i++ {
		b = append(b, mac...)
	}
	return append(b, pw...)
}

func TestRoundTrip(t *testing.T) {
	mac := mustMAC(t, "52:54:00:12:34:56")
	for _, pw := range [][]byte{nil, {1, 2, 3, 4}, {0xa, 0xb, 0xc, 0xd, 0xe, 0xf}} {
		want := packet(mac, pw)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, &MagicPacket{Target: mac, Password: pw}); err != nil {
			t.Fatalf("password %x: serialize: %v", pw, err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("password %x: serialized\n%x\nwant\n%x", pw, buf.Bytes(), want)
		}
		mb, err := (&MagicPacket{Target: mac, Password: pw}).MarshalBinary()
		if err != nil || !bytes.Equal(mb, want) {
			t.Fatalf("password %x: MarshalBinary = %x, %v", pw, mb, err)
		}

		var m MagicPacket
		if err := m.DecodeFromBytes(buf.Bytes(), gopacket.NilDecodeFeedback); err != nil {
			t.Fatalf("password %x: decode: %v", pw, err)
		}
		if m.Target.String() != mac.String() || !bytes.Equal(m.Password, pw) {
			t.Fatalf("password %x: decoded target %s password %x", pw, m.Target, m.Password)
		}

		// Through gopacket's registered decoder.
		p := gopacket.NewPacket(want, LayerTypeMagicPacket, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("password %x: NewPacket: %v", pw, el.Error())
		}
		got, ok := p.Layer(LayerTypeMagicPacket).(*MagicPacket)
		if !ok || got.Target.String() != mac.String() || !bytes.Equal(got.Password, pw) {
			t.Fatalf("password %x: NewPacket layer = %+v", pw, p.Layer(LayerTypeMagicPacket))
		}
	}
	if LayerTypeMagicPacket.String() != "WakeOnLAN" {
		t.Errorf("layer type name %q", LayerTypeMagicPacket.String())
	}
}

// TestDecodeCopies: a decoded packet must survive reuse of the buffer (zero-copy reads).
func TestDecodeCopies(t *testing.T) {
	b := packet(mustMAC(t, "02:00:00:00:00:01"), []byte{9, 9, 9, 9})
	var m MagicPacket
	if err := m.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	if m.Target.String() != "02:00:00:00:00:01" || !bytes.Equal(m.Password, []byte{9, 9, 9, 9}) {
		t.Fatalf("decoded fields alias the input: %s %x", m.Target, m.Password)
	}
}

func TestDecodeRejects(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	good := packet(mac, nil)
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "length 0"},
		{"sync only", good[:6], "length 6"},
		{"one byte short", good[:101], "length 101"},
		{"one byte long", append(bytes.Clone(good), 0), "length 103"},
		{"password 5 bytes", append(bytes.Clone(good), 1, 2, 3, 4, 5), "length 107"},
		{"password 7 bytes", append(bytes.Clone(good), 1, 2, 3, 4, 5, 6, 7), "length 109"},
		{"17 repetitions", append(bytes.Clone(good), mac...), "length 108"}, // parses as a 6-byte password: allowed below
		{"broken sync first", mod(func(b []byte) []byte { b[0] = 0xFE; return b }), "sync stream byte 0"},
		{"broken sync last", mod(func(b []byte) []byte { b[5] = 0; return b }), "sync stream byte 5"},
		{"repetition 2 differs", mod(func(b []byte) []byte { b[12] ^= 1; return b }), "repetition 2"},
		{"repetition 16 differs", mod(func(b []byte) []byte { b[101] ^= 0x80; return b }), "repetition 16"},
		{"all zero", make([]byte, 102), "sync stream byte 0"},
		{"all 0xff is a valid broadcast MAC target, so break one", mod(func(b []byte) []byte {
			for i := range b {
				b[i] = 0xFF
			}
			b[50] = 0
			return b
		}), "repetition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m MagicPacket
			err := m.DecodeFromBytes(tt.data, gopacket.NilDecodeFeedback)
			if tt.name == "17 repetitions" {
				// 102 + 6 bytes is the 6-byte password form; a 17th MAC is a legal password.
				if err != nil || !bytes.Equal(m.Password, mac) {
					t.Fatalf("want decode with password = MAC, got %v, %x", err, m.Password)
				}
				return
			}
			if err == nil {
				t.Fatalf("decoded %d bytes without error: %+v", len(tt.data), m)
			}
			if !errors.Is(err, ErrNotMagic) {
				t.Errorf("error %v does not wrap ErrNotMagic", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to mention %q", err, tt.want)
			}
			p := gopacket.NewPacket(tt.data, LayerTypeMagicPacket, gopacket.Default)
			if p.ErrorLayer() == nil {
				t.Errorf("NewPacket: no error layer for a malformed packet")
			}
		})
	}
}

func TestSerializeRejects(t *testing.T) {
	for _, m := range []MagicPacket{
		{},
		{Target: net.HardwareAddr{1, 2, 3, 4, 5}},
		{Target: net.HardwareAddr{1, 2, 3, 4, 5, 6, 7, 8}}, // EUI-64
		{Target: net.HardwareAddr{1, 2, 3, 4, 5, 6}, Password: []byte{1}},
		{Target: net.HardwareAddr{1, 2, 3, 4, 5, 6}, Password: []byte{1, 2, 3, 4, 5}},
	} {
		buf := gopacket.NewSerializeBuffer()
		if err := m.SerializeTo(buf, gopacket.SerializeOptions{}); err == nil {
			t.Errorf("%+v: serialized without error", m)
		}
		if _, err := m.MarshalBinary(); err == nil {
			t.Errorf("%+v: marshalled without error", m)
		}
	}
}

// TestUDPAnyPort: a full Ethernet/IPv4/UDP frame decodes as a magic packet whatever the
// port, and a payload of the wrong length in a well-formed datagram is rejected.
func TestUDPAnyPort(t *testing.T) {
	mac := mustMAC(t, "0a:00:27:00:00:07")
	for _, port := range []layers.UDPPort{7, 9, 53, 40009} {
		frame := udpFrame(t, port, packet(mac, nil))
		var (
			eth     layers.Ethernet
			ip4     layers.IPv4
			udp     layers.UDP
			decoded []gopacket.LayerType
		)
		p := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &udp)
		p.IgnoreUnsupported = true
		if err := p.DecodeLayers(frame, &decoded); err != nil {
			t.Fatalf("port %d: %v", port, err)
		}
		var m MagicPacket
		if err := DecodeUDP(&udp, &m); err != nil {
			t.Fatalf("port %d: %v", port, err)
		}
		if m.Target.String() != mac.String() {
			t.Fatalf("port %d: target %s", port, m.Target)
		}
		// Truncated capture: the UDP length says more than there is.
		trunc := frame[:len(frame)-10]
		if err := p.DecodeLayers(trunc, &decoded); err != nil {
			t.Fatalf("port %d truncated: %v", port, err)
		}
		if err := DecodeUDP(&udp, &m); !errors.Is(err, ErrNotMagic) {
			t.Fatalf("port %d: truncated datagram: err %v", port, err)
		}
	}
}

func TestDecodeEthernet(t *testing.T) {
	mac := mustMAC(t, "0a:00:27:00:00:08")
	eth := &layers.Ethernet{SrcMAC: mustMAC(t, "02:00:00:00:00:aa"), DstMAC: layers.EthernetBroadcast, EthernetType: EtherTypeWakeOnLAN}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, eth, &MagicPacket{Target: mac}); err != nil {
		t.Fatal(err)
	}
	var got layers.Ethernet
	if err := got.DecodeFromBytes(buf.Bytes(), gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	var m MagicPacket
	if err := DecodeEthernet(&got, &m); err != nil || m.Target.String() != mac.String() {
		t.Fatalf("DecodeEthernet = %v, target %s", err, m.Target)
	}
	got.EthernetType = layers.EthernetTypeIPv4
	if err := DecodeEthernet(&got, &m); !errors.Is(err, ErrNotMagic) {
		t.Fatalf("IPv4 EtherType accepted: %v", err)
	}
}

func udpFrame(t testing.TB, port layers.UDPPort, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IPv4(198, 18, 0, 1), DstIP: net.IPv4(198, 18, 0, 255)}
	udp := &layers.UDP{SrcPort: 40000, DstPort: port}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func FuzzDecodeMagic(f *testing.F) {
	mac := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	good := packet(mac, nil)
	f.Add(good)
	f.Add(packet(mac, []byte{1, 2, 3, 4}))
	f.Add(packet(mac, []byte{1, 2, 3, 4, 5, 6}))
	f.Add(good[:101])
	f.Add(append(bytes.Clone(good), 0))
	broken := bytes.Clone(good)
	broken[3] = 0
	f.Add(broken)
	broken = bytes.Clone(good)
	broken[60] ^= 1
	f.Add(broken)
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xFF}, 108))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m MagicPacket
		if err := m.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
			if !errors.Is(err, ErrNotMagic) {
				t.Fatalf("error %v does not wrap ErrNotMagic", err)
			}
			return
		}
		// Whatever decodes must encode back to exactly the same bytes.
		out, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded %x but cannot encode it: %v", data, err)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("round trip changed the packet:\n in %x\nout %x", data, out)
		}
		// And the whole stack never panics on it as a UDP payload.
		_ = gopacket.NewPacket(data, LayerTypeMagicPacket, gopacket.Default)
	})
}

func TestParsePassword(t *testing.T) {
	tests := []struct {
		in   string
		want []byte
		ok   bool
	}{
		{"", nil, true},
		{"11:22:33:44:55:66", []byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66}, true},
		{"aa-BB-cc-dd", []byte{0xaa, 0xbb, 0xcc, 0xdd}, true},
		{"192.168.1.2", []byte{192, 168, 1, 2}, true},
		{"11:22:33", nil, false},
		{"11:22:33:44:55", nil, false},
		{"1:22:33:44", nil, false},
		{"zz:22:33:44", nil, false},
		{"11:22-33:44", nil, false},
		{"::1", nil, false},
		{"secret", nil, false},
	}
	for _, tt := range tests {
		got, err := ParsePassword(tt.in)
		if (err == nil) != tt.ok || !bytes.Equal(got, tt.want) {
			t.Errorf("ParsePassword(%q) = %x, %v", tt.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ParsePassword(%q): %v does not wrap ErrInvalid", tt.in, err)
		}
	}
}
