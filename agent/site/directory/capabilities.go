package directory

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxCapabilitiesLen bounds an mSSMSCapabilities value that ParseCapabilities reads.
// Real values hold a few certificates' worth of hex at most.
const MaxCapabilitiesLen = 64 << 10

// SecuritySSLEnabled is the <SecurityModeMaskEx> bit that marks an HTTPS-capable MP
// (CCM_SSL_ENABLED, the same bit as the site's IISSSLState).
const SecuritySSLEnabled = 0x1

// ErrBadCapabilities is wrapped by every ParseCapabilities error.
var ErrBadCapabilities = errors.New("bad mSSMSCapabilities")

// Capabilities is the content of an MP object's mSSMSCapabilities value, the
// <ClientOperationalSettings> document.
type Capabilities struct {
	Version            string // <Version>: "5.00.<build>.1000"
	SecurityModeMaskEx uint32 // <SecurityConfiguration><SecurityModeMaskEx>
	CommandLine        string // <CCM><CommandLine>: "SMSSITECODE=PS1"
	RootSiteCode       string // <RootSiteCode>
	FSP                []string
	// Ports come from PortsElement; HasPorts says the element was there.
	Ports    Ports
	HasPorts bool
}

// HTTPS reports whether the MP accepts HTTPS clients.
func (c Capabilities) HTTPS() bool { return c.SecurityModeMaskEx&SecuritySSLEnabled != 0 }

// SiteCode is the SMSSITECODE= value of the command line, upper case; "" if absent.
func (c Capabilities) SiteCode() string {
	for f := range strings.FieldsSeq(c.CommandLine) {
		if k, v, ok := strings.Cut(f, "="); ok && strings.EqualFold(k, "SMSSITECODE") {
			return strings.ToUpper(v)
		}
	}
	return ""
}

type xmlSettings struct {
	XMLName      xml.Name     `xml:"ClientOperationalSettings"`
	Version      string       `xml:"Version"`
	Security     xmlSecurity  `xml:"SecurityConfiguration"`
	RootSiteCode string       `xml:"RootSiteCode"`
	CCM          xmlCCM       `xml:"CCM"`
	FSP          *xmlFSP      `xml:"FSP"`
	Ports        *xmlIISPorts `xml:"IISPorts"`
}

type xmlSecurity struct {
	MaskEx string `xml:"SecurityModeMaskEx"`
}

// xmlCCM takes the command line as an element, as portlab writes it, or as an
// attribute, as one public tool's fixtures show it.
type xmlCCM struct {
	CommandLine     string `xml:"CommandLine"`
	CommandLineAttr string `xml:"CommandLine,attr,omitempty"`
}

type xmlFSP struct {
	Servers []string `xml:"FSPServer"`
}

// xmlIISPorts is PortsElement; its attribute names are the PortAttr constants.
type xmlIISPorts struct {
	HTTP           string `xml:"HTTP,attr,omitempty"`
	HTTPAlternate  string `xml:"HTTPAlternate,attr,omitempty"`
	HTTPS          string `xml:"HTTPS,attr,omitempty"`
	HTTPSAlternate string `xml:"HTTPSAlternate,attr,omitempty"`
}

// String renders c as the attribute value the site publishes.
func (c Capabilities) String() string {
	x := xmlSettings{
		Version:      c.Version,
		Security:     xmlSecurity{MaskEx: strconv.FormatUint(uint64(c.SecurityModeMaskEx), 10)},
		RootSiteCode: c.RootSiteCode,
		CCM:          xmlCCM{CommandLine: c.CommandLine},
	}
	if len(c.FSP) > 0 {
		x.FSP = &xmlFSP{Servers: c.FSP}
	}
	if c.HasPorts || !c.Ports.IsZero() {
		x.Ports = &xmlIISPorts{
			HTTP: portText(c.Ports.HTTP), HTTPAlternate: portText(c.Ports.HTTPAlternate),
			HTTPS: portText(c.Ports.HTTPS), HTTPSAlternate: portText(c.Ports.HTTPSAlternate),
		}
	}
	b, err := xml.Marshal(x)
	if err != nil { // only strings and pointers to them: unreachable
		panic(fmt.Sprintf("directory: marshal capabilities: %v", err))
	}
	return string(b)
}

func portText(p uint16) string {
	if p == 0 {
		return ""
	}
	return strconv.Itoa(int(p))
}

// ParseCapabilities reads an mSSMSCapabilities value. It is what the client side
// decodes from the server's answer, so it takes any bytes: values longer than
// MaxCapabilitiesLen, documents that are not <ClientOperationalSettings>, and ports
// that are not 1..65535 are errors wrapping ErrBadCapabilities.
func ParseCapabilities(value string) (Capabilities, error) {
	if len(value) > MaxCapabilitiesLen {
		return Capabilities{}, fmt.Errorf("%d bytes, more than %d: %w", len(value), MaxCapabilitiesLen, ErrBadCapabilities)
	}
	var x xmlSettings
	d := xml.NewDecoder(bytes.NewReader([]byte(value)))
	d.Strict = true
	if err := d.Decode(&x); err != nil {
		return Capabilities{}, fmt.Errorf("%v: %w", err, ErrBadCapabilities)
	}
	c := Capabilities{
		Version:      strings.TrimSpace(x.Version),
		RootSiteCode: strings.ToUpper(strings.TrimSpace(x.RootSiteCode)),
		CommandLine:  strings.TrimSpace(x.CCM.CommandLine),
	}
	if c.CommandLine == "" {
		c.CommandLine = strings.TrimSpace(x.CCM.CommandLineAttr)
	}
	if m := strings.TrimSpace(x.Security.MaskEx); m != "" {
		v, err := strconv.ParseUint(m, 10, 32)
		if err != nil {
			return Capabilities{}, fmt.Errorf("SecurityModeMaskEx %q: not a 32-bit number: %w", m, ErrBadCapabilities)
		}
		c.SecurityModeMaskEx = uint32(v)
	}
	if x.FSP != nil {
		for _, s := range x.FSP.Servers {
			if s = strings.TrimSpace(s); s != "" {
				c.FSP = append(c.FSP, s)
			}
		}
	}
	if x.Ports != nil {
		c.HasPorts = true
		for _, p := range []struct {
			name string
			text string
			dst  *uint16
		}{
			{PortAttrHTTP, x.Ports.HTTP, &c.Ports.HTTP},
			{PortAttrHTTPAlternate, x.Ports.HTTPAlternate, &c.Ports.HTTPAlternate},
			{PortAttrHTTPS, x.Ports.HTTPS, &c.Ports.HTTPS},
			{PortAttrHTTPSAlternate, x.Ports.HTTPSAlternate, &c.Ports.HTTPSAlternate},
		} {
			t := strings.TrimSpace(p.text)
			if t == "" {
				continue
			}
			v, err := strconv.ParseUint(t, 10, 16)
			if err != nil || v == 0 {
				return Capabilities{}, fmt.Errorf("%s %s=%q: not a port 1..65535: %w", PortsElement, p.name, t, ErrBadCapabilities)
			}
			*p.dst = uint16(v)
		}
	}
	return c, nil
}
