package scenarios

import (
	"fmt"
	"strings"

	"github.com/invopop/jsonschema"
)

// The closed vocabularies of the format. Each is a string type with one list of values
// (its Values method); that one list feeds the JSON Schema (JSONSchema) and validation
// (checkEnum), so the two can never disagree.

// enumValue is a string type with a fixed list of allowed values.
type enumValue interface {
	~string
	Values() []string
}

func enumSchema(vals []string) *jsonschema.Schema {
	s := &jsonschema.Schema{Type: "string"}
	for _, v := range vals {
		s.Enum = append(s.Enum, v)
	}
	return s
}

func strs[T ~string](vs ...T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// checkEnum reports val at path unless it is one of T's values; what names the field
// in the message ("scheme", "method").
func checkEnum[T enumValue](v *validator, path string, val T, what string) {
	v.oneOf(path, string(val), what, val.Values()...)
}

// Proto is the IP protocol a firewall rule matches.
type Proto string

// Protocols.
const (
	ProtoTCP  Proto = "tcp"
	ProtoUDP  Proto = "udp"
	ProtoICMP Proto = "icmp"
	ProtoAny  Proto = "any"
)

// Values lists the protocols.
func (Proto) Values() []string { return strs(ProtoTCP, ProtoUDP, ProtoICMP, ProtoAny) }

// JSONSchema describes Proto.
func (p Proto) JSONSchema() *jsonschema.Schema { return enumSchema(p.Values()) }

// TLSKey is the MP server certificate's key type.
type TLSKey string

// Key types.
const (
	KeyECDSAP256 TLSKey = "ecdsa-p256"
	KeyRSA2048   TLSKey = "rsa-2048"
	KeyRSA3072   TLSKey = "rsa-3072"
)

// Values lists the key types.
func (TLSKey) Values() []string { return strs(KeyECDSAP256, KeyRSA2048, KeyRSA3072) }

// JSONSchema describes TLSKey.
func (k TLSKey) JSONSchema() *jsonschema.Schema { return enumSchema(k.Values()) }

// Dist is a service-time distribution.
type Dist string

// Distributions.
const (
	DistFixed       Dist = "fixed"
	DistUniform     Dist = "uniform"
	DistExponential Dist = "exponential"
)

// Values lists the distributions.
func (Dist) Values() []string { return strs(DistFixed, DistUniform, DistExponential) }

// JSONSchema describes Dist.
func (d Dist) JSONSchema() *jsonschema.Schema { return enumSchema(d.Values()) }

// Scheme is a client's request protocol.
type Scheme string

// Schemes.
const (
	SchemeHTTP  Scheme = "http"
	SchemeHTTPS Scheme = "https"
)

// Values lists the schemes.
func (Scheme) Values() []string { return strs(SchemeHTTP, SchemeHTTPS) }

// JSONSchema describes Scheme.
func (s Scheme) JSONSchema() *jsonschema.Schema { return enumSchema(s.Values()) }

// NotifyMode is a client's notification channel.
type NotifyMode string

// Notification channels.
const (
	NotifyTCP   NotifyMode = "tcp"   // the notification port, falling back to long polling
	NotifyHTTP  NotifyMode = "http"  // HTTP long polling only
	NotifyHTTPS NotifyMode = "https" // HTTPS long polling only
	NotifyOff   NotifyMode = "off"
)

// Values lists the channels.
func (NotifyMode) Values() []string { return strs(NotifyTCP, NotifyHTTP, NotifyHTTPS, NotifyOff) }

// JSONSchema describes NotifyMode.
func (m NotifyMode) JSONSchema() *jsonschema.Schema { return enumSchema(m.Values()) }

// Method is how a group of clients is reconfigured.
type Method string

// Reconfiguration methods.
const (
	MethodPush       Method = "push"       // client push: the site's current ports
	MethodCCMSetup   Method = "ccmsetup"   // CCMSetup with CCMHTTPPORT / CCMHTTPSPORT
	MethodPortSwitch Method = "portswitch" // PORTSWITCH.VBS
)

// Values lists the methods.
func (Method) Values() []string { return strs(MethodPush, MethodCCMSetup, MethodPortSwitch) }

// JSONSchema describes Method.
func (m Method) JSONSchema() *jsonschema.Schema { return enumSchema(m.Values()) }

// NotifyAction is what a pushed client notification asks for.
type NotifyAction string

// Notification actions.
const (
	ActionMachinePolicy     NotifyAction = "machine-policy"
	ActionUserPolicy        NotifyAction = "user-policy"
	ActionHardwareInventory NotifyAction = "hardware-inventory"
)

// Values lists the actions.
func (NotifyAction) Values() []string {
	return strs(ActionMachinePolicy, ActionUserPolicy, ActionHardwareInventory)
}

// JSONSchema describes NotifyAction.
func (a NotifyAction) JSONSchema() *jsonschema.Schema { return enumSchema(a.Values()) }

// WakeMode is how wake-up packets are addressed.
type WakeMode string

// Wake-up modes.
const (
	WakeUnicast   WakeMode = "unicast"
	WakeBroadcast WakeMode = "broadcast" // subnet-directed
)

// Values lists the modes.
func (WakeMode) Values() []string { return strs(WakeUnicast, WakeBroadcast) }

// JSONSchema describes WakeMode.
func (m WakeMode) JSONSchema() *jsonschema.Schema { return enumSchema(m.Values()) }

// MPOp stops or starts a management point.
type MPOp string

// MP actions.
const (
	MPStop  MPOp = "stop"
	MPStart MPOp = "start"
)

// Values lists the actions.
func (MPOp) Values() []string { return strs(MPStop, MPStart) }

// JSONSchema describes MPOp.
func (o MPOp) JSONSchema() *jsonschema.Schema { return enumSchema(o.Values()) }

// Operation is a kind of client request, as gates filter them.
type Operation string

// Operations.
const (
	OpLocation     Operation = "location"
	OpRegistration Operation = "registration"
	OpPolicy       Operation = "policy"
	OpHeartbeat    Operation = "heartbeat"
	OpLongPoll     Operation = "longpoll"
)

// Values lists the operations.
func (Operation) Values() []string {
	return strs(OpLocation, OpRegistration, OpPolicy, OpHeartbeat, OpLongPoll)
}

// JSONSchema describes Operation.
func (o Operation) JSONSchema() *jsonschema.Schema { return enumSchema(o.Values()) }

// Transport is how a request or notification travelled.
type Transport string

// Transports.
const (
	TransportHTTP  Transport = "http"
	TransportHTTPS Transport = "https"
	TransportTCP   Transport = "tcp" // the notification port
)

// Values lists the transports.
func (Transport) Values() []string { return strs(TransportHTTP, TransportHTTPS, TransportTCP) }

// JSONSchema describes Transport.
func (t Transport) JSONSchema() *jsonschema.Schema { return enumSchema(t.Values()) }

// Comparison is a gate's operator.
type Comparison string

// Comparisons.
const (
	Less         Comparison = "<"
	LessEqual    Comparison = "<="
	Greater      Comparison = ">"
	GreaterEqual Comparison = ">="
	Equal        Comparison = "=="
	NotEqual     Comparison = "!="
)

// Values lists the comparisons.
func (Comparison) Values() []string {
	return strs(Less, LessEqual, Greater, GreaterEqual, Equal, NotEqual)
}

// JSONSchema describes Comparison.
func (c Comparison) JSONSchema() *jsonschema.Schema { return enumSchema(c.Values()) }

// Outcome is how a request ended, as gates filter them: one of Values, or
// "http_<status>" (http_500), or "http_*" for any HTTP error status.
type Outcome string

// Outcomes.
const (
	OutcomeOK       Outcome = "ok"
	OutcomeRefused  Outcome = "refused"   // TCP reset to the SYN or ICMP unreachable: seen at once
	OutcomeTimeout  Outcome = "timeout"   // connect or response timeout (a dropped SYN)
	OutcomeReset    Outcome = "reset"     // connection reset or closed mid-exchange
	OutcomeTLSError Outcome = "tls_error" // handshake or certificate failure
	OutcomeError    Outcome = "error"     // anything else
	OutcomeHTTPAny  Outcome = "http_*"
)

// Values lists the fixed outcomes (HTTP statuses come as http_<status>).
func (Outcome) Values() []string {
	return strs(OutcomeOK, OutcomeRefused, OutcomeTimeout, OutcomeReset, OutcomeTLSError, OutcomeError, OutcomeHTTPAny)
}

// httpOutcome matches http_100 … http_599.
const httpOutcomePattern = `^http_[1-5][0-9][0-9]$`

// Valid reports whether o is a known outcome or an HTTP status outcome.
func (o Outcome) Valid() bool {
	s := string(o)
	for _, v := range o.Values() {
		if s == v {
			return true
		}
	}
	if rest, ok := strings.CutPrefix(s, "http_"); ok && len(rest) == 3 && rest[0] >= '1' && rest[0] <= '5' {
		return rest[1] >= '0' && rest[1] <= '9' && rest[2] >= '0' && rest[2] <= '9'
	}
	return false
}

// JSONSchema describes Outcome: a fixed value or an HTTP status.
func (o Outcome) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{AnyOf: []*jsonschema.Schema{enumSchema(o.Values()), {Type: "string", Pattern: httpOutcomePattern}}}
}

