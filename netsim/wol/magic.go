// Package wol holds portlab's Wake-on-LAN pieces: the magic packet as a gopacket layer,
// a paced sender for the site server's wake-up packets, and a listener that watches an
// interface the way a sleeping NIC does.
//
// It is for the lab only: the sender refuses any destination outside 198.18.0.0/15 (the
// benchmark range portlab builds its networks in) and 127.0.0.0/8. It is not a general
// wake-up tool and it does not decide who wakes: the listener reports every valid magic
// packet with its target MAC, and the caller matches MACs to its sleeping clients.
//
// A magic packet on the wire (UDP payload, any port, or an EtherType 0x0842 frame):
//
//	+-------------------+------------------------------+---------------------+
//	| FF FF FF FF FF FF | target MAC × 16 (96 bytes)   | SecureOn password   |
//	| sync stream (6)   |                              | optional, 4 or 6    |
//	+-------------------+------------------------------+---------------------+
//	total 102, 106 or 108 bytes
package wol

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Sizes of the parts of a magic packet.
const (
	syncLen     = 6
	macLen      = 6
	repetitions = 16
	// BaseLen is a magic packet without password: sync stream and 16 MACs.
	BaseLen = syncLen + repetitions*macLen
)

// EtherTypeWakeOnLAN is the EtherType of raw Wake-on-LAN frames (no IP, no UDP).
const EtherTypeWakeOnLAN layers.EthernetType = 0x0842

// Layer type registration is package-level by necessity: gopacket keeps its layer type
// table global and RegisterLayerType panics on a second registration of the same number,
// so it must happen exactly once, at init. The number is the user range (>= 2000) and is
// the EtherType 0x0842 so that another portlab package is unlikely to pick it.
var (
	// LayerTypeMagicPacket identifies MagicPacket; gopacket.NewPacket(payload,
	// LayerTypeMagicPacket, ...) decodes a UDP payload or 0x0842 frame payload.
	LayerTypeMagicPacket = gopacket.RegisterLayerType(0x0842, gopacket.LayerTypeMetadata{
		Name:    "WakeOnLAN",
		Decoder: gopacket.DecodeFunc(decodeMagicPacket),
	})
)

// ErrNotMagic is wrapped by every decode error: the bytes are not a valid magic packet.
var ErrNotMagic = errors.New("not a magic packet")

// MagicPacket is the Wake-on-LAN magic packet. It implements gopacket.Layer,
// gopacket.DecodingLayer and gopacket.SerializableLayer.
//
// Decoding copies Target and Password (reusing their capacity), so they stay valid after
// the decoded buffer is reused, as it is with zero-copy AF_PACKET reads. Contents, as in
// every gopacket layer, aliases the decoded bytes.
type MagicPacket struct {
	layers.BaseLayer
	// Target is the MAC address repeated 16 times: the NIC that should wake.
	Target net.HardwareAddr
	// Password is the SecureOn password: empty, 4 or 6 bytes.
	Password []byte
}

// LayerType returns LayerTypeMagicPacket.
func (m *MagicPacket) LayerType() gopacket.LayerType { return LayerTypeMagicPacket }

// CanDecode returns LayerTypeMagicPacket.
func (m *MagicPacket) CanDecode() gopacket.LayerClass { return LayerTypeMagicPacket }

// NextLayerType returns gopacket.LayerTypeZero: nothing follows a magic packet.
func (m *MagicPacket) NextLayerType() gopacket.LayerType { return gopacket.LayerTypeZero }

// DecodeFromBytes decodes data strictly: exactly 102, 106 or 108 bytes, six 0xFF bytes,
// then one MAC address repeated 16 times, then the optional password. Any deviation is an
// error wrapping ErrNotMagic; it never panics.
func (m *MagicPacket) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	switch len(data) {
	case BaseLen, BaseLen + 4, BaseLen + 6:
	default:
		if len(data) < BaseLen && df != nil {
			df.SetTruncated()
		}
		return fmt.Errorf("magic packet: length %d, want %d, %d or %d bytes: %w",
			len(data), BaseLen, BaseLen+4, BaseLen+6, ErrNotMagic)
	}
	for i := 0; i < syncLen; i++ {
		if data[i] != 0xFF {
			return fmt.Errorf("magic packet: sync stream byte %d is %#02x, want 0xff: %w", i, data[i], ErrNotMagic)
		}
	}
	first := data[syncLen : syncLen+macLen]
	for r := 1; r < repetitions; r++ {
		off := syncLen + r*macLen
		if got := data[off : off+macLen]; !bytes.Equal(got, first) {
			return fmt.Errorf("magic packet: MAC repetition %d is %s, repetition 1 is %s: %w",
				r+1, net.HardwareAddr(got), net.HardwareAddr(first), ErrNotMagic)
		}
	}
	m.Target = append(m.Target[:0], first...)
	m.Password = append(m.Password[:0], data[BaseLen:]...)
	m.BaseLayer = layers.BaseLayer{Contents: data, Payload: nil}
	return nil
}

