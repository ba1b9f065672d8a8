package directory

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// These tests drive OpenLDAP's ldapsearch (Debian package ldap-utils) against the
// server, so the server is checked by a client it was not written with.

func ldapsearch(t *testing.T, addr netip.AddrPort, args ...string) []ldifEntry {
	t.Helper()
	bin, err := exec.LookPath("ldapsearch")
	if err != nil {
		t.Skip("ldapsearch not installed (apt-get install ldap-utils; make test-tools)")
	}
	full := append([]string{"-x", "-LLL", "-o", "ldif-wrap=no", "-o", "nettimeout=5", "-l", "5",
		"-H", fmt.Sprintf("ldap://%s", addr)}, args...)
	cmd := exec.Command(bin, full...)
	cmd.Env = append(os.Environ(), "LDAPNOINIT=1") // no ldap.conf, no ~/.ldaprc
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ldapsearch %s: %v\n%s", strings.Join(full, " "), err, out)
	}
	t.Logf("ldapsearch %s\n%s", strings.Join(full, " "), out)
	return parseLDIF(t, string(out))
}

type ldifEntry struct {
	dn    string
	attrs map[string][]string
}

// parseLDIF reads ldapsearch's unwrapped LDIF: "name: value" or "name:: base64".
func parseLDIF(t *testing.T, s string) []ldifEntry {
	var out []ldifEntry
	for block := range strings.SplitSeq(strings.TrimSpace(s), "\n\n") {
		e := ldifEntry{attrs: map[string][]string{}}
		for line := range strings.SplitSeq(block, "\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			name, value, ok := strings.Cut(line, ":")
			if !ok {
				t.Fatalf("LDIF line %q", line)
			}
			if strings.HasPrefix(value, ":") {
				b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value[1:]))
				if err != nil {
					t.Fatalf("LDIF line %q: %v", line, err)
				}
				value = string(b)
			} else {
				value = strings.TrimPrefix(value, " ")
			}
			if name == "dn" {
				e.dn = value
				continue
			}
			e.attrs[name] = append(e.attrs[name], value)
		}
		if e.dn != "" || len(e.attrs) > 0 {
			out = append(out, e)
		}
	}
	return out
}

func TestInteropLdapsearchManagementPoints(t *testing.T) {
	_, addr, gc := startServer(t, testPublication())
	for _, a := range []netip.AddrPort{addr, gc} {
		entries := ldapsearch(t, a, "-b", smDN, "(objectClass=mSSMSManagementPoint)")
		if len(entries) != 3 {
			t.Fatalf("%s: %d entries, want 3", a, len(entries))
		}
		e := entries[0]
		if e.dn != "CN=SMS-MP-PS1-MP1.CORP.EXAMPLE,"+smDN {
			t.Errorf("first dn %q", e.dn)
		}
		for attr, want := range map[string]string{
			"mSSMSMPName": "MP1.CORP.EXAMPLE", "dNSHostName": "mp1.corp.example", "mSSMSSiteCode": "PS1",
			"mSSMSDefaultMP": "TRUE", "mSSMSVersion": "9141",
		} {
			if got := e.attrs[attr]; len(got) != 1 || got[0] != want {
				t.Errorf("%s: %s = %q, want %q", a, attr, got, want)
			}
		}
		caps := e.attrs[PortsAttribute]
		if len(caps) != 1 {
			t.Fatalf("%s: %s = %q", a, PortsAttribute, caps)
		}
		if !strings.Contains(caps[0], `<IISPorts HTTP="80" HTTPAlternate="8080" HTTPS="443">`) &&
			!strings.Contains(caps[0], `<IISPorts HTTP="80" HTTPAlternate="8080" HTTPS="443"></IISPorts>`) {
			t.Errorf("%s: capabilities without the ports element: %s", a, caps[0])
		}
		c, err := ParseCapabilities(caps[0])
		if err != nil || c.Ports != (Ports{HTTP: 80, HTTPAlternate: 8080, HTTPS: 443}) {
			t.Errorf("%s: capabilities %+v, %v", a, c, err)
		}
	}
}

func TestInteropLdapsearchRootDSE(t *testing.T) {
	_, addr, gc := startServer(t, testPublication())
	for a, gcReady := range map[netip.AddrPort]string{addr: "FALSE", gc: "TRUE"} {
		entries := ldapsearch(t, a, "-s", "base", "-b", "")
		if len(entries) != 1 {
			t.Fatalf("%s: %d entries", a, len(entries))
		}
		for attr, want := range map[string]string{
			"defaultNamingContext": "DC=corp,DC=example", "rootDomainNamingContext": "DC=corp,DC=example",
			"namingContexts": "DC=corp,DC=example", "dnsHostName": "dc1.corp.example", "isGlobalCatalogReady": gcReady,
		} {
			if got := entries[0].attrs[attr]; len(got) != 1 || got[0] != want {
				t.Errorf("%s: %s = %q, want %q", a, attr, got, want)
			}
		}
	}
}

func TestInteropLdapsearchSiteAndAttributes(t *testing.T) {
	_, _, gc := startServer(t, testPublication())
	entries := ldapsearch(t, gc, "-b", "DC=corp,DC=example", "(&(objectClass=mSSMSSite)(mSSMSSiteCode=PS1))",
		"mSSMSSiteCode", "mSSMSSourceForest", "mSSMSHealthState", "mSSMSRoamingBoundaries")
	if len(entries) != 1 || entries[0].dn != "CN=SMS-Site-PS1,"+smDN {
		t.Fatalf("entries %+v", entries)
	}
	e := entries[0]
	if len(e.attrs) != 4 || e.attrs["mSSMSSourceForest"][0] != "corp.example" || e.attrs["mSSMSRoamingBoundaries"][0] != "198.18.16.0" ||
		!strings.Contains(e.attrs["mSSMSHealthState"][0], "PS1.{") {
		t.Errorf("site %+v", e.attrs)
	}
	// Substring and presence filters as ldapsearch encodes them.
	if got := ldapsearch(t, gc, "-b", smDN, "(&(cn=SMS-MP-*)(mSSMSMPAddress=*))", "1.1"); len(got) != 1 {
		t.Errorf("substring and presence: %+v", got)
	}
}
