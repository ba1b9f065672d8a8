package fwimport

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/portlab/portlab/scenarios"
)

// importHeader begins the first comment line of every imported block; Merge finds a
// block imported before by it.
const importHeader = "# Imported by `portlab import"

// YAML renders the translation as a block to paste under a router of a scenario's
// network.routers: header comments (source, chain, router, mappings, flags), then
// `firewall:` with the default and the rules, each rule under a comment naming the
// source rule it came from. Rules that were implied, skipped or refused appear as
// comments at their place in the list, so the block reads in the source's order. Only
// an import without refusals should be used as is (Import.Err); with refusals the block
// is what --partial writes.
func (im *Import) YAML() []byte {
	var b strings.Builder
	for _, l := range im.lines("") {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// lines renders the block with every line prefixed by indent.
func (im *Import) lines(indent string) []string {
	var out []string
	c := func(format string, a ...any) { out = append(out, indent+"# "+oneLine(fmt.Sprintf(format, a...))) }
	l := func(format string, a ...any) { out = append(out, indent+fmt.Sprintf(format, a...)) }

	c("%s %s` from %s: chain %s, for router %s.", strings.TrimPrefix(importHeader, "# "), im.Format, im.Options.File, im.Chain, im.Options.Router)
	if len(im.Options.Map) > 0 {
		var m []string
		for _, x := range im.Options.Map {
			m = append(m, x.String())
		}
		c("Segments: %s.", strings.Join(m, ", "))
	}
	var flags []string
	for _, f := range []struct {
		on   bool
		name string
	}{{im.Options.SkipLog, "--skip-log"}, {im.Options.IPv4Only, "--ipv4-only"}, {im.Options.AssumeStateful, "--assume-stateful"}} {
		if f.on {
			flags = append(flags, f.name)
		}
	}
	if len(flags) > 0 {
		c("Flags: %s.", strings.Join(flags, " "))
	}
	for _, n := range im.Notes {
		c("Note: %s", n)
	}
	refused := im.Refused()
	if len(refused) > 0 {
		c("INCOMPLETE: %d refused (listed as REFUSED below); this is not the real edge's behaviour.", len(refused))
	}
	for _, e := range im.Entries {
		if e.Other && e.Outcome == Refused {
			c("REFUSED %s: %s", e.Where(), e.Text)
			c("  %s", e.Reason)
		}
	}
	l("firewall:")
	l("  default: %s  # chain policy %s", im.Firewall.Default, im.Policy)
	if len(im.Firewall.Rules) == 0 {
		for _, e := range im.Entries {
			if !e.Other {
				out = append(out, im.entryLines(indent+"  ", e)...)
			}
		}
		l("  rules: []")
		return out
	}
	l("  rules:")
	for _, e := range im.Entries {
		if e.Other {
			continue
		}
		out = append(out, im.entryLines(indent+"    ", e)...)
	}
	return out
}

func (im *Import) entryLines(indent string, e Entry) []string {
	var out []string
	c := func(format string, a ...any) { out = append(out, indent+"# "+oneLine(fmt.Sprintf(format, a...))) }
	switch e.Outcome {
	case Translated:
		c("%s: %s", e.Where(), e.Text)
		for _, n := range e.Notes {
			c("  note: %s", n)
		}
		for _, i := range e.Rules {
			out = append(out, indent+"- "+flowRule(im.Firewall.Rules[i]))
		}
	case Refused:
		c("REFUSED %s: %s", e.Where(), e.Text)
		c("  %s", e.Reason)
	default:
		c("%s: %s", e.Where(), e.Text)
		c("  %s", e.Reason)
	}
	return out
}

// flowRule renders one rule as a flow mapping in the order the README writes them.
func flowRule(r scenarios.Rule) string {
	parts := []string{"name: " + r.Name}
	if r.Proto != "" {
		parts = append(parts, "proto: "+string(r.Proto))
	}
	if !r.Port.IsZero() {
		parts = append(parts, "port: "+r.Port.String())
	}
	if r.From != "" {
		parts = append(parts, "from: "+r.From)
	}
	if r.To != "" {
		parts = append(parts, "to: "+r.To)
	}
	parts = append(parts, "action: "+string(r.Action))
	return "{" + strings.Join(parts, ", ") + "}"
}

// oneLine keeps a comment on one line: control characters (a newline in an nft
// comment, say) are escaped.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
