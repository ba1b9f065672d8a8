package predict

import (
	"fmt"
	"strings"

	"github.com/portlab/portlab/reports"
	"github.com/portlab/portlab/scenarios"
)

// Measured classifies a group's measured end state: managed, unmanaged or asleep when
// every client is, else mixed.
func Measured(g reports.GroupOutcome) string {
	switch {
	case g.Count > 0 && g.Managed == g.Count:
		return reports.OutcomeManaged
	case g.Count > 0 && g.Unmanaged == g.Count:
		return reports.OutcomeUnmanaged
	case g.Count > 0 && g.Asleep == g.Count:
		return reports.OutcomeAsleep
	}
	return reports.OutcomeMixed
}

// Compare puts the prediction beside a run's measurement in the result
// (res.Prediction): each group's measured outcome, and whether it agrees. A split
// agrees when each part's count is within 2% of the group (at least one client). An
// uncertain prediction, or any prediction of an interrupted run (it did not last the
// duration the prediction is for), is shown but not compared. Pushes are compared
// where both the prediction and the run have them: delivered means at least 90%
// acknowledged, not delivered means none. So are, for a group predicted managed, the
// notification channel its clients hold at the end (online over the notification port,
// or long polling), and, where the run counts it, where the clients had their request
// port from: at least 90% as predicted.
func Compare(pred []reports.GroupPrediction, res *reports.Result) {
	byGroup := map[string]reports.GroupOutcome{}
	for _, g := range res.Groups {
		byGroup[g.Group] = g
	}
	push := map[string][2]int{}
	for _, p := range res.Push {
		v := push[p.Group]
		push[p.Group] = [2]int{v[0] + p.Targeted, v[1] + p.Delivered}
	}
	out := make([]reports.GroupPrediction, 0, len(pred))
	for _, p := range pred {
		g, ok := byGroup[p.Group]
		if !ok {
			out = append(out, p)
			continue
		}
		p.Measured = Measured(g)
		p.Compared = p.Predicted != reports.OutcomeUncertain && res.Status != reports.StatusInterrupted
		if !p.Compared {
			out = append(out, p)
			continue
		}
		p.Agrees = true
		switch p.Predicted {
		case reports.OutcomeSplit:
			tol := max(1, g.Count/50)
			if abs(g.Managed-p.Managed) > tol || abs(g.Unmanaged-p.Unmanaged) > tol || abs(g.Asleep-p.Asleep) > tol {
				p.Agrees = false
				p.Disagreement = fmt.Sprintf("predicted %d managed, %d unmanaged, %d asleep; measured %d, %d, %d (rule %s)",
					p.Managed, p.Unmanaged, p.Asleep, g.Managed, g.Unmanaged, g.Asleep, p.Rule)
			}
		default:
			if p.Measured != p.Predicted {
				p.Agrees = false
				p.Disagreement = fmt.Sprintf("predicted %s (rule %s), measured %s: %d managed, %d unmanaged, %d asleep of %d",
					p.Predicted, p.Rule, p.Measured, g.Managed, g.Unmanaged, g.Asleep, g.Count)
			}
		}
		if v, ok := push[p.Group]; ok && p.PushDelivered != nil && v[0] > 0 {
			delivered := float64(v[1]) >= 0.9*float64(v[0])
			if *p.PushDelivered != delivered || (!*p.PushDelivered && v[1] > 0) {
				note(&p, fmt.Sprintf("pushes: predicted %s over %s, measured %d of %d acknowledged", deliveredWord(*p.PushDelivered), p.Notification, v[1], v[0]))
			}
		}
		note(&p, channelDisagreement(p, g))
		note(&p, learnedDisagreement(p, g))
		out = append(out, p)
	}
	res.Prediction = out
}

// note records one more way the measurement contradicts the prediction ("" none).
func note(p *reports.GroupPrediction, msg string) {
	if msg == "" {
		return
	}
	if p.Agrees {
		p.Disagreement = msg
	} else {
		p.Disagreement += "; " + msg
	}
	p.Agrees = false
}

// channelDisagreement compares the notification channel predicted for a group that
// ends managed with the channels its clients hold at the end (the console's online
// status: a session on the notification port): at least 90% on the predicted
// transport, or none up when no channel is predicted.
func channelDisagreement(p reports.GroupPrediction, g reports.GroupOutcome) string {
	want := channelTransport(p.Notification)
	if want == "" || p.Predicted != reports.OutcomeManaged {
		return ""
	}
	up := 0
	for _, n := range g.Notification {
		up += n
	}
	got := g.Notification[want]
	switch {
	case want == "none" && up == 0:
		return ""
	case want != "none" && float64(got) >= 0.9*float64(g.Count):
		return ""
	}
	return fmt.Sprintf("notification: predicted %s, measured %s", p.Notification, channelCounts(g))
}

// channelTransport is the transport of a predicted channel as the run counts it: tcp
// (online on the notification port), http or https (long polling), none; "" when the
// prediction has no single channel.
func channelTransport(desc string) string {
	switch {
	case desc == "" || strings.Contains(desc, " | "):
		return ""
	case strings.HasPrefix(desc, "tcp "):
		return "tcp"
	case strings.HasPrefix(desc, "long polling https:"):
		return "https"
	case strings.HasPrefix(desc, "long polling http:"):
		return "http"
	case strings.HasPrefix(desc, "none"):
		return "none"
	}
	return ""
}

func channelCounts(g reports.GroupOutcome) string {
	var parts []string
	for _, t := range []string{"tcp", "http", "https"} {
		if n := g.Notification[t]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d on %s", n, t))
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("no channel up on any of %d", g.Count)
	}
	return strings.Join(parts, ", ") + fmt.Sprintf(" of %d", g.Count)
}

// learnedDisagreement compares where the group's clients were predicted to have their
// port from with where they had it at the end: at least 90% from the predicted source.
func learnedDisagreement(p reports.GroupPrediction, g reports.GroupOutcome) string {
	if p.Learned == "" || g.Location == nil || g.Count == 0 {
		return ""
	}
	if float64(g.Location.Learned[p.Learned]) >= 0.9*float64(g.Count) {
		return ""
	}
	var parts []string
	for _, s := range scenarios.LearnedSource("").Values() {
		if n := g.Location.Learned[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, n))
		}
	}
	return fmt.Sprintf("port source: predicted %s, measured %s", p.Learned, strings.Join(parts, ", "))
}

func deliveredWord(b bool) string {
	if b {
		return "delivered"
	}
	return "not delivered"
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
