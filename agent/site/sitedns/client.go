package sitedns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DefaultTimeout bounds one exchange (one query and its answer) when ctx has no
// earlier deadline.
const DefaultTimeout = 2 * time.Second

// maxUDPAnswer is the client's read buffer: it sends no EDNS0, so a server may send
// 512 bytes; more is read and refused rather than cut.
const maxUDPAnswer = 4096

var (
	// ErrNoSRV: the site has no _mssms_mp_ record (NXDOMAIN or no SRV data).
	ErrNoSRV = errors.New("no management point SRV record")
	// ErrNoAddress: SRV records were found but no target has an A record.
	ErrNoAddress = errors.New("no address for any SRV target")
	// ErrBadAnswer is wrapped when an answer cannot be used (unreadable, for another
	// question, a failure rcode).
	ErrBadAnswer = errors.New("bad DNS answer")
)

// Target is one MP a client found in DNS.
type Target struct {
	FQDN string // the SRV target, lower case, without the trailing dot
	Port uint16 // the SRV port: the request port the client will use
	Addr netip.Addr
}

// DialFunc opens a connection to a DNS server over "udp" or "tcp", from the client's
// own source address. net.Dialer.DialContext is one; SourceDialer builds one that binds
// a source address for both networks.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// SourceDialer returns a DialFunc whose connections come from src (any port). A single
// net.Dialer cannot do both networks: its LocalAddr must be a *net.UDPAddr for UDP and
// a *net.TCPAddr for TCP.
func SourceDialer(src netip.Addr) DialFunc {
	udp := net.Dialer{LocalAddr: net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
	tcp := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		if strings.HasPrefix(network, "udp") {
			return udp.DialContext(ctx, network, address)
		}
		return tcp.DialContext(ctx, network, address)
	}
}

// LookupMP is a client's DNS service location for siteCode in domain, asked of server:
// the SRV query for _mssms_mp_<site>._tcp.<domain>, then the targets' addresses, taken
// from the answer's additional section or else asked for with an A query. Each query
// goes over UDP and is asked again over TCP when the answer is truncated. A nil dial
// dials from any source address. Targets keep the answer's order (clients ignore
// priority and weight); a target without an address is left out.
func LookupMP(ctx context.Context, dial DialFunc, server netip.AddrPort, siteCode, domain string) ([]Target, error) {
	owner, err := SRVName(siteCode, domain)
	if err != nil {
		return nil, fmt.Errorf("dns lookup: %w", err)
	}
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	resp, err := query(ctx, dial, server, owner, dns.TypeSRV)
	if err != nil {
		return nil, fmt.Errorf("dns lookup %s SRV: %w", owner, err)
	}
	targets, missing := srvTargets(resp, owner)
	if len(targets) == 0 && len(missing) == 0 {
		return nil, fmt.Errorf("dns lookup %s: %w", owner, ErrNoSRV)
	}
	for _, t := range missing {
		a, err := query(ctx, dial, server, t.FQDN+".", dns.TypeA)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("dns lookup %s A: %w", t.FQDN, err)
			}
			continue
		}
		if addr, ok := firstA(a.Answer, t.FQDN+"."); ok {
			t.Addr = addr
			targets = append(targets, t)
		}
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("dns lookup %s: %w", owner, ErrNoAddress)
	}
	return targets, nil
}

// srvTargets reads the SRV records for owner from resp: targets whose address the
// additional section gives, and targets still needing an A query.
func srvTargets(resp *dns.Msg, owner string) (found, missing []Target) {
	for _, rr := range resp.Answer {
		srv, ok := rr.(*dns.SRV)
		if !ok || !strings.EqualFold(srv.Hdr.Name, owner) || srv.Hdr.Class != dns.ClassINET {
			continue
		}
		name := strings.ToLower(srv.Target)
		if _, err := normalizeName(name); err != nil || srv.Port == 0 {
			continue // "." (service not offered), a bad name, or no port
		}
		t := Target{FQDN: strings.TrimSuffix(name, "."), Port: srv.Port}
		if addr, ok := firstA(resp.Extra, name); ok {
			t.Addr = addr
			found = append(found, t)
		} else {
			missing = append(missing, t)
		}
	}
	return found, missing
}

func firstA(rrs []dns.RR, name string) (netip.Addr, bool) {
	for _, rr := range rrs {
		if a, ok := rr.(*dns.A); ok && strings.EqualFold(a.Hdr.Name, name) && a.Hdr.Class == dns.ClassINET {
			if addr, ok := netip.AddrFromSlice(a.A.To4()); ok {
				return addr, true
			}
		}
	}
	return netip.Addr{}, false
}

