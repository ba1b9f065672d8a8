package mp

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"time"

	"github.com/portlab/portlab/agent"
	"github.com/portlab/portlab/wire"
)

// ErrConfig: the configuration is invalid (callers map it to "invalid input"). It wraps
// agent.ErrConfig.
var ErrConfig = fmt.Errorf("%w: management point", agent.ErrConfig)

// Duration is Go duration text in JSON ("30s", "2ms").
type Duration = agent.Duration

// Role names one listener of the MP.
type Role string

// Listener roles.
const (
	RoleHTTP         Role = "http"
	RoleHTTPAlt      Role = "http_alt"
	RoleHTTPS        Role = "https"
	RoleHTTPSAlt     Role = "https_alt"
	RoleNotification Role = "notification"
)

// Roles lists every role in a fixed order.
func Roles() []Role {
	return []Role{RoleHTTP, RoleHTTPAlt, RoleHTTPS, RoleHTTPSAlt, RoleNotification}
}

// Transport is the transport a role serves: "http", "https" or "tcp".
func (r Role) Transport() string {
	switch r {
	case RoleHTTP, RoleHTTPAlt:
		return "http"
	case RoleHTTPS, RoleHTTPSAlt:
		return "https"
	}
	return "tcp"
}

// Listen holds the address of each role. An invalid (zero) AddrPort: the role is not
// served. Port 0: an ephemeral port (tests); Addrs reports the port actually bound.
type Listen struct {
	HTTP         netip.AddrPort `json:"http,omitzero"`
	HTTPAlt      netip.AddrPort `json:"http_alt,omitzero"`
	HTTPS        netip.AddrPort `json:"https,omitzero"`
	HTTPSAlt     netip.AddrPort `json:"https_alt,omitzero"`
	Notification netip.AddrPort `json:"notification,omitzero"`
}

// Get returns the address of role r.
func (l Listen) Get(r Role) netip.AddrPort {
	switch r {
	case RoleHTTP:
		return l.HTTP
	case RoleHTTPAlt:
		return l.HTTPAlt
	case RoleHTTPS:
		return l.HTTPS
	case RoleHTTPSAlt:
		return l.HTTPSAlt
	case RoleNotification:
		return l.Notification
	}
	return netip.AddrPort{}
}

// Set sets the address of role r.
func (l *Listen) Set(r Role, addr netip.AddrPort) {
	switch r {
	case RoleHTTP:
		l.HTTP = addr
	case RoleHTTPAlt:
		l.HTTPAlt = addr
	case RoleHTTPS:
		l.HTTPS = addr
	case RoleHTTPSAlt:
		l.HTTPSAlt = addr
	case RoleNotification:
		l.Notification = addr
	}
}

// ListenPorts returns a Listen on addr for the given ports; 0 leaves a role unserved.
func ListenPorts(addr netip.Addr, http, httpAlt, https, httpsAlt, notification uint16) Listen {
	a := func(p uint16) netip.AddrPort {
		if p == 0 {
			return netip.AddrPort{}
		}
		return netip.AddrPortFrom(addr, p)
	}
	return Listen{HTTP: a(http), HTTPAlt: a(httpAlt), HTTPS: a(https), HTTPSAlt: a(httpsAlt), Notification: a(notification)}
}

// Peer is another MP of the same site, listed in MPLIST. Site ports are site-wide, so a
// peer is listed with this MP's current ports.
type Peer struct {
	Name string     `json:"name"`
	FQDN string     `json:"fqdn,omitempty"`
	Addr netip.Addr `json:"addr"`
}

// TLSConfig selects the server certificate and resumption.
type TLSConfig struct {
	// Key type: ecdsa-p256, rsa-2048 or rsa-3072.
	Key string `json:"key"`
	// Session resumption (TLS session tickets).
	Resumption bool `json:"resumption"`
	// The run's CA, PEM. Empty: the MP makes its own CA.
	CACertPEM string `json:"ca_cert_pem,omitempty"`
	CAKeyPEM  string `json:"ca_key_pem,omitempty"`
	// Write the CA certificate (PEM) to this file at New; empty: do not write.
	CAFile string `json:"ca_file,omitempty"`
}

// Key types.
const (
	KeyECDSAP256 = "ecdsa-p256"
	KeyRSA2048   = "rsa-2048"
	KeyRSA3072   = "rsa-3072"
)

// ServiceTime is how long the MP works on a request before answering.
type ServiceTime struct {
	// fixed, uniform or exponential.
	Dist string `json:"dist"`
	// fixed: the time; exponential: the mean.
	Mean Duration `json:"mean,omitempty"`
	// uniform: bounds.
	Min Duration `json:"min,omitempty"`
	Max Duration `json:"max,omitempty"`
}