// Values lists the firewall actions.
func (Action) Values() []string { return strs(Accept, Drop, Reject) }

// Membership is where a client group belongs, which decides its service location
// sources (DOMAIN.md, "How a client finds its MP").
type Membership string

// Memberships.
const (
	MemberDomain      Membership = "domain"       // MP list, AD DS (the same forest), DNS
	MemberOtherForest Membership = "other-forest" // MP list, DNS: the site's forest is not theirs
	MemberWorkgroup   Membership = "workgroup"    // MP list, DNS
	MemberInternet    Membership = "internet"     // internet-facing MPs only, no AD DS
)

// Values lists the memberships.
func (Membership) Values() []string {
	return strs(MemberDomain, MemberOtherForest, MemberWorkgroup, MemberInternet)
}

// JSONSchema describes Membership.
func (m Membership) JSONSchema() *jsonschema.Schema { return enumSchema(m.Values()) }

// ReadsAD reports whether clients of this membership read the site's AD DS publication.
func (m Membership) ReadsAD() bool { return m == MemberDomain }

// LearnedSource is where a client learned the request ports it uses at the end of a run.
type LearnedSource string

// Sources of a client's ports.
const (
	LearnedInstall LearnedSource = "install" // installed with them (CCMSetup, PORTSWITCH.VBS)
	LearnedPush    LearnedSource = "push"    // client push, with the site's ports
	LearnedAD      LearnedSource = "ad"      // read from the AD DS publication
	LearnedDNS     LearnedSource = "dns"     // from a DNS SRV record
	LearnedNever   LearnedSource = "never"   // does not use the site's current ports
)

// Values lists the sources.
func (LearnedSource) Values() []string {
	return strs(LearnedInstall, LearnedPush, LearnedAD, LearnedDNS, LearnedNever)
}

// JSONSchema describes LearnedSource.
func (l LearnedSource) JSONSchema() *jsonschema.Schema { return enumSchema(l.Values()) }

// Switch is on or off (a YAML boolean is accepted too).
type Switch string

// Switch values.
const (
	On  Switch = "on"
	Off Switch = "off"
)

// Values lists on and off.
func (Switch) Values() []string { return strs(On, Off) }

// UnmarshalText accepts on, off, true and false.
func (s *Switch) UnmarshalText(b []byte) error {
	switch v := strings.ToLower(strings.TrimSpace(string(b))); v {
	case "on", "true":
		*s = On
	case "off", "false":
		*s = Off
	default:
		return fmt.Errorf("unknown switch %q (want on or off)", string(b))
	}
	return nil
}

// Bool returns the switch's value and whether it was given.
func (s Switch) Bool() (on, set bool) { return s == On, s != "" }

// JSONSchema describes Switch: on/off or a boolean.
func (s Switch) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{OneOf: []*jsonschema.Schema{enumSchema(s.Values()), {Type: "boolean"}}}
}
