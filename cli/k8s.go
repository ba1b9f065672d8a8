package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/portlab/portlab/k8s"
	"github.com/portlab/portlab/plan"
	"github.com/portlab/portlab/reports"
	"github.com/portlab/portlab/scenarios"
	"github.com/spf13/cobra"
)

func newK8sCmd(io streams) *cobra.Command {
	c := &cobra.Command{
		Use:   "k8s",
		Short: "Write Kubernetes manifests that run a scenario as shards on several machines",
		Long: `k8s writes Kubernetes objects for a rehearsal bigger than one machine: the scenario
split into shards (a shard is a set of management points with their clients, about one
MP's 25,000 clients per 2-core node), each a whole portlab network in its own pod, run
by an Indexed Job and merged with portlab merge. It never talks to a cluster itself:
apply what it writes with kubectl. See k8s/README.md for a whole walk-through.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	c.AddCommand(newK8sJobCmd(io))
	return c
}

func newK8sJobCmd(io streams) *cobra.Command {
	var (
		o                       k8s.Options
		out, startAt            string
		nodeSelector            []string
		startDelay, deadlineMgn time.Duration
	)
	c := &cobra.Command{
		Use:   "job SCENARIO --shards N --image IMAGE (--results-pvc CLAIM | --results-upload CMD)",
		Short: "Write an Indexed Job (one pod per shard), its scenario ConfigMap and the merge Job",
		Long: `job writes one multi-document YAML file: a ConfigMap with the scenario (a file's bytes
verbatim, or a built-in's), an Indexed Job whose pod number i runs

  portlab run /scenario/<name>.yaml --shard i/N --start-at T --out /results/shard-i

a merge Job (portlab merge /results/shard-0 ... --out /results/merged) and, with a claim, a
pod to copy the merged result out. The file's header lists the kubectl commands in
order: a Job cannot wait for another, so each step is applied by its label.

Start: every shard applies the site-wide timeline at the same offsets from one common
start T. Pods start at different moments (image pulls), so T is fixed when the file is
written: now + --start-delay (default 2m), or --start-at. Apply the file promptly; a
late file means shards that miss T.

Privilege: a shard builds network namespaces, veths and nftables tables, and writes
sysctls inside them. By default its container runs as uid 0 with only NET_ADMIN,
NET_BIND_SERVICE, NET_RAW, SYS_ADMIN and SYS_RESOURCE, an unconfined AppArmor profile
and the runtime's seccomp profile, and remounts /proc/sys writable before starting
portlab. --privileged runs it as a privileged container instead. Either way the
namespace needs the "privileged" Pod Security level.

Results: --results-pvc names an existing ReadWriteMany claim, mounted at /results in
every pod; or --results-upload runs a shell command after portlab in the same
container (results on an emptyDir; portlab's exit code is kept), with
--results-download to fetch them back for the merge Job. The commands see
PORTLAB_RUN, PORTLAB_RUN_ID, PORTLAB_SHARDS, PORTLAB_SHARD, PORTLAB_RESULTS,
PORTLAB_RESULTS_ROOT and PORTLAB_EXIT.

No shard is retried (backoffLimit 0: a rehearsal reruns as a whole) and none runs
unbounded (activeDeadlineSeconds: start lead + scenario duration + --deadline-margin).`,
		Example: `  portlab k8s job notification-cost --shards 3 --image registry.example.com/portlab:1.0 \
    --results-pvc portlab-results -o job.yaml
  portlab k8s job notification-cost --shards 2 --image registry.example.com/portlab:1.0 \
    --results-pvc portlab-results --namespace rehearsals --node-selector pool=portlab --privileged
  portlab k8s job notification-cost --shards 2 --image registry.example.com/portlab-rclone:1.0 \
    --results-upload 'rclone copy "$PORTLAB_RESULTS" "store:portlab/$PORTLAB_RUN_ID/$(basename "$PORTLAB_RESULTS")"' \
    --results-download 'rclone copy "store:portlab/$PORTLAB_RUN_ID" "$PORTLAB_RESULTS_ROOT"'
  portlab k8s job blocked-443 --shards 1 --image registry.example.com/portlab:1.0 \
    --results-pvc portlab-results --cpu 4 --memory 16Gi \
    --start-at "$(date -u -d '+10 min' +%Y-%m-%dT%H:%M:%SZ)"`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return builtinNames(), cobra.ShellCompDirectiveDefault
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := k8s.ReadScenario(args[0])
			switch {
			case errors.Is(err, scenarios.ErrInvalid):
				printScenarioError(io, err)
				return &ExitError{Code: ExitInvalid, Err: fmt.Errorf("%s is not a valid scenario", args[0])}
			case err != nil:
				return WithCode(ExitInvalid, err)
			}
			o.Scenario = s
			o.Now = time.Now()
			if startAt != "" {
				if cmd.Flags().Changed("start-delay") {
					return WithCode(ExitInvalid, errors.New("--start-at and --start-delay: give one"))
				}
				t, err := time.Parse(time.RFC3339, startAt)
				if err != nil {
					return WithCode(ExitInvalid, fmt.Errorf("--start-at %q: want RFC 3339, such as 2030-01-01T09:00:00Z", startAt))
				}
				o.StartAt = t
			}
			if startDelay <= 0 {
				return WithCode(ExitInvalid, fmt.Errorf("--start-delay %s: give a positive delay, such as 2m", startDelay))
			}
			o.StartDelay = startDelay
			o.DeadlineMargin = deadlineMgn
			if o.NodeSelector, err = k8s.ParseNodeSelector(nodeSelector); err != nil {
				return WithCode(ExitInvalid, err)
			}
			if out != "" && out != "-" {
				o.File = out
			}
			m, err := k8s.Generate(o)
			if err != nil {
				if errors.Is(err, k8s.ErrInvalid) {
					return WithCode(ExitInvalid, err)
				}
				return err
			}
			// The shards will cut the scenario themselves (portlab run --shard): refuse
			// now what they would refuse then.
			if sc, err := scenarios.Parse(args[0], s.Source); err == nil {
				if _, err := plan.Split(sc, o.Shards); err != nil {
					return WithCode(ExitInvalid, fmt.Errorf("--shards %d: %w", o.Shards, err))
				}
			}
			y, err := m.YAML()
			if err != nil {
				return err
			}
			for _, w := range m.Warnings {
				fmt.Fprintln(io.err, "portlab: warning:", w)
			}
			if out == "" || out == "-" {
				_, err = io.out.Write(y)
				return err
			}
			if err := reports.WriteFileAtomic(out, y, 0o644); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			fmt.Fprintf(io.err, "portlab: wrote %s: %s\n", out, m.Summary())
			fmt.Fprintf(io.err, "portlab: apply it before then: kubectl apply -f %s -l %s=%s (the file's header has every step)\n", out, k8s.StepLabel, k8s.StepShards)
			return nil
		},
	}
	f := c.Flags()
	f.IntVar(&o.Shards, "shards", 0, fmt.Sprintf("number of shards, one pod and machine each (1-%d, at most the scenario's management points)", k8s.MaxShards))
	f.StringVar(&o.Image, "image", "", "portlab container image every node pulls (pin a tag or a digest)")
	f.StringVarP(&out, "output", "o", "", "write the manifest to this file (atomically) instead of stdout")
	f.StringVarP(&o.Namespace, "namespace", "n", "", "namespace of every object (default: kubectl's current one)")
	f.StringVar(&o.Name, "name", "", "run name: the Job's name and every object's prefix (default: the scenario's name)")
	f.StringVar(&o.ResultsPVC, "results-pvc", "", "existing ReadWriteMany PersistentVolumeClaim for /results")
	f.StringVar(&o.ResultsUpload, "results-upload", "", "shell command that uploads $PORTLAB_RESULTS after portlab (results on an emptyDir)")
	f.StringVar(&o.ResultsDownload, "results-download", "", "with --results-upload: shell command that fetches every shard into $PORTLAB_RESULTS_ROOT for the merge Job")
	f.DurationVar(&startDelay, "start-delay", k8s.DefaultStartDelay, "common start = now + this (time for every node to pull the image)")
	f.StringVar(&startAt, "start-at", "", "common start as RFC 3339 (instead of --start-delay)")
	f.BoolVar(&o.Privileged, "privileged", false, "run shards as privileged containers instead of with the capabilities they need")
	f.StringArrayVar(&nodeSelector, "node-selector", nil, "KEY=VALUE a node must carry (repeatable; kubernetes.io/os=linux is always added)")
	f.BoolVar(&o.OnePerNode, "one-per-node", true, "never put two shards on one node (required pod anti-affinity)")
	f.StringVar(&o.CPU, "cpu", k8s.DefaultCPU, "CPU request and limit of each shard")
	f.StringVar(&o.Memory, "memory", k8s.DefaultMemory, "memory request and limit of each shard")
	f.DurationVar(&deadlineMgn, "deadline-margin", k8s.DefaultDeadlineMargin, "added to the start lead and the scenario duration for the Job's activeDeadlineSeconds")
	_ = c.MarkFlagRequired("shards")
	_ = c.MarkFlagRequired("image")
	return c
}
