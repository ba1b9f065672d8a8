package scenarios

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalid is matched (errors.Is) by every error that means the scenario is wrong, as
// opposed to a file that could not be read.
var ErrInvalid = errors.New("invalid scenario")

// Error is one problem in a scenario file, with its place.
type Error struct {
	File   string // file name as given
	Line   int    // 1-based; 0 when the place is unknown
	Col    int    // 1-based
	Path   string // YAML path such as clients[1].http_port; empty at top level
	Msg    string
	Hint   string // optional advice, such as a spelling suggestion
	Source string // the offending line as written (of a long line, the part around Col)
	// srcCol is the column of Source's first character when Source is part of a long
	// line (0: Source is the whole line); cutLeft and cutRight say it was cut there.
	srcCol            int
	cutLeft, cutRight bool
}

// How much of an author's text an error shows: a 4 MB one-line file must not print
// 4 MB per error. Messages, paths and hints quote what the author wrote (keys, names,
// values), so they are bounded too.
const (
	excerptWidth = 80  // characters of a long source line shown around the column
	maxTextLen   = 300 // bytes of a message, path or hint; longer ones are cut in the middle
	keepSource   = 4 * excerptWidth
)

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(Printable(clipMiddle(e.File, maxTextLen)))
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(Printable(clipMiddle(e.Path, maxTextLen)))
		b.WriteString(": ")
	}
	b.WriteString(Printable(clipMiddle(e.Msg, maxTextLen)))
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Verbose renders the error with its source line (at most excerptWidth characters
// around the column, … where it was cut), a caret under the column and the hint. Every
// character a terminal would act on (escape sequences, carriage returns, bidirectional
// overrides) is shown escaped, as \x1b or \u202e.
func (e *Error) Verbose() string {
	var b strings.Builder
	b.WriteString(e.Error())
	if e.Source != "" {
		num := fmt.Sprintf("%5d | ", e.Line)
		text, pad := e.excerpt()
		fmt.Fprintf(&b, "\n%s%s", num, text)
		if e.Col > 0 {
			fmt.Fprintf(&b, "\n%s| %s^", strings.Repeat(" ", len(num)-2), pad)
		}
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "\n      hint: %s", Printable(clipMiddle(e.Hint, maxTextLen)))
	}
	return b.String()
}

// setSource keeps the part of line around the error's column (keepSource characters),
// so a huge line costs neither memory nor output.
func (e *Error) setSource(line string) {
	lo, hi, startCol := window(line, 1, e.Col, keepSource)
	e.Source, e.srcCol, e.cutLeft, e.cutRight = line[lo:hi], startCol, lo > 0, hi < len(line)
}

// excerpt is the source text shown (excerptWidth characters around the column, escaped)
// and the padding that puts a caret under the column (tabs kept, so it lines up).
func (e *Error) excerpt() (text, pad string) {
	lo, hi, col := window(e.Source, max(e.srcCol, 1), e.Col, excerptWidth)
	var t, p strings.Builder
	if lo > 0 || e.cutLeft {
		t.WriteString("…")
		p.WriteByte(' ')
	}
	for _, r := range e.Source[lo:hi] {
		shown := "\t"
		if r != '\t' {
			shown = printableRune(r)
		}
		t.WriteString(shown)
		if col < e.Col {
			if r == '\t' {
				p.WriteByte('\t')
			} else {
				p.WriteString(strings.Repeat(" ", utf8.RuneCountInString(shown)))
			}
		}
		col++
	}
	if hi < len(e.Source) || e.cutRight {
		t.WriteString("…")
	}
	return t.String(), p.String()
}

