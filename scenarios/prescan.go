package scenarios

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// maxNesting bounds how deeply a scenario may nest collections, measured by prescan
// before the YAML library sees the text. The deepest real path of the format
// (timeline[i].firewall.rules[j].port) is six levels; the decoder stops at maxDepth.
const maxNesting = maxDepth

// prescan measures the nesting depth of YAML text without parsing it, and refuses text
// that nests more than maxNesting levels, naming the line and column where it does.
//
// It exists because goccy/go-yaml's parser spends time and memory quadratic in the
// nesting depth before portlab's decoder can apply its own limit: 100 KB of `[` took
// 3.9 GB. A scenario nests about six levels, so a cheap, conservative count suffices:
// flow collections ([ and { outside quoted and block scalars and comments), block
// sequence entries (`- `, several on one line for compact nesting) and block mapping
// keys, each at its indentation. It may count a little more than the parser would (a
// plain scalar continued on a line that starts with `[`), never much less.
func prescan(file string, data []byte) *Error {
	var (
		stack       []int // columns of the enclosing block collections
		flow        int   // open flow collections
		quote       byte  // inside a quoted scalar spanning lines: '\'' or '"'
		blockParent = -1  // inside a block scalar: the indentation of its parent line
	)
	fail := func(line, col int) *Error {
		return &Error{File: file, Line: line, Col: col, Msg: fmt.Sprintf("the document nests more than %d levels deep", maxNesting),
			Hint: "a scenario nests about six levels; this file is not one"}
	}
	for ln, rest := 1, data; len(rest) > 0; ln++ {
		var line []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			line, rest = rest, nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		indent := 0
		for indent < len(line) && line[indent] == ' ' {
			indent++
		}
		if blockParent >= 0 {
			if indent == len(line) || indent > blockParent {
				continue // block scalar text: nothing in it nests
			}
			blockParent = -1
		}
		p := 0
		if quote != 0 {
			if p = closeQuote(line, 0, quote); p < 0 {
				continue
			}
			quote = 0
		} else {
			if indent == len(line) || line[indent] == '#' {
				continue // blank or comment
			}
			p = indent
			if flow == 0 {
				if p == 0 && (bytes.HasPrefix(line, []byte("---")) || bytes.HasPrefix(line, []byte("..."))) && (len(line) == 3 || line[3] == ' ') {
					stack, p = stack[:0], 3 // a document marker: a new document starts at the top
				}
				for len(stack) > 0 && stack[len(stack)-1] >= indent {
					stack = stack[:len(stack)-1]
				}
				// Block indicators: `- ` (compact nesting: `- - - x`), `? ` and `: `.
				for p < len(line) && (line[p] == '-' || line[p] == '?' || line[p] == ':') && (p+1 == len(line) || isBlank(line[p+1])) {
					if line[p] != ':' {
						stack = append(stack, p)
						if len(stack) > maxNesting {
							return fail(ln, runeCol(line, p))
						}
					}
					p++
					for p < len(line) && isBlank(line[p]) {
						p++
					}
				}
			}
		}
		// The rest of the line, token by token.
		valueStart, keyCol := true, p
		for p < len(line) {
			c := line[p]
			switch {
			case isBlank(c):
				p++
				continue
			case c == '#' && (p == 0 || isBlank(line[p-1])):
				p = len(line) // a comment
				continue
			case c == '\'' || c == '"':
				q := closeQuote(line, p+1, c)
				if q < 0 {
					quote, p = c, len(line)
					continue
				}
				p, valueStart = q, false
				continue
			case (c == '&' || c == '!') && valueStart:
				// An anchor or a tag: what follows is still the start of the value.
				for p < len(line) && !isBlank(line[p]) && !(flow > 0 && isFlowIndicator(line[p])) {
					p++
				}
				continue
			case (c == '[' || c == '{') && (flow > 0 || valueStart):
				flow++
				if len(stack)+flow > maxNesting {
					return fail(ln, runeCol(line, p))
				}
				p, valueStart = p+1, true
				continue
			case (c == ']' || c == '}') && flow > 0:
				flow--
				p, valueStart = p+1, false
				continue
			case c == ',' && flow > 0:
				p, valueStart = p+1, true
				continue
			case c == ':' && (p+1 == len(line) || isBlank(line[p+1]) || (flow > 0 && isFlowIndicator(line[p+1]))):
				if flow == 0 {
					// A block mapping key on this line: its entries nest one level more.
					stack = append(stack, keyCol)
					if len(stack) > maxNesting {
						return fail(ln, runeCol(line, keyCol))
					}
				}
				p, valueStart = p+1, true
				continue
			case (c == '|' || c == '>') && valueStart && flow == 0:
				blockParent, p = indent, len(line) // a block scalar follows
				continue
			}
			// A plain scalar: to the next indicator that can end it.
			if valueStart && flow == 0 {
				keyCol = p
			}
			valueStart = false
			for p++; p < len(line); p++ {
				if line[p] == ':' || line[p] == '#' || (flow > 0 && isFlowIndicator(line[p])) {
					break
				}
			}
		}
	}
	return nil
}

// closeQuote returns the index after the quote that closes a scalar quoted with q,
// searching line from p, or -1 when the scalar goes on past the line.
func closeQuote(line []byte, p int, q byte) int {
	for ; p < len(line); p++ {
		switch {
		case q == '"' && line[p] == '\\':
			p++ // an escape: skip the escaped character
		case line[p] == q:
			if q == '\'' && p+1 < len(line) && line[p+1] == '\'' {
				p++ // '' is a quote inside a single-quoted scalar
				continue
			}
			return p + 1
		}
	}
	return -1
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func isFlowIndicator(c byte) bool { return c == '[' || c == ']' || c == '{' || c == '}' || c == ',' }

// runeCol is the 1-based column (in characters, as the YAML library counts) of byte p.
func runeCol(line []byte, p int) int { return utf8.RuneCount(line[:p]) + 1 }
