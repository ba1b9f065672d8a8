package predict

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Table writes the prediction as a table, one group a row: clients, predicted end
// state, the rule that decided it and why. verbose adds each cohort's story: what a
// cycle does after every change.
func (pr *Prediction) Table(w io.Writer, verbose bool) error {
	fmt.Fprintf(w, "%s: predicted from the scenario alone (no network), for a run of %s\n\n", pr.Scenario, fmtDur(pr.Duration))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tCLIENTS\tPREDICTED\tRULE\tWHY")
	for _, g := range pr.Groups {
		what := g.Predicted
		if what == "split" {
			what = fmt.Sprintf("split: %d managed, %d unmanaged", g.Managed, g.Unmanaged)
			if g.Asleep > 0 {
				what += fmt.Sprintf(", %d asleep", g.Asleep)
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", g.Group, g.Count, what, g.Rule, g.Why)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var notes []string
	for _, g := range pr.Groups {
		if g.Notification == "" {
			continue
		}
		n := fmt.Sprintf("  %s: notification %s", g.Group, g.Notification)
		if g.PushDelivered != nil {
			n += "; pushes " + deliveredWord(*g.PushDelivered)
		}
		notes = append(notes, n)
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nNotification channel at the end of the run:\n%s\n", strings.Join(notes, "\n"))
	}
	if !verbose {
		return nil
	}
	for _, g := range pr.Groups {
		for _, c := range g.Cohorts {
			fmt.Fprintf(w, "\n%s, clients %d-%d: %s (%s)\n", g.Group, c.From+1, c.To, c.Outcome, c.Rule)
			for _, m := range c.Story {
				state := "asleep"
				switch {
				case m.Asleep:
				case m.Cycle.Uncertain:
					state = "uncertain: " + m.Cycle.Why
				case m.Cycle.OK:
					state = "a cycle succeeds: " + m.Cycle.Why
				default:
					state = fmt.Sprintf("a cycle fails in %s: %s", fmtDur(m.Cycle.Cost), m.Cycle.Why)
				}
				fmt.Fprintf(w, "  %7s  %s\n           %s [%s]\n", fmtDur(m.At), m.Change, state, m.Cycle.Rule)
			}
			for _, p := range c.Pushes {
				state := deliveredWord(p.Delivered)
				if p.Uncertain {
					state = "uncertain"
				}
				fmt.Fprintf(w, "  %7s  push: %s (%s)\n", fmtDur(p.At), state, p.Why)
			}
		}
	}
	return nil
}

// Markdown is the prediction as a Markdown table.
func (pr *Prediction) Markdown() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# portlab predict: %s\n\nFrom the scenario alone (no network), for a run of %s.\n\n", pr.Scenario, fmtDur(pr.Duration))
	b.WriteString("| group | clients | predicted | rule | why | notification |\n|---|---|---|---|---|---|\n")
	cell := strings.NewReplacer("|", "\\|", "\n", " ")
	for _, g := range pr.Groups {
		what := g.Predicted
		if what == "split" {
			what = fmt.Sprintf("split: %d managed, %d unmanaged", g.Managed, g.Unmanaged)
		}
		n := g.Notification
		if g.PushDelivered != nil {
			n += "; pushes " + deliveredWord(*g.PushDelivered)
		}
		fmt.Fprintf(&b, "| %s | %d | %s | `%s` | %s | %s |\n", g.Group, g.Count, what, g.Rule, cell.Replace(g.Why), cell.Replace(n))
	}
	return []byte(b.String())
}
