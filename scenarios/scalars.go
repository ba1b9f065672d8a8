package scenarios

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/invopop/jsonschema"
)

// Duration is a time.Duration written as Go duration text ("90s", "250ms", "1m30s").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes the Go duration text.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads Go duration text. A bare number is refused: its unit is ambiguous.
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return fmt.Errorf("empty duration")
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return fmt.Errorf("duration %q has no unit (write %ss or %sms)", s, s, s)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (examples: 90s, 250ms, 1m30s)", s)
	}
	*d = Duration(v)
	return nil
}

// JSONSchema describes Duration as a string.
func (Duration) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Pattern: `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`,
		Description: "Duration such as 90s, 250ms or 1m30s."}
}

// Prefix is an IPv4 prefix in CIDR notation, such as 198.18.16.0/20.
type Prefix struct{ netip.Prefix }

// MarshalText writes CIDR notation; the zero Prefix writes nothing.
func (p Prefix) MarshalText() ([]byte, error) {
	if !p.IsValid() {
		return []byte{}, nil
	}
	return []byte(p.String()), nil
}

// IsZero reports an absent prefix (for omitempty).
func (p Prefix) IsZero() bool { return !p.IsValid() }

// UnmarshalText reads CIDR notation; the address must be the network address.
func (p *Prefix) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	v, err := netip.ParsePrefix(s)
	if err != nil {
		return fmt.Errorf("invalid prefix %q (write it as 198.18.16.0/20)", s)
	}
	if !v.Addr().Is4() {
		return fmt.Errorf("prefix %q is not IPv4", s)
	}
	if v.Masked() != v {
		return fmt.Errorf("prefix %q has host bits set (did you mean %s?)", s, v.Masked())
	}
	p.Prefix = v
	return nil
}

// JSONSchema describes Prefix as a string.
func (Prefix) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Pattern: `^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$`,
		Description: "IPv4 prefix inside 198.18.0.0/15, such as 198.18.16.0/20."}
}

// PortRange is a destination port or an inclusive range: 443 or 8000-8999. Zero means any port.
type PortRange struct{ Lo, Hi int }

// IsZero reports an absent range.
func (r PortRange) IsZero() bool { return r.Lo == 0 && r.Hi == 0 }

// Contains reports whether port p lies in the range; an absent range contains every port.
func (r PortRange) Contains(p int) bool { return r.IsZero() || (p >= r.Lo && p <= r.Hi) }

func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(r.Lo)
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// MarshalText writes "443" or "8000-8999".
func (r PortRange) MarshalText() ([]byte, error) {
	if r.IsZero() {
		return []byte{}, nil
	}
	return []byte(r.String()), nil
}

// UnmarshalText reads "443" or "8000-8999". Errors quote the whole value as written.
func (r *PortRange) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if n, err := strconv.Atoi(s); err == nil {
		// One port, negative ones included: "-1" is a number, not a range.
		if n < 1 || n > 65535 {
			return fmt.Errorf("port %d out of range 1-65535", n)
		}
		*r = PortRange{n, n}
		return nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	a, errA := parsePort(lo)
	z, errZ := parsePort(hi)
	switch {
	case !isRange || lo == "" || hi == "" || errors.Is(errA, strconv.ErrSyntax) || errors.Is(errZ, strconv.ErrSyntax):
		return fmt.Errorf("invalid port %q (write 443 or 8000-8999)", s)
	case errA != nil:
		return fmt.Errorf("port range %q: %w", s, errA)
	case errZ != nil:
		return fmt.Errorf("port range %q: %w", s, errZ)
	case z < a:
		return fmt.Errorf("port range %q runs backwards", s)
	}
	*r = PortRange{a, z}
	return nil
}

// parsePort reads one port of a range; a syntax error wraps strconv.ErrSyntax.
func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, strconv.ErrSyntax
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %d out of range 1-65535", n)
	}
	return n, nil
}

// JSONSchema describes PortRange as an integer or an "N-M" string.
func (PortRange) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{OneOf: []*jsonschema.Schema{
		{Type: "integer", Minimum: "1", Maximum: "65535"},
		{Type: "string", Pattern: `^[0-9]{1,5}(-[0-9]{1,5})?$`},
	}, Description: "Destination port (443) or inclusive range (8000-8999)."}
}

// Action is a firewall verdict.
type Action string

// Firewall actions.
const (
	Accept Action = "accept"
	Drop   Action = "drop"
	Reject Action = "reject"
)

