package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portlab/portlab/plan"
	"github.com/portlab/portlab/reports"
	"github.com/portlab/portlab/scenarios"
	"github.com/spf13/pflag"
)

// maxStartAhead bounds --start-at in the future: a shard waiting longer is a mistake
// (k8s job refuses the same).
const maxStartAhead = 24 * time.Hour

func addShardFlags(f *pflag.FlagSet, fl *runFlags) {
	f.StringVar(&fl.shard, "shard", "", "run shard I of N only (I from 0, as JOB_COMPLETION_INDEX): some MPs with the groups pinned to them; gates are left to portlab merge")
	f.StringVar(&fl.startAt, "start-at", "", "start the load at this RFC 3339 time (a sharded run's common start; default: as soon as the network is up)")
}

// lowerRun lowers the scenario for `portlab run`: the whole of it, or with --shard one
// shard (plan.LowerShard), and reads --start-at. Every error is bad input.
func lowerRun(s *scenarios.Scenario, fl runFlags) (*plan.Plan, *plan.Shard, time.Time, error) {
	var startAt time.Time
	if fl.startAt != "" {
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(fl.startAt))
		if err != nil {
			return nil, nil, time.Time{}, fmt.Errorf("--start-at %q: want an RFC 3339 time such as 2030-01-01T09:00:00Z", clipArg(fl.startAt))
		}
		switch now := time.Now(); {
		case now.Sub(t) > reports.StartTolerance:
			return nil, nil, time.Time{}, fmt.Errorf("--start-at %s is %s in the past: the common start of the shards has gone by; run every shard again with a later one",
				t.UTC().Format(time.RFC3339), now.Sub(t).Round(time.Second))
		case t.Sub(now) > maxStartAhead:
			return nil, nil, time.Time{}, fmt.Errorf("--start-at %s is more than %s ahead", t.UTC().Format(time.RFC3339), maxStartAhead)
		}
		startAt = t
	}
	opt := plan.Options{ClientsPerFleet: fl.clientsPerFleet, SessionsPerWorker: fl.sessionsPerWorker}
	if fl.shard == "" {
		p, err := plan.LowerWith(s, opt)
		return p, nil, startAt, err
	}
	i, n, err := plan.ParseShard(fl.shard)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	p, sh, err := plan.LowerShard(s, i, n, opt)
	if err != nil {
		if errors.Is(err, plan.ErrCannotShard) {
			err = fmt.Errorf("--shard %s: scenario %s %w", fl.shard, s.Name, err)
		}
		return nil, nil, time.Time{}, err
	}
	return p, &sh, startAt, nil
}

func clipArg(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