// query asks one question over UDP, then over TCP if the answer is truncated, and
// returns an answer with rcode NOERROR (a NXDOMAIN answer is ErrNoSRV).
func query(ctx context.Context, dial DialFunc, server netip.AddrPort, name string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.Id = uint16(rand.Uint32())
	wire, err := q.Pack()
	if err != nil {
		return nil, fmt.Errorf("pack query: %w", err)
	}
	resp, err := exchange(ctx, dial, "udp", server, q, wire)
	if err == nil && resp.Truncated {
		resp, err = exchange(ctx, dial, "tcp", server, q, wire)
		if err == nil && resp.Truncated && len(resp.Answer) == 0 {
			err = fmt.Errorf("tcp: truncated answer: %w", ErrBadAnswer)
		}
	}
	if err != nil {
		return nil, err
	}
	switch resp.Rcode {
	case dns.RcodeSuccess:
		return resp, nil
	case dns.RcodeNameError:
		return nil, fmt.Errorf("NXDOMAIN: %w", ErrNoSRV)
	default:
		return nil, fmt.Errorf("rcode %s: %w", dns.RcodeToString[resp.Rcode], ErrBadAnswer)
	}
}

// exchange sends wire over one new connection and reads the answer to q.
func exchange(ctx context.Context, dial DialFunc, network string, server netip.AddrPort, q *dns.Msg, wire []byte) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	c, err := dial(ctx, network, server.String())
	if err != nil {
		return nil, fmt.Errorf("%s: dial: %w", network, err)
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	fail := func(step string, err error) (*dns.Msg, error) {
		// The socket's deadline can fire a moment before ctx's timer does.
		if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(dl) {
			return nil, fmt.Errorf("%s: %s: %w (%v)", network, step, context.DeadlineExceeded, err)
		}
		return nil, fmt.Errorf("%s: %s: %w", network, step, err)
	}
	if network == "udp" {
		if _, err := c.Write(wire); err != nil {
			return fail("write", err)
		}
		buf := make([]byte, maxUDPAnswer)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return fail("read", err)
			}
			resp, err := readAnswer(q, buf[:n])
			if errors.Is(err, errNotOurs) {
				continue // a late or stray datagram: keep waiting for ours
			}
			if err != nil {
				return fail("answer", err)
			}
			return resp, nil
		}
	}
	msg := make([]byte, 2+len(wire))
	binary.BigEndian.PutUint16(msg, uint16(len(wire)))
	copy(msg[2:], wire)
	if _, err := c.Write(msg); err != nil {
		return fail("write", err)
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return fail("read length", err)
	}
	body := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		return fail("read", err)
	}
	resp, err := readAnswer(q, body)
	if err != nil {
		return fail("answer", err)
	}
	return resp, nil
}

var errNotOurs = fmt.Errorf("answer for another query: %w", ErrBadAnswer)

// readAnswer decodes raw as the answer to q: it must unpack, be a response, and carry
// q's ID and question. It is what the client reads from the server, so it takes any
// bytes.
func readAnswer(q *dns.Msg, raw []byte) (*dns.Msg, error) {
	if len(raw) > dns.MaxMsgSize {
		return nil, fmt.Errorf("%d bytes: %w", len(raw), ErrBadAnswer)
	}
	resp := new(dns.Msg)
	if err := resp.Unpack(raw); err != nil {
		if len(raw) >= 2 && binary.BigEndian.Uint16(raw) != q.Id {
			return nil, errNotOurs
		}
		// A datagram cut short on the way still says "truncated" in its header: the
		// client asks again over TCP.
		const qr, tc = 0x8000, 0x0200
		if len(raw) >= 12 && binary.BigEndian.Uint16(raw[2:])&(qr|tc) == qr|tc {
			t := new(dns.Msg)
			t.SetReply(q)
			t.Truncated = true
			return t, nil
		}
		return nil, fmt.Errorf("%v: %w", err, ErrBadAnswer)
	}
	if resp.Id != q.Id || !resp.Response {
		return nil, errNotOurs
	}
	if len(resp.Question) != 1 || !strings.EqualFold(resp.Question[0].Name, q.Question[0].Name) ||
		resp.Question[0].Qtype != q.Question[0].Qtype {
		return nil, errNotOurs
	}
	return resp, nil
}