// UnmarshalText accepts accept, drop or reject.
func (a *Action) UnmarshalText(b []byte) error {
	v := Action(strings.TrimSpace(string(b)))
	if slices.Contains(v.Values(), string(v)) {
		*a = v
		return nil
	}
	vals := v.Values()
	return fmt.Errorf("unknown action %q%s (want %s or %s)", v, didYouMean(string(v), vals), strings.Join(vals[:len(vals)-1], ", "), vals[len(vals)-1])
}

// JSONSchema describes Action as an enum.
func (a Action) JSONSchema() *jsonschema.Schema { return enumSchema(a.Values()) }

// Value is a gate threshold as written: a number, a percentage, a duration or a size.
// Validation turns it into a number in the metric's unit (Num).
type Value struct {
	Raw string
	// Num is the threshold in the metric's canonical unit (seconds, bytes, fraction,
	// count, microseconds), set by validation.
	Num float64 `json:"-" yaml:"-"`
}

// MarshalText writes the value as written.
func (v Value) MarshalText() ([]byte, error) { return []byte(v.Raw), nil }

// UnmarshalText keeps the text; its meaning depends on the metric.
func (v *Value) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return fmt.Errorf("empty value")
	}
	v.Raw = s
	return nil
}

// JSONSchema describes Value as a number or a string.
func (Value) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{OneOf: []*jsonschema.Schema{{Type: "number"}, {Type: "string"}},
		Description: "Threshold: number, percentage (5%), duration (250ms) or size (64MiB)."}
}

// parseValue interprets raw in unit u. Every threshold is a finite, non-negative
// number: NaN, infinities and negative values are refused here, before a run, rather
// than compared (NaN passes every comparison's negation) or written into the result.
func parseValue(raw string, u Unit) (float64, error) {
	s := strings.TrimSpace(raw)
	switch u {
	case UnitSeconds:
		if d, err := time.ParseDuration(s); err == nil {
			if d < 0 {
				return 0, fmt.Errorf("value %q is a negative duration", raw)
			}
			return d.Seconds(), nil
		}
		return 0, fmt.Errorf("value %q is not a duration (write 250ms or 5s)", raw)
	case UnitFraction:
		if p, ok := strings.CutSuffix(s, "%"); ok {
			f, ok := finite(strings.TrimSpace(p))
			if !ok || f < 0 || f > 100 {
				return 0, fmt.Errorf("value %q is not a percentage from 0%% to 100%%", raw)
			}
			return f / 100, nil
		}
		f, ok := finite(s)
		if !ok || f < 0 || f > 1 {
			return 0, fmt.Errorf("value %q is not a fraction from 0 to 1 (or a percentage such as 5%%)", raw)
		}
		return f, nil
	case UnitBytes:
		return parseSize(s)
	case UnitRatio:
		mult := 1.0
		if p, ok := strings.CutSuffix(s, "%"); ok {
			s, mult = strings.TrimSpace(p), 0.01
		}
		f, ok := finite(s)
		if !ok || f < 0 {
			return 0, fmt.Errorf("value %q is not a ratio (write 0.9 or 110%%)", raw)
		}
		return f * mult, nil
	default:
		f, ok := finite(s)
		if !ok || f < 0 {
			return 0, fmt.Errorf("value %q is not a non-negative number", raw)
		}
		return f, nil
	}
}

// finite parses a decimal number and refuses NaN and the infinities (which
// strconv.ParseFloat reads as "NaN", "Inf", "infinity").
func finite(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func parseSize(s string) (float64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			f, ok := finite(strings.TrimSpace(n))
			if !ok || f < 0 || math.IsInf(f*u.mult, 0) {
				break
			}
			return f * u.mult, nil
		}
	}
	f, ok := finite(s)
	if !ok || f < 0 {
		return 0, fmt.Errorf("value %q is not a size (write 64MiB, 512KiB or a byte count)", s)
	}
	return f, nil
}

// UnmarshalText reads the shorthand form: a fixed service time such as "2ms".
func (st *ServiceTime) UnmarshalText(b []byte) error {
	var d Duration
	if err := d.UnmarshalText(b); err != nil {
		return err
	}
	*st = ServiceTime{Dist: "fixed", Mean: d}
	return nil
}

// UnmarshalText reads the shorthand form: `custom_website: true` (on, with the site's
// own ports) or `false`.
func (c *CustomWebsite) UnmarshalText(b []byte) error {
	switch strings.TrimSpace(string(b)) {
	case "true":
		*c = CustomWebsite{Enabled: true}
	case "false":
		*c = CustomWebsite{}
	default:
		return fmt.Errorf("custom_website %q: want true, false or {enabled: true, http: PORT, https: PORT}", string(b))
	}
	return nil
}
