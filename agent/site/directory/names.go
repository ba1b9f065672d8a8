package directory

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidName is wrapped by every name validation error.
var ErrInvalidName = errors.New("invalid name")

// DomainDN turns a DNS domain name into its directory name:
// "corp.example" → "DC=corp,DC=example". A trailing dot is allowed.
func DomainDN(domain string) (string, error) {
	d, err := normalizeDomain(domain)
	if err != nil {
		return "", err
	}
	labels := strings.Split(d, ".")
	for i, l := range labels {
		labels[i] = "DC=" + l
	}
	return strings.Join(labels, ","), nil
}

// normalizeDomain validates a DNS name (RFC 1123 host-name labels: letters, digits and
// inner hyphens, 1–63 bytes each, 253 in all) and returns it lower-cased without a
// trailing dot.
func normalizeDomain(name string) (string, error) {
	n := strings.TrimSuffix(name, ".")
	if n == "" {
		return "", fmt.Errorf("domain name %q: empty: %w", name, ErrInvalidName)
	}
	if len(n) > 253 {
		return "", fmt.Errorf("domain name %.40q…: longer than 253 bytes: %w", name, ErrInvalidName)
	}
	for l := range strings.SplitSeq(n, ".") {
		if err := checkLabel(l); err != nil {
			return "", fmt.Errorf("domain name %q: %w", name, err)
		}
	}
	return strings.ToLower(n), nil
}

func checkLabel(l string) error {
	if l == "" || len(l) > 63 {
		return fmt.Errorf("label %q: must be 1 to 63 bytes: %w", l, ErrInvalidName)
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return fmt.Errorf("label %q: starts or ends with a hyphen: %w", l, ErrInvalidName)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("label %q: byte %q is not a letter, digit or hyphen: %w", l, c, ErrInvalidName)
		}
	}
	return nil
}

// normalizeSiteCode validates a ConfigMgr site code (three letters or digits, not a
// reserved device name) and returns it in upper case.
func normalizeSiteCode(code string) (string, error) {
	c := strings.ToUpper(code)
	if len(c) != 3 {
		return "", fmt.Errorf("site code %q: must be 3 characters: %w", code, ErrInvalidName)
	}
	for i := 0; i < 3; i++ {
		if !(c[i] >= 'A' && c[i] <= 'Z' || c[i] >= '0' && c[i] <= '9') {
			return "", fmt.Errorf("site code %q: must be letters and digits: %w", code, ErrInvalidName)
		}
	}
	switch c {
	case "AUX", "CON", "NUL", "PRN", "SMS":
		return "", fmt.Errorf("site code %q: reserved: %w", code, ErrInvalidName)
	}
	return c, nil
}
