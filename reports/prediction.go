package reports

import (
	"bytes"
	"fmt"
	"strings"
)

// Predicted outcomes of a group (GroupPrediction.Predicted) and measured ones
// (GroupPrediction.Measured).
const (
	OutcomeManaged   = "managed"   // every client managed at the end
	OutcomeUnmanaged = "unmanaged" // every client unmanaged
	OutcomeAsleep    = "asleep"    // every client still asleep
	OutcomeSplit     = "split"     // known parts of the group end differently (the counts say)
	OutcomeUncertain = "uncertain" // the scenario alone does not settle it (Why says why); not compared
	OutcomeMixed     = "mixed"     // measured: neither all one nor all another
)

// GroupPrediction is one group's predicted end state (from the scenario alone, before
// the run), the rule that led to it, and, after a run, what was measured and whether
// the two agree. A disagreement is a portlab bug or a behaviour worth knowing.
type GroupPrediction struct {
	Group     string `json:"group"`
	Count     int    `json:"count"`
	Predicted string `json:"predicted"` // managed, unmanaged, asleep, split, uncertain
	// Expected counts at the end: all of Count in one of them, or the parts of a split.
	Managed   int    `json:"managed"`
	Unmanaged int    `json:"unmanaged"`
	Asleep    int    `json:"asleep"`
	Rule      string `json:"rule"` // the rule that decided (installed-port, firewall-path, ...)
	Why       string `json:"why"`
	// Notification is the channel the group's clients are predicted to keep (tcp 10123,
	// long polling on a port) and whether pushes reach them.
	Notification string `json:"notification,omitempty"`
	// PushDelivered is the prediction for the group's pushes, when it gets any: true
	// when they should reach every client, false when none.
	PushDelivered *bool `json:"push_delivered,omitempty"`
	// Learned is where the group's clients should have their request port from at the
	// end (install, push, ad, dns; never: not the site's port), when every client does.
	Learned string `json:"learned,omitempty"`
	// Measured is filled by a run: managed, unmanaged, asleep or mixed.
	Measured string `json:"measured,omitempty"`
	// Compared: the run judged the prediction (not for uncertain predictions, nor an
	// interrupted run). Agrees then says whether it held; Disagreement says how not.
	Compared     bool   `json:"compared"`
	Agrees       bool   `json:"agrees"`
	Disagreement string `json:"disagreement,omitempty"`
}

// Disagreements lists the groups whose measured outcome contradicts the prediction.
func (r *Result) Disagreements() []GroupPrediction {
	var out []GroupPrediction
	for _, p := range r.Prediction {
		if p.Compared && !p.Agrees {
			out = append(out, p)
		}
	}
	return out
}

// predictionMarkdown is the prediction beside the measurement, one row per group.
func predictionMarkdown(b *bytes.Buffer, r *Result) {
	if len(r.Prediction) == 0 {
		return
	}
	b.WriteString("\n## Prediction vs measurement\n\n")
	b.WriteString("What `portlab predict` worked out from the scenario alone, before the run, and the rule that led to it. ")
	b.WriteString("A disagreement is either a portlab bug or a behaviour worth knowing.\n\n")
	if d := r.Disagreements(); len(d) > 0 {
		fmt.Fprintf(b, "**%d group(s) disagree with the prediction.**\n\n", len(d))
	}
	b.WriteString("| group | predicted | measured | | rule | why |\n|---|---|---|---|---|---|\n")
	for _, p := range r.Prediction {
		fmt.Fprintf(b, "| %s | %s | %s | %s | `%s` | %s |\n", p.Group, predictedText(p), p.Measured, verdictText(p), p.Rule, mdCell(p.Why))
	}
}

// predictedText is a prediction's outcome, with the counts of a split.
func predictedText(p GroupPrediction) string {
	if p.Predicted == OutcomeSplit {
		s := fmt.Sprintf("split: %d managed, %d unmanaged", p.Managed, p.Unmanaged)
		if p.Asleep > 0 {
			s += fmt.Sprintf(", %d asleep", p.Asleep)
		}
		return s
	}
	return p.Predicted
}

// verdictText says whether a group's measurement agrees with its prediction.
func verdictText(p GroupPrediction) string {
	switch {
	case !p.Compared:
		return "not compared"
	case p.Agrees:
		return "agrees"
	}
	return "**DISAGREES**: " + p.Disagreement
}

// mdCell keeps text inside one Markdown table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}