// Limits bound what one client can make the MP hold. Zero fields take the defaults
// shown.
type Limits struct {
	ReadHeaderTimeout Duration `json:"read_header_timeout,omitempty"` // 10s
	ReadTimeout       Duration `json:"read_timeout,omitempty"`        // 30s, whole request
	WriteTimeout      Duration `json:"write_timeout,omitempty"`       // 30s, handler + response (long polls get their wait on top)
	IdleTimeout       Duration `json:"idle_timeout,omitempty"`        // 120s keep-alive idle (IIS's default)
	MaxHeaderBytes    int      `json:"max_header_bytes,omitempty"`    // 16 KiB
	MaxBodyBytes      int64    `json:"max_body_bytes,omitempty"`      // 1 MiB; larger bodies get 413
	MaxPayloadBytes   int64    `json:"max_payload_bytes,omitempty"`   // 4 MiB decompressed CCM payload; larger gets 400
	LongPollMaxWait   Duration `json:"long_poll_max_wait,omitempty"`  // wire.DefaultLongPollWait; caps ?wait=
	LongPollExpiry    Duration `json:"long_poll_expiry,omitempty"`    // 5m: a long-poll client not seen this long is forgotten
	LongPollQueue     int      `json:"long_poll_queue,omitempty"`     // 16 pushes queued per long-poll client (oldest dropped)
	MaxRegistrations  int      `json:"max_registrations,omitempty"`   // 262144 SMSIDs remembered; more are answered, not remembered
	// Bounds of the notification tables: what one client (or a flood of made-up ones)
	// can make the MP hold. Over a bound the MP refuses and counts it.
	MaxLongPollClients int      `json:"max_long_poll_clients,omitempty"` // 131072 long-poll clients known at once (then 503)
	MaxSessions        int      `json:"max_sessions,omitempty"`          // 131072 TCP notification sessions (then the login is closed)
	MaxGUIDBytes       int      `json:"max_guid_bytes,omitempty"`        // 128 bytes of a client GUID or group name (then 400)
	MaxInflate         int      `json:"max_inflate,omitempty"`           // 4 × GOMAXPROCS CCM messages read at once (then they wait)
	LoginTimeout       Duration `json:"login_timeout,omitempty"`         // 10s from TCP connect to Login frame
	SessionIdle        Duration `json:"session_idle,omitempty"`          // 30m without a frame closes a TCP session
	FrameWriteTimeout  Duration `json:"frame_write_timeout,omitempty"`   // 5s per frame written to a session
	ShutdownGrace      Duration `json:"shutdown_grace,omitempty"`        // 2s for in-flight requests on a removed port
}

// Config is one MP.
type Config struct {
	// Host name of the MP, in MPLIST and the certificate.
	Name string `json:"name"`
	// FQDN (default Name).
	FQDN string `json:"fqdn,omitempty"`
	// Site code, such as PS1.
	SiteCode string `json:"site_code"`
	// DNS domain of the site (corp.example): the NTLM challenge names it, and the FQDN
	// defaults to Name.Domain.
	Domain string `json:"domain,omitempty"`
	// Accounts /ccm_system_windowsauth/request accepts (NAME$ or DOMAIN\NAME$); empty:
	// any account that completes the NTLM handshake.
	Accounts []string `json:"accounts,omitempty"`
	// IPv4 address of the MP (default: the address of the first listener).
	Addr netip.Addr `json:"addr,omitzero"`
	// Listener addresses.
	Listen Listen `json:"listen"`
	// Other MPs of the site, listed in MPLIST after this one.
	Peers []Peer `json:"peers,omitempty"`
	// Server certificate and resumption.
	TLS TLSConfig `json:"tls"`
	// Service time per request (a zero fixed time answers at once).
	ServiceTime ServiceTime `json:"service_time"`
	// Fraction (0..1) of requests answered 500 or 503 (half each).
	ErrorRate float64 `json:"error_rate,omitempty"`
	// Policy body size (GET .sms_pol), bytes.
	PolicyBytes int `json:"policy_bytes"`
	// ReusePort opens every listener with SO_REUSEPORT, so the worker processes of one
	// MP (a web garden, as IIS runs one site in several w3wp processes) share its ports
	// and the kernel spreads new connections over them.
	ReusePort bool `json:"reuse_port,omitempty"`
	// Worker is this process's number within its MP's web garden (0-based), for logs.
	Worker int `json:"worker,omitempty"`
	// Concurrent connections across all ports (HTTP, HTTPS, notification); 0: no limit.
	// Connections over the limit are accepted and reset at once (counted as rejected).
	MaxConnections int `json:"max_connections,omitempty"`
	// Seed of the service-time and error draws.
	Seed int64 `json:"seed,omitempty"`
	// Timeouts and size limits.
	Limits Limits `json:"limits"`
}

