package wire

import (
	"bytes"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Text encodings. Real messages are UTF-16LE; portlab builds XML as UTF-8 and converts
// at the edge, appending straight into the caller's buffer (no intermediate string or
// []uint16). Readers accept UTF-8 and UTF-16 (LE/BE, with or without a BOM).

// appendUTF16 appends s (UTF-8; invalid bytes become U+FFFD) as UTF-16LE. ASCII, the
// usual text (a client's header is mostly hex signatures), is written by index into
// room grown once; the first other byte hands the rest to the general loop.
func appendUTF16(dst []byte, s string) []byte { return appendUTF16Of(dst, s) }

// appendUTF16Bytes is appendUTF16 for a byte slice.
func appendUTF16Bytes(dst []byte, s []byte) []byte { return appendUTF16Of(dst, s) }

func appendUTF16Of[T string | []byte](dst []byte, s T) []byte {
	n := len(dst)
	dst = slices.Grow(dst, 2*len(s))[:n+2*len(s)]
	out := dst[n:]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < utf8.RuneSelf {
			out[2*i], out[2*i+1] = c, 0
			continue
		}
		dst = dst[:n+2*i]
		for j := i; j < len(s); {
			if c := s[j]; c < utf8.RuneSelf {
				dst = append(dst, c, 0)
				j++
				continue
			}
			r, w := utf8.DecodeRune([]byte(s[j:min(len(s), j+utf8.UTFMax)]))
			j += w
			dst = appendRune16(dst, r)
		}
		return dst
	}
	return dst
}

func appendRune16(dst []byte, r rune) []byte {
	if r >= 0x10000 {
		r1, r2 := utf16.EncodeRune(r)
		return append(dst, byte(r1), byte(r1>>8), byte(r2), byte(r2>>8))
	}
	return append(dst, byte(r), byte(r>>8))
}

// utf16LenOf returns the UTF-16 byte length of s without encoding it.
func utf16LenOf(s []byte) int {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			n += 2
			i++
			continue
		}
		r, w := utf8.DecodeRune(s[i:])
		i += w
		if r >= 0x10000 {
			n += 4
		} else {
			n += 2
		}
	}
	return n
}

// textEncoding is what decodeText found.
type textEncoding uint8

const (
	encUTF8 textEncoding = iota
	encUTF16LE
	encUTF16BE
)

// sniffText says how b is encoded: a BOM decides; without one, a NUL in the first two
// bytes next to an ASCII character says UTF-16 and its order; otherwise UTF-8. It
// returns the encoding and how many BOM bytes to skip.
func sniffText(b []byte) (textEncoding, int) {
	switch {
	case len(b) >= 2 && b[0] == 0xFF && b[1] == 0xFE:
		return encUTF16LE, 2
	case len(b) >= 2 && b[0] == 0xFE && b[1] == 0xFF:
		return encUTF16BE, 2
	case len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF:
		return encUTF8, 3
	}
	// Skip leading ASCII whitespace encoded either way to find the first real unit.
	for i := 0; i+1 < len(b); i += 2 {
		lo, hi := b[i], b[i+1]
		if lo != 0 && hi == 0 {
			if isXMLSpace(lo) {
				continue
			}
			return encUTF16LE, 0
		}
		if lo == 0 && hi != 0 {
			if isXMLSpace(hi) {
				continue
			}
			return encUTF16BE, 0
		}
		break
	}
	return encUTF8, 0
}

// decodeText appends the UTF-8 form of b (whatever sniffText finds) to dst. The text ends
// at the first NUL code unit, the payload terminator: what follows it is dropped
// (sccmwtf compresses a CR LF after the terminator; pxethief sends CR LF and three zero
// bytes), and so is an odd last byte of UTF-16 text. Unpaired surrogates
// and invalid UTF-8 become U+FFFD.
func decodeText(dst, b []byte) []byte {
	enc, skip := sniffText(b)
	b = b[skip:]
	if enc == encUTF8 {
		if i := bytes.IndexByte(b, 0); i >= 0 {
			b = b[:i]
		}
		if utf8.Valid(b) {
			return append(dst, b...)
		}
		for len(b) > 0 {
			r, n := utf8.DecodeRune(b)
			b = b[n:]
			dst = utf8.AppendRune(dst, r)
		}
		return dst
	}
	return decodeUTF16(dst, b[:len(b)&^1], enc == encUTF16BE)
}

// decodeUTF16 appends the UTF-8 form of the UTF-16 text b up to its first NUL. ASCII
// units, nearly all of a message, are written by index into room grown once.
func decodeUTF16(dst, b []byte, be bool) []byte {
	j := len(dst)
	dst = slices.Grow(dst, len(b)/2)
	out := dst[:cap(dst)]
	for i := 0; i+1 < len(b); i += 2 {
		var u uint16
		if be {
			u = uint16(b[i])<<8 | uint16(b[i+1])
		} else {
			u = uint16(b[i]) | uint16(b[i+1])<<8
		}
		if u == 0 {
			break
		}
		if u < utf8.RuneSelf {
			out[j] = byte(u)
			j++
			continue
		}
		r := rune(u)
		if utf16.IsSurrogate(r) {
			r = utf8.RuneError
			if u < 0xDC00 && i+3 < len(b) {
				var u2 uint16
				if be {
					u2 = uint16(b[i+2])<<8 | uint16(b[i+3])
				} else {
					u2 = uint16(b[i+2]) | uint16(b[i+3])<<8
				}
				if u2 >= 0xDC00 && u2 <= 0xDFFF {
					r = utf16.DecodeRune(rune(u), rune(u2))
					i += 2
				}
			}
		}
		// Up to 4 bytes for this rune, then one per remaining unit.
		out = slices.Grow(out[:j], 4+(len(b)-i)/2)
		out = utf8.AppendRune(out, r)
		j = len(out)
		out = out[:cap(out)]
	}
	return out[:j]
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// validXMLRune reports whether XML 1.0 allows r in a document.
func validXMLRune(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		(r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}

// appendEscaped appends s escaped for XML text and attribute values (both quotes are
// escaped, so the result fits either). Characters XML cannot carry become U+FFFD.
func appendEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		var esc string
		w := 1
		if c < utf8.RuneSelf {
			switch c {
			case '&':
				esc = "&amp;"
			case '<':
				esc = "&lt;"
			case '>':
				esc = "&gt;"
			case '"':
				esc = "&quot;"
			case '\'':
				esc = "&apos;"
			case '\t':
				esc = "&#x9;"
			case '\n':
				esc = "&#xA;"
			case '\r':
				esc = "&#xD;"
			default:
				if c < 0x20 {
					esc = "\uFFFD"
				}
			}
		} else {
			r, n := utf8.DecodeRuneInString(s[i:])
			w = n
			if (r == utf8.RuneError && n == 1) || !validXMLRune(r) {
				esc = "\uFFFD"
			}
		}
		if esc != "" {
			dst = append(dst, s[start:i]...)
			dst = append(dst, esc...)
			start = i + w
		}
		i += w
	}
	return append(dst, s[start:]...)
}

// appendCDATA appends s as one or more CDATA sections (a "]]>" inside s is split).
func appendCDATA(dst []byte, s string) []byte {
	dst = append(dst, "<![CDATA["...)
	for {
		i := strings.Index(s, "]]>")
		if i < 0 {
			break
		}
		dst = append(dst, s[:i+2]...)
		dst = append(dst, "]]><![CDATA["...)
		s = s[i+2:]
	}
	dst = append(dst, s...)
	return append(dst, "]]>"...)
}
