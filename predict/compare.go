package predict

import (
	"fmt"

	"github.com/portlab/portlab/reports"
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
// acknowledged, not delivered means none.
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
				msg := fmt.Sprintf("pushes: predicted %s over %s, measured %d of %d acknowledged", deliveredWord(*p.PushDelivered), p.Notification, v[1], v[0])
				if p.Agrees {
					p.Disagreement = msg
				} else {
					p.Disagreement += "; " + msg
				}
				p.Agrees = false
			}
		}
		out = append(out, p)
	}
	res.Prediction = out
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
