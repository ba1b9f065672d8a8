package k8s

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Labels every object carries; StepLabel separates what is applied when.
const (
	NameLabel = "app.kubernetes.io/name"
	RunLabel  = "portlab.io/run"
	StepLabel = "portlab.io/step"

	StepShards = "shards" // the ConfigMap and the Indexed Job
	StepMerge  = "merge"  // the merge Job
	StepFetch  = "fetch"  // the Pod that holds the claim for kubectl cp

	// IndexEnv is the variable the Job controller fills with a pod's completion index.
	IndexEnv = "JOB_COMPLETION_INDEX"
	// indexAnnotation is where the Job controller writes the index; IndexEnv reads it.
	indexAnnotation = "batch.kubernetes.io/job-completion-index"
)

// Capabilities returns what a shard's container is granted when not privileged, each
// for one thing portlab does (all others are dropped). Checked by running portlab as
// root with exactly this bounding set and /proc/sys read-only, as a container runtime
// sets it up (capabilities_test.go).
func Capabilities() []string { return slices.Clone(shardCapabilities) }

var shardCapabilities = []string{
	"NET_ADMIN",        // links, addresses, routes, nftables tables and net.* sysctls in its namespaces
	"NET_BIND_SERVICE", // the fake MPs listen on 80 and 443 inside their namespaces
	"NET_RAW",          // AF_PACKET: sleeping clients' NICs read frames, capture
	"SYS_ADMIN",        // unshare and setns into network namespaces; remount /proc/sys writable
	"SYS_RESOURCE",     // raise RLIMIT_NOFILE past the container's hard limit (about 20,000 per process needed)
}

// Object is one document of the manifest.
type Object struct {
	Kind, Name, Step string
	v                any
}

// Manifest is what Generate made: the objects in apply order and what to tell the user.
type Manifest struct {
	// Options as normalized (the start time filled in).
	Options Options
	// Objects in the order they are written and applied.
	Objects []Object
	// ShardDeadline is the shard Job's activeDeadlineSeconds.
	ShardDeadline time.Duration
	// RunID names this run's directory on the claim (and is given to the result
	// scripts): <name>/<start time>, so a rerun never mixes with an older one.
	RunID string
	// Warnings are things that will not stop the run but may spoil it.
	Warnings []string
}

// Generate builds the manifest for one sharded rehearsal.
//
// The result scripts (--results-upload, --results-download) run with sh in the portlab
// container, with these variables set:
//
//	PORTLAB_RUN           the run name
//	PORTLAB_RUN_ID        <name>/<start time, 20060102T150405Z>: unique per generated manifest
//	PORTLAB_SHARDS        the number of shards
//	PORTLAB_SHARD         this shard's index, or "merged" in the merge Job
//	PORTLAB_RESULTS       the directory portlab just wrote: /results/shard-<i>, /results/merged
//	PORTLAB_RESULTS_ROOT  /results: the download puts shard-0 ... shard-<N-1> under it
//	PORTLAB_EXIT          portlab's exit code (upload only)
func Generate(o Options) (*Manifest, error) {
	o.Normalize()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	m := &Manifest{
		Options: o,
		RunID:   o.Name + "/" + o.StartAt.Format("20060102T150405Z"),
	}
	lead := o.StartAt.Sub(o.Now)
	m.ShardDeadline = (lead + o.Scenario.Duration + o.DeadlineMargin + time.Second - 1).Truncate(time.Second)
	if w := imageWarning(o.Image); w != "" {
		m.Warnings = append(m.Warnings, w)
	}
	if lead < time.Minute {
		m.Warnings = append(m.Warnings, fmt.Sprintf("the shards start in %s: pods still pulling the image by then start late, and their timeline will not line up", lead.Round(time.Second)))
	}

	m.add("ConfigMap", o.Name+"-scenario", StepShards, m.configMap())
	m.add("Job", o.Name, StepShards, m.shardJob())
	if o.ResultsPVC != "" || o.ResultsDownload != "" {
		m.add("Job", o.Name+"-merge", StepMerge, m.mergeJob())
	}
	if o.ResultsPVC != "" {
		m.add("Pod", o.Name+"-fetch", StepFetch, m.fetchPod())
	}
	return m, nil
}