// Normalize fills the MP's internal knobs (limits, the reply padding) and what follows
// from other fields (FQDN, Addr). What a scenario decides (key type, resumption,
// service time, policy size) is never defaulted here: the scenario filled it.
func (c *Config) Normalize() {
	if c.FQDN == "" {
		c.FQDN = c.Name
		if c.Domain != "" {
			c.FQDN = c.Name + "." + c.Domain
		}
	}
	if !c.Addr.IsValid() {
		for _, r := range Roles() {
			if a := c.Listen.Get(r); a.IsValid() {
				c.Addr = a.Addr()
				break
			}
		}
	}
	l := &c.Limits
	dur := func(d *Duration, def time.Duration) {
		if *d == 0 {
			*d = Duration(def)
		}
	}
	dur(&l.ReadHeaderTimeout, 10*time.Second)
	dur(&l.ReadTimeout, 30*time.Second)
	dur(&l.WriteTimeout, 30*time.Second)
	dur(&l.IdleTimeout, 120*time.Second)
	dur(&l.LongPollMaxWait, wire.DefaultLongPollWait)
	dur(&l.LongPollExpiry, 5*time.Minute)
	dur(&l.LoginTimeout, 10*time.Second)
	dur(&l.SessionIdle, 30*time.Minute)
	dur(&l.FrameWriteTimeout, 5*time.Second)
	dur(&l.ShutdownGrace, 2*time.Second)
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = 16 << 10
	}
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = 1 << 20
	}
	if l.MaxPayloadBytes == 0 {
		l.MaxPayloadBytes = 4 << 20
	}
	if l.LongPollQueue == 0 {
		l.LongPollQueue = 16
	}
	if l.MaxRegistrations == 0 {
		l.MaxRegistrations = 1 << 18
	}
	if l.MaxLongPollClients == 0 {
		l.MaxLongPollClients = 1 << 17
	}
	if l.MaxSessions == 0 {
		l.MaxSessions = 1 << 17
	}
	if l.MaxGUIDBytes == 0 {
		l.MaxGUIDBytes = 128
	}
	if l.MaxInflate == 0 {
		l.MaxInflate = 4 * runtime.GOMAXPROCS(0)
	}
}

// Validate checks a normalized Config; errors wrap ErrConfig.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Name == "" {
		bad("name is empty")
	}
	switch c.TLS.Key {
	case KeyECDSAP256, KeyRSA2048, KeyRSA3072:
	default:
		bad("tls.key %q: want %s, %s or %s", c.TLS.Key, KeyECDSAP256, KeyRSA2048, KeyRSA3072)
	}
	if (c.TLS.CACertPEM == "") != (c.TLS.CAKeyPEM == "") {
		bad("tls: ca_cert_pem and ca_key_pem go together")
	}
	if err := c.Listen.validate(); err != nil {
		errs = append(errs, err)
	}
	for i, p := range c.Peers {
		if p.Name == "" {
			bad("peers[%d]: name is empty", i)
		}
		if !p.Addr.IsValid() {
			bad("peers[%d] %s: no address", i, p.Name)
		}
	}
	if _, err := newServiceTimer(c.ServiceTime, 0); err != nil {
		errs = append(errs, err)
	}
	if c.ErrorRate < 0 || c.ErrorRate > 1 {
		bad("error_rate %v: want 0..1", c.ErrorRate)
	}
	if c.PolicyBytes < 0 || c.MaxConnections < 0 {
		bad("policy_bytes and max_connections must not be negative")
	}
	if c.Limits.MaxHeaderBytes < 0 || c.Limits.MaxBodyBytes < 0 || c.Limits.MaxPayloadBytes < 0 || c.Limits.LongPollQueue < 0 {
		bad("limits must not be negative")
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: mp %q: %w", ErrConfig, c.Name, errors.Join(errs...))
}

func (l Listen) validate() error {
	var errs []error
	seen := map[netip.AddrPort]Role{}
	for _, r := range Roles() {
		a := l.Get(r)
		if !a.IsValid() {
			continue
		}
		if a.Port() != 0 {
			if o, dup := seen[a]; dup {
				errs = append(errs, fmt.Errorf("listen.%s %s: same address as %s", r, a, o))
			}
			seen[a] = r
		}
	}
	return errors.Join(errs...)
}

// String lists the served roles: "http=198.19.2.2:80 https=198.19.2.2:443".
func (l Listen) String() string {
	var parts []string
	for _, r := range Roles() {
		if a := l.Get(r); a.IsValid() {
			parts = append(parts, string(r)+"="+a.String())
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}
