package scenarios

import (
	"errors"
	"fmt"
	"sort"
	"strings"
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
	Source string // the offending line as written
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Verbose renders the error with its source line, a caret under the column and the hint.
func (e *Error) Verbose() string {
	var b strings.Builder
	b.WriteString(e.Error())
	if e.Source != "" {
		num := fmt.Sprintf("%5d | ", e.Line)
		fmt.Fprintf(&b, "\n%s%s", num, e.Source)
		if e.Col > 0 {
			pad := strings.Repeat(" ", len(num)-2) + "| " + caretPad(e.Source, e.Col-1)
			fmt.Fprintf(&b, "\n%s^", pad)
		}
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "\n      hint: %s", e.Hint)
	}
	return b.String()
}

// caretPad keeps tabs so the caret lines up under tab-indented source.
func caretPad(src string, n int) string {
	var b strings.Builder
	for i, r := range src {
		if i >= n {
			break
		}
		if r == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
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