// SerializeTo prepends the magic packet to b. It fails on a Target that is not a 6-byte
// MAC or a Password that is not empty, 4 or 6 bytes long.
func (m *MagicPacket) SerializeTo(b gopacket.SerializeBuffer, opts gopacket.SerializeOptions) error {
	if err := m.validate(); err != nil {
		return err
	}
	buf, err := b.PrependBytes(BaseLen + len(m.Password))
	if err != nil {
		return fmt.Errorf("magic packet: prepend bytes: %w", err)
	}
	m.put(buf)
	return nil
}

// MarshalBinary returns the packet's bytes, for callers that need no gopacket buffer.
func (m *MagicPacket) MarshalBinary() ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	buf := make([]byte, BaseLen+len(m.Password))
	m.put(buf)
	return buf, nil
}

func (m *MagicPacket) validate() error {
	if len(m.Target) != macLen {
		return fmt.Errorf("magic packet: target %q: want a 6-byte MAC address, got %d bytes", m.Target.String(), len(m.Target))
	}
	switch len(m.Password) {
	case 0, 4, 6:
		return nil
	}
	return fmt.Errorf("magic packet: SecureOn password: want 4 or 6 bytes, got %d", len(m.Password))
}

// put writes the packet into buf, which has exactly the right length.
func (m *MagicPacket) put(buf []byte) {
	for i := 0; i < syncLen; i++ {
		buf[i] = 0xFF
	}
	for r := 0; r < repetitions; r++ {
		copy(buf[syncLen+r*macLen:], m.Target)
	}
	copy(buf[BaseLen:], m.Password)
}

func decodeMagicPacket(data []byte, p gopacket.PacketBuilder) error {
	m := &MagicPacket{}
	if err := m.DecodeFromBytes(data, p); err != nil {
		return err
	}
	p.AddLayer(m)
	return nil
}

// DecodeUDP decodes the payload of a UDP datagram as a magic packet, whatever its port:
// a NIC wakes on the payload, not on the port.
func DecodeUDP(udp *layers.UDP, m *MagicPacket) error {
	if int(udp.Length) > 0 && int(udp.Length)-8 != len(udp.Payload) {
		return fmt.Errorf("magic packet in UDP port %d: datagram truncated (%d of %d payload bytes): %w",
			udp.DstPort, len(udp.Payload), int(udp.Length)-8, ErrNotMagic)
	}
	if err := m.DecodeFromBytes(udp.Payload, gopacket.NilDecodeFeedback); err != nil {
		return fmt.Errorf("UDP port %d: %w", udp.DstPort, err)
	}
	return nil
}

// DecodeEthernet decodes the payload of an EtherType 0x0842 frame as a magic packet.
// Frames shorter than the Ethernet minimum carry padding after the packet; a magic packet
// is longer than that minimum, so any trailing byte is an error here too.
func DecodeEthernet(eth *layers.Ethernet, m *MagicPacket) error {
	if eth.EthernetType != EtherTypeWakeOnLAN {
		return fmt.Errorf("frame from %s: EtherType %#04x is not Wake-on-LAN %#04x: %w",
			eth.SrcMAC, uint16(eth.EthernetType), uint16(EtherTypeWakeOnLAN), ErrNotMagic)
	}
	if err := m.DecodeFromBytes(eth.Payload, gopacket.NilDecodeFeedback); err != nil {
		return fmt.Errorf("frame from %s: %w", eth.SrcMAC, err)
	}
	return nil
}

// ParsePassword parses a SecureOn password as written by administrators and etherwake:
// six or four hex bytes separated by ':' or '-' ("11:22:33:44:55:66"), or four decimal
// bytes in dotted form ("192.168.1.2"). The empty string is no password.
func ParsePassword(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		b := a.As4()
		return b[:], nil
	}
	sep := ":"
	if strings.Contains(s, "-") {
		sep = "-"
	}
	parts := strings.Split(s, sep)
	if len(parts) != 4 && len(parts) != 6 {
		return nil, fmt.Errorf("SecureOn password %q: want 4 or 6 hex bytes (11:22:33:44:55:66) or a dotted quad: %w", s, ErrInvalid)
	}
	out := make([]byte, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 16, 8)
		if err != nil || len(p) != 2 {
			return nil, fmt.Errorf("SecureOn password %q: byte %d %q is not two hex digits: %w", s, i+1, p, ErrInvalid)
		}
		out[i] = byte(v)
	}
	return out, nil
}