func (m *Manifest) add(kind, name, step string, v any) {
	m.Objects = append(m.Objects, Object{Kind: kind, Name: name, Step: step, v: v})
}

// YAML writes the header comment (what to run, in order) and every object, as one
// multi-document stream.
func (m *Manifest) YAML() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(m.header())
	for _, obj := range m.Objects {
		y, err := yaml.Marshal(obj.v)
		if err != nil {
			return nil, fmt.Errorf("%s %s: marshal: %w", obj.Kind, obj.Name, err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.Bytes(), nil
}

func (m *Manifest) meta(name, step string) objectMeta {
	return objectMeta{
		Name:      name,
		Namespace: m.Options.Namespace,
		Labels:    m.labels(step),
	}
}

func (m *Manifest) labels(step string) map[string]string {
	return map[string]string{NameLabel: "portlab", RunLabel: m.Options.Name, StepLabel: step}
}

func (m *Manifest) configMap() configMap {
	o := m.Options
	data := map[string]string{o.Scenario.Key(): string(o.Scenario.Source)}
	if o.ResultsUpload != "" {
		data[UploadKey] = script(o.ResultsUpload)
	}
	if o.ResultsDownload != "" {
		data[DownloadKey] = script(o.ResultsDownload)
	}
	return configMap{
		typeMeta: typeMeta{"v1", "ConfigMap"},
		Metadata: m.meta(o.Name+"-scenario", StepShards),
		Data:     data,
	}
}

// script stores a user's command as a file: verbatim, ending in a newline.
func script(cmd string) string {
	if !strings.HasSuffix(cmd, "\n") {
		cmd += "\n"
	}
	return cmd
}

func (m *Manifest) shardJob() job {
	o := m.Options
	n := strconv.Itoa(o.Shards)
	idx := "$(" + IndexEnv + ")"
	args := []string{
		"run", ScenarioDir + "/" + o.Scenario.Key(),
		"--shard", idx + "/" + n,
		"--start-at", o.StartAt.Format(time.RFC3339),
		"--out", ResultsDir + "/shard-" + idx,
		"--log-format", "json",
	}
	env := []envVar{{
		Name:      IndexEnv,
		ValueFrom: &envVarSource{FieldRef: &fieldRef{FieldPath: "metadata.annotations['" + indexAnnotation + "']"}},
	}}
	w := wrapper{remountProcSys: !o.Privileged}
	if o.ResultsUpload != "" {
		w.upload = ScenarioDir + "/" + UploadKey
		env = append(env, m.hookEnv(idx, ResultsDir+"/shard-"+idx)...)
	}
	c := container{
		Name:         "shard",
		Image:        o.Image,
		Env:          env,
		Resources:    m.resources(),
		VolumeMounts: []volumeMount{{Name: "scenario", MountPath: ScenarioDir, ReadOnly: true}, m.resultsMount(false)},
	}
	c.Command, c.Args = command(w, "portlab-shard", args)
	if o.Privileged {
		// Privileged: every capability, /proc/sys writable, no AppArmor or seccomp
		// confinement; nothing to remount, so portlab runs without the shell.
		c.SecurityContext = &securityContext{Privileged: ptr(true), RunAsUser: ptr(int64(0))}
	} else {
		c.SecurityContext = &securityContext{
			RunAsUser:    ptr(int64(0)),
			Capabilities: &capabilities{Drop: []string{"ALL"}, Add: Capabilities()},
			// RuntimeDefault allows unshare, setns and mount to a holder of CAP_SYS_ADMIN.
			SeccompProfile: &profile{Type: "RuntimeDefault"},
			// The runtimes' default AppArmor profile denies mount and any write under
			// /proc/sys/net; on nodes without AppArmor this changes nothing.
			AppArmorProfile: &profile{Type: "Unconfined"},
		}
	}
	spec := m.podSpec(c)
	// A shard interrupted by its deadline or a deletion writes its results marked
	// interrupted (and uploads them) before it is killed.
	spec.TerminationGracePeriodSeconds = 120
	if o.OnePerNode {
		sel := map[string]string{RunLabel: o.Name, StepLabel: StepShards}
		spec.Affinity = &affinity{PodAntiAffinity: &podAntiAffinity{Required: []podAffinityTerm{{
			LabelSelector: labelSelector{MatchLabels: sel},
			TopologyKey:   "kubernetes.io/hostname",
		}}}}
	}
	meta := m.meta(o.Name, StepShards)
	meta.Annotations = map[string]string{
		"portlab.io/scenario": o.Scenario.Name,
		"portlab.io/shards":   n,
		"portlab.io/start-at": o.StartAt.Format(time.RFC3339),
		"portlab.io/run-id":   m.RunID,
	}
	return job{
		typeMeta: typeMeta{"batch/v1", "Job"},
		Metadata: meta,
		Spec: jobSpec{
			CompletionMode: "Indexed",
			Completions:    o.Shards,
			Parallelism:    o.Shards,
			// A shard that failed is not run again: its start time has passed, and a
			// rehearsal is rerun as a whole.
			BackoffLimit:          0,
			ActiveDeadlineSeconds: int64(m.ShardDeadline / time.Second),
			PodFailurePolicy:      failJob("shard"),
			Template:              podTemplate{Metadata: objectMeta{Labels: m.labels(StepShards)}, Spec: spec},
		},
	}
}

// failJob is a pod failure policy that ends the Job at the first failure, as backoffLimit
// 0 does, but names the cause in the Job's Failed condition: the container's exit code
// (1 a gate failed, 2 invalid input, 3 the node cannot run it, 5 the run failed), or
// the pod's eviction or preemption.
func failJob(containerName string) *podFailurePolicy {
	return &podFailurePolicy{Rules: []podFailurePolicyRule{
		{Action: "FailJob", OnExitCodes: &onExitCodes{ContainerName: containerName, Operator: "NotIn", Values: []int32{0}}},
		{Action: "FailJob", OnPodConditions: []onPodConditionsPattern{{Type: "DisruptionTarget", Status: "True"}}},
	}}
}

func (m *Manifest) mergeJob() job {
	o := m.Options
	args := []string{"merge"}
	for i := range o.Shards {
		args = append(args, fmt.Sprintf("%s/shard-%d", ResultsDir, i))
	}
	args = append(args, "--out", ResultsDir+"/merged")
	var w wrapper
	c := container{
		Name:            "merge",
		Image:           o.Image,
		Resources:       m.resources(),
		VolumeMounts:    []volumeMount{m.resultsMount(false)},
		SecurityContext: unprivileged(),
	}
	if o.ResultsDownload != "" {
		w.download = ScenarioDir + "/" + DownloadKey
		w.upload = ScenarioDir + "/" + UploadKey
		c.Env = m.hookEnv("merged", ResultsDir+"/merged")
		c.VolumeMounts = append([]volumeMount{{Name: "scenario", MountPath: ScenarioDir, ReadOnly: true}}, c.VolumeMounts...)
	}
	c.Command, c.Args = command(w, "portlab-merge", args)
	spec := m.podSpec(c)
	return job{
		typeMeta: typeMeta{"batch/v1", "Job"},
		Metadata: m.meta(o.Name+"-merge", StepMerge),
		Spec: jobSpec{
			Completions:           1,
			Parallelism:           1,
			BackoffLimit:          0,
			ActiveDeadlineSeconds: int64(MergeDeadline / time.Second),
			PodFailurePolicy:      failJob("merge"),
			Template:              podTemplate{Metadata: objectMeta{Labels: m.labels(StepMerge)}, Spec: spec},
		},
	}
}

func (m *Manifest) fetchPod() pod {
	o := m.Options
	c := container{
		Name:            "fetch",
		Image:           o.Image,
		Command:         []string{"sleep", "3600"},
		Resources:       &resources{Requests: map[string]string{"cpu": "10m", "memory": "32Mi"}, Limits: map[string]string{"memory": "256Mi"}},
		VolumeMounts:    []volumeMount{m.resultsMount(true)},
		SecurityContext: unprivileged(),
	}
	spec := m.podSpec(c)
	return pod{
		typeMeta: typeMeta{"v1", "Pod"},
		Metadata: m.meta(o.Name+"-fetch", StepFetch),
		Spec:     spec,
	}
}

// command returns a container's command and args: portlab itself, or the wrapper
// shell with portlab's arguments after it (arg0 names the wrapper in ps and errors).
func command(w wrapper, arg0 string, args []string) (cmd, outArgs []string) {
	if !w.needed() {
		return []string{"portlab"}, args
	}
	return []string{"/bin/sh", "-c", w.script(), arg0}, args
}

func unprivileged() *securityContext {
	return &securityContext{
		// The shards write the results as root; reading and adding to them needs no
		// capability beyond being their owner.
		RunAsUser:                ptr(int64(0)),
		AllowPrivilegeEscalation: ptr(false),
		Capabilities:             &capabilities{Drop: []string{"ALL"}},
		SeccompProfile:           &profile{Type: "RuntimeDefault"},
	}
}

func (m *Manifest) hookEnv(shard, results string) []envVar {
	o := m.Options
	return []envVar{
		{Name: "PORTLAB_RUN", Value: o.Name},
		{Name: "PORTLAB_RUN_ID", Value: m.RunID},
		{Name: "PORTLAB_SHARDS", Value: strconv.Itoa(o.Shards)},
		{Name: "PORTLAB_SHARD", Value: shard},
		{Name: "PORTLAB_RESULTS", Value: results},
		{Name: "PORTLAB_RESULTS_ROOT", Value: ResultsDir},
	}
}

func (m *Manifest) resources() *resources {
	// Limits equal to requests: Guaranteed QoS, the last class evicted, and exclusive
	// cores where the kubelet's static CPU manager is on. Throttling at the CPU limit
	// shows up in the result as late starts (late_fraction), not hidden.
	r := map[string]string{"cpu": m.Options.CPU, "memory": m.Options.Memory}
	l := map[string]string{"cpu": m.Options.CPU, "memory": m.Options.Memory}
	return &resources{Requests: r, Limits: l}
}

// resultsMount mounts the claim's directory for this run (RunID), or the emptyDir.
func (m *Manifest) resultsMount(readOnly bool) volumeMount {
	v := volumeMount{Name: "results", MountPath: ResultsDir, ReadOnly: readOnly}
	if m.Options.ResultsPVC != "" {
		v.SubPath = m.RunID
	}
	return v
}

func (m *Manifest) podSpec(c container) podSpec {
	o := m.Options
	sel := map[string]string{"kubernetes.io/os": "linux"}
	for k, v := range o.NodeSelector {
		sel[k] = v
	}
	var vols []volume
	for _, vm := range c.VolumeMounts {
		switch vm.Name {
		case "scenario":
			vols = append(vols, volume{Name: "scenario", ConfigMap: &configMapVolume{Name: o.Name + "-scenario"}})
		case "results":
			if o.ResultsPVC != "" {
				vols = append(vols, volume{Name: "results", PersistentVolumeClaim: &claimVolume{ClaimName: o.ResultsPVC, ReadOnly: vm.ReadOnly}})
			} else {
				vols = append(vols, volume{Name: "results", EmptyDir: &emptyDirVolume{}})
			}
		}
	}
	sort.Slice(vols, func(i, j int) bool { return vols[i].Name < vols[j].Name })
	return podSpec{
		RestartPolicy: "Never",
		// Nothing in these pods talks to the API server.
		AutomountServiceAccountToken: ptr(false),
		EnableServiceLinks:           ptr(false),
		NodeSelector:                 sel,
		Containers:                   []container{c},
		Volumes:                      vols,
	}
}

// header is the comment at the top of the manifest: what it runs and the commands, in
// order, with this run's names and timeouts.
func (m *Manifest) header() string {
	o := m.Options
	ns := ""
	if o.Namespace != "" {
		ns = " -n " + o.Namespace
	}
	var b strings.Builder
	p := func(format string, args ...any) {
		b.WriteString(strings.TrimRight(fmt.Sprintf("# "+format, args...), " ") + "\n")
	}
	p("portlab k8s job: scenario %s as %d shard(s), run %s.", o.Scenario.Name, o.Shards, o.Name)
	p("Every shard starts its timeline at %s (--start-at): apply step 1 before", o.StartAt.Format(time.RFC3339))
	p("then, leaving time for image pulls, or generate this file again.")
	p("")
	if o.ResultsPVC != "" {
		p("1. the shards (claim %s must exist, ReadWriteMany; results under %s/ on it):", o.ResultsPVC, m.RunID)
	} else {
		p("1. the shards (each uploads its results with the results-upload script):")
	}
	p("   kubectl apply -f %s -l %s=%s", o.File, StepLabel, StepShards)
	p("   kubectl wait%s --for=condition=complete job/%s --timeout=%ds", ns, o.Name, int64(m.ShardDeadline/time.Second))
	p("   a failed shard fails the Job at once: kubectl describe%s job/%s", ns, o.Name)
	switch {
	case o.ResultsPVC != "" || o.ResultsDownload != "":
		p("2. the merge, once every shard is complete:")
		p("   kubectl apply -f %s -l %s=%s", o.File, StepLabel, StepMerge)
		p("   kubectl wait%s --for=condition=complete job/%s-merge --timeout=%ds", ns, o.Name, int64(MergeDeadline/time.Second))
		p("   exit 1 in kubectl logs%s job/%s-merge means a gate failed", ns, o.Name)
	default:
		p("2. the merge: fetch every shard-<i> directory that was uploaded, then")
		p("   portlab merge shard-0 ... shard-%d --out merged", o.Shards-1)
	}
	switch {
	case o.ResultsPVC != "":
		p("3. the merged result:")
		p("   kubectl apply -f %s -l %s=%s", o.File, StepLabel, StepFetch)
		p("   kubectl wait%s --for=condition=ready pod/%s-fetch", ns, o.Name)
		p("   kubectl cp%s %s-fetch:%s/merged ./%s-merged", ns, o.Name, ResultsDir, o.Name)
		p("   portlab report ./%s-merged/result.json --format html -o report.html", o.Name)
	case o.ResultsDownload != "":
		p("3. the merged result was uploaded by the results-upload script (PORTLAB_SHARD=merged).")
	default:
		p("3. portlab report merged/result.json --format html -o report.html")
	}
	p("4. clean up (also before running it again: a Job cannot be changed):")
	p("   kubectl delete -f %s --ignore-not-found", o.File)
	return b.String()
}

// Summary is a one-line description of the manifest for the terminal.
func (m *Manifest) Summary() string {
	var kinds []string
	for _, obj := range m.Objects {
		kinds = append(kinds, obj.Kind+" "+obj.Name)
	}
	return fmt.Sprintf("%d shard(s) of %s start at %s; %s", m.Options.Shards, m.Options.Scenario.Name,
		m.Options.StartAt.Format(time.RFC3339), strings.Join(kinds, ", "))
}