// window finds the byte range [lo, hi) of at most width characters of line around
// column col (1-based; the line's first character is column start), and lo's column.
// A line that is not much longer (half as much again) is kept whole: cutting a
// character or two off it would hide more than it saves.
func window(line string, start, col, width int) (lo, hi, loCol int) {
	if utf8.RuneCountInString(line) <= width*3/2 {
		return 0, len(line), start
	}
	at, c := 0, start
	for at < len(line) && c < col {
		_, n := utf8.DecodeRuneInString(line[at:])
		at += n
		c++
	}
	back := func(k int) { // moves lo k characters towards the start
		for ; k > 0 && lo > 0; k-- {
			_, n := utf8.DecodeLastRuneInString(line[:lo])
			lo -= n
			loCol--
		}
	}
	// Half the width before the column, the rest after it; near the end, more before.
	lo, loCol = at, c
	back(width / 2)
	hi = lo
	got := 0
	for ; got < width && hi < len(line); got++ {
		_, n := utf8.DecodeRuneInString(line[hi:])
		hi += n
	}
	back(width - got)
	return lo, hi, loCol
}

// clipMiddle shortens s to about n bytes, keeping its start and its end around a …,
// on character boundaries.
func clipMiddle(s string, n int) string {
	if len(s) <= n {
		return s
	}
	head, tail := n*2/3, len(s)-n/3
	for head > 0 && !utf8.RuneStart(s[head]) {
		head--
	}
	for tail < len(s) && !utf8.RuneStart(s[tail]) {
		tail++
	}
	return s[:head] + "…" + s[tail:]
}

// Printable escapes every character of s that a terminal could act on or that does not
// show: control characters (escape, carriage return, backspace, bell...), DEL, C1
// controls, format characters such as bidirectional overrides, and bytes that are not
// UTF-8, as Go writes them in strings (\x1b, \u202e). Messages that quote what a user
// wrote go through it before they are printed.
func Printable(s string) string {
	clean := true
	for _, r := range s {
		if !unicode.IsPrint(r) || r == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
		} else {
			b.WriteString(printableRune(r))
		}
		i += n
	}
	return b.String()
}

// printableRune is r, or its escape when it is not printable.
func printableRune(r rune) string {
	switch {
	case unicode.IsPrint(r):
		return string(r)
	case r < 0x80:
		return fmt.Sprintf(`\x%02x`, r)
	case r <= 0xFFFF:
		return fmt.Sprintf(`\u%04x`, r)
	}
	return fmt.Sprintf(`\U%08x`, r)
}

// ErrorList is every problem found in one file, in file order.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Is makes errors.Is(list, ErrInvalid) true.
func (l ErrorList) Is(target error) bool { return target == ErrInvalid && len(l) > 0 }

// Verbose renders every error with its source line and hint.
func (l ErrorList) Verbose() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Verbose()
	}
	return strings.Join(msgs, "\n")
}

// bounded cuts a sorted list to maxErrors and says so in a last error when it did, or
// when dropped errors were never collected.
func (l ErrorList) bounded(dropped int) ErrorList {
	if len(l) <= maxErrors && dropped == 0 {
		return l
	}
	if len(l) > maxErrors {
		dropped += len(l) - maxErrors
		l = l[:maxErrors]
	}
	last := l[len(l)-1]
	return append(l, &Error{File: last.File, Line: last.Line, Col: last.Col,
		Msg: fmt.Sprintf("more than %d errors (%d more not shown): fix these first", maxErrors, dropped)})
}

func (l ErrorList) sorted() ErrorList {
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].Line != l[j].Line {
			return l[i].Line < l[j].Line
		}
		return l[i].Col < l[j].Col
	})
	return l
}

// didYouMean returns " (did you mean `x`?)"-style text when a candidate is close to s.
func didYouMean(s string, candidates []string) string {
	if c := closest(s, candidates); c != "" {
		return fmt.Sprintf(", did you mean %q?", c)
	}
	return ""
}

// closest returns the candidate nearest to s by edit distance, if it is near enough.
func closest(s string, candidates []string) string {
	if len(s) > 64 {
		return "" // no name of the format is that long; and edit distance is quadratic
	}
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(s) > 8 {
		limit = 3
	}
	if bestD <= limit && bestD < len(s) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
