package wire

import (
	"fmt"
	"strings"
)

// Policy bodies, served by GET /SMS_MP/.sms_pol?…. A body is a <Policy> document in
// UTF-16LE with a BOM (unconfirmed for plain bodies: SharpSCCM strips two leading
// characters and the NULs of a decrypted one; the policy blobs public write-ups decode
// are UTF-16LE) and CR LF line ends, as in
// a real NAAConfig body: <Policy> → <PolicyRule> → <PolicyAction PolicyActionType=
// "WMI-XML"> → <instance class="…"> with <property name type [secret]><value>.
//
// A real MP serves a secret policy (NAAConfig) only to a client presenting
// ClientToken/ClientTokenSignature headers, as CMS EnvelopedData encrypted to the
// certificate the client registered. portlab serves the decrypted shape instead, with
// empty credentials, unencrypted (deliberate: portlab holds no client keys).

// PolicyBody describes a policy body document.
type PolicyBody struct {
	ID       string // PolicyID
	Version  string // PolicyVersion, e.g. 2.00
	Source   string // PolicySource, SMS:<site code>
	Category string // chooses the instance class; NAAConfig selects the secret shape
	RuleID   string // PolicyRuleID; empty: derived from ID (unconfirmed)
	// Size is the size of the encoded body in bytes (BOM included); the document is
	// padded to it inside a property value, the way real policies carry their data.
	// Odd sizes round up (UTF-16); a Size smaller than the bare document is ignored.
	Size int
}

// AppendPolicyBody appends the encoded body (UTF-16LE with BOM) of b to dst.
func AppendPolicyBody(dst []byte, b *PolicyBody) []byte {
	var head, tail []byte
	head, tail = policyBodyParts(b)
	size := b.Size + b.Size&1
	pad := (size - 2 - utf16LenOf(head) - utf16LenOf(tail)) / 2
	dst = append(dst, 0xFF, 0xFE)
	dst = appendUTF16Bytes(dst, head)
	for i := 0; i < pad; i++ {
		dst = append(dst, 'A'+byte(i%26), 0)
	}
	return appendUTF16Bytes(dst, tail)
}

// policyBodyParts returns the document before and after the padding.
func policyBodyParts(b *PolicyBody) (head, tail []byte) {
	h := make([]byte, 0, 1024)
	h = append(h, "<?xml version=\"1.0\" ?>\r\n<Policy PolicyType=\"Machine\" SchemaVersion=\"1.00\""...)
	h = xAttr(h, "PolicyID", b.ID)
	h = xAttr(h, "PolicyVersion", b.Version)
	h = xAttr(h, "PolicySource", b.Source)
	h = append(h, ">\r\n<PolicyRule"...)
	h = xAttr(h, "PolicyRuleID", or(b.RuleID, b.ID))
	h = append(h, ">\r\n<PolicyAction PolicyActionType=\"WMI-XML\">\r\n"...)
	if b.Category == "NAAConfig" {
		h = append(h, "<instance class=\"CCM_NetworkAccessAccount\">\r\n"...)
		h = wmiProp(h, "SiteSettingsKey", "19", false, "1")
		h = wmiProp(h, "NetworkAccessUsername", "8", true, "")
		h = wmiProp(h, "NetworkAccessPassword", "8", true, "")
		// The padding goes into a Reserved1 value (unconfirmed name), after the credentials.
		h = append(h, "\t<property name=\"Reserved1\" type=\"8\">\r\n\t\t<value>\r\n\t\t\t<![CDATA["...)
	} else {
		h = append(h, "<instance class=\"CCM_"...)
		h = appendEscaped(h, classSafe(or(b.Category, "Policy")))
		h = append(h, "\">\r\n"...)
		h = wmiProp(h, "SiteSettingsKey", "19", false, "1")
		h = append(h, "\t<property name=\"Data\" type=\"8\">\r\n\t\t<value>\r\n\t\t\t<![CDATA["...)
	}
	t := []byte("]]>\r\n\t\t</value>\r\n\t</property>\r\n</instance>\r\n</PolicyAction>\r\n</PolicyRule>\r\n</Policy>\r\n")
	return h, t
}

func wmiProp(dst []byte, name, typ string, secret bool, value string) []byte {
	dst = append(dst, "\t<property"...)
	dst = xAttr(dst, "name", name)
	dst = xAttr(dst, "type", typ)
	if secret {
		dst = append(dst, ` secret="1"`...)
	}
	dst = append(dst, ">\r\n\t\t<value>\r\n\t\t\t"...)
	dst = appendCDATA(dst, value)
	return append(dst, "\r\n\t\t</value>\r\n\t</property>\r\n"...)
}

func classSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// PolicyBodyInfo is what ParsePolicyBody reads from a body.
type PolicyBodyInfo struct {
	ID, Version, Source string
	Class               string            // the instance class
	Secrets             map[string]string // secret="1" properties: name → value as sent
}

// ParsePolicyBody reads a policy body (UTF-16 or UTF-8): its ids, its instance class
// and its secret properties (for NAAConfig: NetworkAccessUsername/Password, empty from
// portlab's MP).
func ParsePolicyBody(body []byte) (PolicyBodyInfo, error) {
	var p PolicyBodyInfo
	var secret string // name of the secret property being read
	err := visit(body, func(s *xmlScanner, path [][]byte, t xmlToken) (bool, error) {
		if err := rootIs(path, "Policy"); err != nil {
			return false, err
		}
		var err error
		switch {
		case len(path) == 1:
			if p.ID, err = attrString(t.attrs, "PolicyID"); err != nil {
				return false, err
			}
			if p.Version, err = attrString(t.attrs, "PolicyVersion"); err != nil {
				return false, err
			}
			p.Source, err = attrString(t.attrs, "PolicySource")
		case pathIs(path, "Policy", "PolicyRule", "PolicyAction", "instance"):
			if p.Class == "" {
				p.Class, err = attrString(t.attrs, "class")
			}
		case pathIs(path, "Policy", "PolicyRule", "PolicyAction", "instance", "property"):
			secret = ""
			if sec, _ := attr(t.attrs, "secret"); string(sec) == "1" {
				if secret, err = attrString(t.attrs, "name"); err != nil {
					return false, err
				}
				if p.Secrets == nil {
					p.Secrets = map[string]string{}
				}
				p.Secrets[secret] = ""
			}
		case pathIs(path, "Policy", "PolicyRule", "PolicyAction", "instance", "property", "value"):
			if secret == "" {
				return false, nil
			}
			v, err := textString(s, t)
			p.Secrets[secret] = v
			return true, err
		}
		return false, err
	})
	if err == nil && p.ID == "" {
		err = fmt.Errorf("%w: policy body without PolicyID", ErrMalformed)
	}
	return p, err
}
