package wire

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Helpers the body builders use: they append UTF-8 XML (EncodePayload makes it UTF-16).

func xAttr(dst []byte, name, value string) []byte {
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, `="`...)
	dst = appendEscaped(dst, value)
	return append(dst, '"')
}

func xAttrInt(dst []byte, name string, n int64) []byte {
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, `="`...)
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, '"')
}

func xAttrTime(dst []byte, name string, t time.Time) []byte {
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, `="`...)
	dst = t.UTC().AppendFormat(dst, SentTimeLayout)
	return append(dst, '"')
}

// xElem writes <name>value</name>, or <name /> when value is empty.
func xElem(dst []byte, name, value string) []byte {
	dst = append(dst, '<')
	dst = append(dst, name...)
	if value == "" {
		return append(dst, " />"...)
	}
	dst = append(dst, '>')
	dst = appendEscaped(dst, value)
	dst = append(dst, "</"...)
	dst = append(dst, name...)
	return append(dst, '>')
}

func xElemInt(dst []byte, name string, n int64) []byte {
	dst = append(dst, '<')
	dst = append(dst, name...)
	dst = append(dst, '>')
	dst = strconv.AppendInt(dst, n, 10)
	dst = append(dst, "</"...)
	dst = append(dst, name...)
	return append(dst, '>')
}

// wmiTimeLayout is the WMI datetime form inventory reports carry (its use for a DDR's
// Date is unconfirmed: public DDRs fill it from a template).
const wmiTimeLayout = "20060102150405.000000+000"

func xElemWMITime(dst []byte, name string, t time.Time) []byte {
	dst = append(dst, '<')
	dst = append(dst, name...)
	dst = append(dst, '>')
	dst = t.UTC().AppendFormat(dst, wmiTimeLayout)
	dst = append(dst, "</"...)
	dst = append(dst, name...)
	return append(dst, '>')
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// A tiny path walker over the scanner, for the parsers: visit calls fn for each start
// tag with the path of element names from the root (root included); fn may consume the
// element with s.text or s.skip and says so by returning true.
type visitFunc func(s *xmlScanner, path [][]byte, t xmlToken) (consumed bool, err error)

// visitState is pooled: a scanner and a path stack are a few KiB that would otherwise
// be allocated per document (the callback makes them escape).
type visitState struct {
	s     xmlScanner
	stack [maxXMLDepth][]byte
}

var visitStates = sync.Pool{New: func() any { return new(visitState) }}

func visit(doc []byte, fn visitFunc) error {
	v := visitStates.Get().(*visitState)
	defer func() {
		clear(v.s.stack[:]) // drop references into doc before pooling
		clear(v.stack[:])
		scratch := v.s.scratch[:0]
		if cap(scratch) > 64<<10 {
			scratch = nil // a rare large document does not stay pooled
		}
		v.s = xmlScanner{scratch: scratch}
		visitStates.Put(v)
	}()
	v.s.b = decodeDoc(doc)
	s, stack := &v.s, &v.stack
	depth := 0
	for {
		t, err := s.next()
		if err != nil {
			return err
		}
		switch t.kind {
		case xmlEOF:
			return nil
		case xmlStart:
			stack[depth] = t.name
			consumed, err := fn(s, stack[:depth+1], t)
			if err != nil {
				return err
			}
			if !consumed && !t.empty {
				depth++
			}
		case xmlEnd:
			depth--
		}
	}
}

// pathIs reports whether path is exactly names.
func pathIs(path [][]byte, names ...string) bool {
	if len(path) != len(names) {
		return false
	}
	for i, n := range names {
		if string(path[i]) != n {
			return false
		}
	}
	return true
}

// rootIs checks the document's root element name.
func rootIs(path [][]byte, want string) error {
	if len(path) == 1 && string(path[0]) != want {
		return fmt.Errorf("%w: root is <%s>, want <%s>", ErrMalformed, path[0], want)
	}
	return nil
}

// textString reads an element's text as a trimmed string.
func textString(s *xmlScanner, t xmlToken) (string, error) {
	var err error
	s.scratch, err = s.text(s.scratch[:0], t)
	return intern(bytes.TrimSpace(s.scratch)), err
}

// decodeDoc turns a body that may be UTF-16 (with or without BOM) or UTF-8 into UTF-8.
func decodeDoc(b []byte) []byte {
	if enc, _ := sniffText(b); enc == encUTF8 {
		if len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
			b = b[3:]
		}
		if i := bytes.IndexByte(b, 0); i >= 0 {
			b = b[:i]
		}
		return b
	}
	return decodeText(nil, b)
}
