package k8s

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// now is the fixed clock of every test: the start is now + 2m.
var now = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

const testImage = "registry.example.com/portlab:1.0"

// baseOptions: the built-in with five MPs, as three shards.
func baseOptions(t testing.TB) Options {
	t.Helper()
	s, err := ReadScenario("notification-cost")
	if err != nil {
		t.Fatal(err)
	}
	return Options{Scenario: s, Shards: 3, Image: testImage, Now: now, OnePerNode: true}
}

// modes are the ways results leave the shards, and privilege.
var modes = []struct {
	name string
	set  func(*Options)
}{
	{"pvc", func(o *Options) { o.ResultsPVC = "portlab-results" }},
	{"pvc-privileged", func(o *Options) { o.ResultsPVC = "portlab-results"; o.Privileged = true }},
	{"upload", func(o *Options) {
		o.ResultsUpload = `rclone copy "$PORTLAB_RESULTS" "store:portlab/$PORTLAB_RUN_ID/shard-$PORTLAB_SHARD"`
	}},
	{"upload-download", func(o *Options) {
		o.ResultsUpload = `rclone copy "$PORTLAB_RESULTS" "store:portlab/$PORTLAB_RUN_ID/$(basename "$PORTLAB_RESULTS")"`
		o.ResultsDownload = `rclone copy "store:portlab/$PORTLAB_RUN_ID" "$PORTLAB_RESULTS_ROOT"`
		o.Namespace = "rehearsals"
	}},
}

// decoded is one manifest decoded strictly into the real API types.
type decoded struct {
	configMap  *corev1.ConfigMap
	shards     *batchv1.Job
	merge      *batchv1.Job
	fetch      *corev1.Pod
	raw        []byte
	kindsInOrd []string
}

func generate(t *testing.T, o Options) (*Manifest, decoded) {
	t.Helper()
	m, err := Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	y, err := m.YAML()
	if err != nil {
		t.Fatal(err)
	}
	return m, decode(t, y)
}

// decode splits the stream and unmarshals every document strictly (unknown or
// duplicate fields are errors) into the type its kind names.
func decode(t *testing.T, y []byte) decoded {
	t.Helper()
	d := decoded{raw: y}
	for i, doc := range splitDocuments(y) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		d.kindsInOrd = append(d.kindsInOrd, tm.Kind)
		var target any
		switch tm.APIVersion + " " + tm.Kind {
		case "v1 ConfigMap":
			d.configMap = new(corev1.ConfigMap)
			target = d.configMap
		case "batch/v1 Job":
			j := new(batchv1.Job)
			target = j
			if d.shards == nil {
				d.shards = j
			} else {
				d.merge = j
			}
		case "v1 Pod":
			d.fetch = new(corev1.Pod)
			target = d.fetch
		default:
			t.Fatalf("document %d: unexpected %s %s", i, tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, target); err != nil {
			t.Fatalf("document %d (%s): strict decode: %v\n%s", i, tm.Kind, err, doc)
		}
	}
	return d
}

func splitDocuments(y []byte) [][]byte {
	var docs [][]byte
	for _, part := range bytes.Split(y, []byte("\n---\n")) {
		if len(bytes.TrimSpace(stripComments(part))) > 0 {
			docs = append(docs, part)
		}
	}
	return docs
}

func stripComments(b []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) && !bytes.Equal(bytes.TrimSpace(l), []byte("---")) {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

// expand does what kubelet does to command, args and env values: $(NAME) becomes the
// variable's value when it exists, $$ becomes $.
func expand(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := env[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func TestManifestDecodesIntoAPITypes(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			o := baseOptions(t)
			mode.set(&o)
			m, d := generate(t, o)
			pvc := o.ResultsPVC != ""
			merges := pvc || o.ResultsDownload != ""

			want := []string{"ConfigMap", "Job"}
			if merges {
				want = append(want, "Job")
			}
			if pvc {
				want = append(want, "Pod")
			}
			if !slices.Equal(d.kindsInOrd, want) {
				t.Fatalf("documents %v, want %v", d.kindsInOrd, want)
			}
			checkShardJob(t, o, m, d)
			checkConfigMap(t, o, d)
			if merges {
				checkMergeJob(t, o, d)
			}
			if pvc {
				checkFetchPod(t, o, d)
			}
			checkNames(t, d)
		})
	}
}

func checkShardJob(t *testing.T, o Options, m *Manifest, d decoded) {
	t.Helper()
	j := d.shards
	if j.Name != "notification-cost" || j.Namespace != o.Namespace {
		t.Errorf("job %s/%s", j.Namespace, j.Name)
	}
	s := j.Spec
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("completionMode %v, want Indexed", s.CompletionMode)
	}
	if s.Completions == nil || *s.Completions != 3 || s.Parallelism == nil || *s.Parallelism != 3 {
		t.Errorf("completions %v parallelism %v, want 3 and 3", s.Completions, s.Parallelism)
	}
	if s.BackoffLimit == nil || *s.BackoffLimit != 0 {
		t.Errorf("backoffLimit %v, want 0 (present, not defaulted to 6)", s.BackoffLimit)
	}
	// The deadline is the start lead, the scenario's duration and the 10m margin: bounded.
	wantDeadline := int64((2*time.Minute + o.Scenario.Duration + 10*time.Minute) / time.Second)
	if s.ActiveDeadlineSeconds == nil || *s.ActiveDeadlineSeconds != wantDeadline {
		t.Errorf("activeDeadlineSeconds %v, want %d", s.ActiveDeadlineSeconds, wantDeadline)
	}
	if m.ShardDeadline != time.Duration(wantDeadline)*time.Second {
		t.Errorf("ShardDeadline %s", m.ShardDeadline)
	}
	checkFailurePolicy(t, s, "shard")
	if got := j.Labels; got[NameLabel] != "portlab" || got[RunLabel] != "notification-cost" || got[StepLabel] != StepShards {
		t.Errorf("job labels %v", got)
	}
	if got := s.Template.Labels; got[NameLabel] != "portlab" || got[RunLabel] != "notification-cost" {
		t.Errorf("pod labels %v", got)
	}

	ps := s.Template.Spec
	if ps.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %s: a pod failure policy needs Never", ps.RestartPolicy)
	}
	if ps.NodeSelector["kubernetes.io/os"] != "linux" {
		t.Errorf("nodeSelector %v", ps.NodeSelector)
	}
	if a := ps.Affinity; a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 ||
		a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey != "kubernetes.io/hostname" {
		t.Errorf("one shard per node: affinity %+v", a)
	} else {
		// The anti-affinity selector must match the shards' own pod labels.
		sel := a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].LabelSelector.MatchLabels
		for k, v := range sel {
			if s.Template.Labels[k] != v {
				t.Errorf("anti-affinity selects %s=%s, pods have %v", k, v, s.Template.Labels)
			}
		}
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("%d containers", len(ps.Containers))
	}
	c := ps.Containers[0]
	if c.Image != testImage {
		t.Errorf("image %s", c.Image)
	}

	// The index: the env var reads the Job controller's annotation, the args use it.
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	idx, ok := env[IndexEnv]
	if !ok || idx.ValueFrom == nil || idx.ValueFrom.FieldRef == nil ||
		idx.ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
		t.Errorf("env %s = %+v", IndexEnv, idx)
	}
	args := strings.Join(c.Args, " ")
	for _, want := range []string{
		"run /scenario/notification-cost.yaml",
		"--shard $(JOB_COMPLETION_INDEX)/3",
		"--start-at 2026-05-04T10:02:00Z",
		"--out /results/shard-$(JOB_COMPLETION_INDEX)",
		"--log-format json",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	// After kubelet's expansion in the pod with index 2:
	var expanded []string
	for _, a := range c.Args {
		expanded = append(expanded, expand(a, map[string]string{IndexEnv: "2"}))
	}
	if got := strings.Join(expanded, " "); !strings.Contains(got, "--shard 2/3 ") || !strings.Contains(got, "--out /results/shard-2 ") {
		t.Errorf("expanded args %q", got)
	}
	// Whatever runs portlab, the script before the args must survive kubelet's expansion
	// unchanged.
	for _, part := range c.Command {
		if strings.Contains(part, "$(") || strings.Contains(part, "$$") {
			t.Errorf("command part would be rewritten by kubelet: %q", part)
		}
	}
	switch {
	case o.Privileged && o.ResultsUpload == "":
		if !slices.Equal(c.Command, []string{"portlab"}) {
			t.Errorf("privileged, no upload: command %q, want portlab itself", c.Command)
		}
	default:
		if len(c.Command) != 4 || c.Command[0] != "/bin/sh" || c.Command[1] != "-c" {
			t.Errorf("command %q, want the wrapper shell", c.Command)
		} else if !strings.Contains(c.Command[2], `portlab "$@"`) {
			t.Errorf("wrapper does not run portlab with the args:\n%s", c.Command[2])
		}
	}

	// Privilege.
	sc := c.SecurityContext
	if sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 0 {
		t.Fatalf("securityContext %+v: runAsUser 0 wanted", sc)
	}
	if o.Privileged {
		if sc.Privileged == nil || !*sc.Privileged {
			t.Errorf("--privileged: privileged not set: %+v", sc)
		}
		if sc.Capabilities != nil {
			t.Errorf("--privileged: capabilities %+v as well", sc.Capabilities)
		}
	} else {
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("privileged without --privileged")
		}
		if sc.Capabilities == nil {
			t.Fatal("no capabilities")
		}
		for _, want := range []corev1.Capability{"NET_ADMIN", "SYS_ADMIN", "NET_RAW", "NET_BIND_SERVICE"} {
			if !slices.Contains(sc.Capabilities.Add, want) {
				t.Errorf("capabilities.add %v lacks %s", sc.Capabilities.Add, want)
			}
		}
		if !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("capabilities.drop %v, want ALL", sc.Capabilities.Drop)
		}
		// API validation refuses allowPrivilegeEscalation=false with CAP_SYS_ADMIN.
		if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
			t.Error("allowPrivilegeEscalation false with SYS_ADMIN: the API server refuses it")
		}
		if sc.AppArmorProfile == nil || sc.AppArmorProfile.Type != corev1.AppArmorProfileTypeUnconfined {
			t.Errorf("appArmorProfile %+v: the runtime default denies mount and /proc/sys/net writes", sc.AppArmorProfile)
		}
		if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("seccompProfile %+v", sc.SeccompProfile)
		}
		if !strings.Contains(c.Command[2], "mount -o remount,rw,bind /proc/sys") {
			t.Errorf("capability mode must make /proc/sys writable:\n%s", c.Command[2])
		}
	}

	// Resources: requests and limits from the flags.
	for name, rl := range map[string]corev1.ResourceList{"requests": c.Resources.Requests, "limits": c.Resources.Limits} {
		if q := rl[corev1.ResourceCPU]; q.Cmp(resource.MustParse("2")) != 0 {
			t.Errorf("%s cpu %s", name, q.String())
		}
		if q := rl[corev1.ResourceMemory]; q.Cmp(resource.MustParse("8Gi")) != 0 {
			t.Errorf("%s memory %s", name, q.String())
		}
	}

	// Mounts: the scenario where the args point, the results where --out points.
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.Name] = vm
	}
	if vm := mounts["scenario"]; vm.MountPath != "/scenario" || !vm.ReadOnly {
		t.Errorf("scenario mount %+v", vm)
	}
	// The file portlab run is given is the ConfigMap's scenario key under that mount.
	if p := path.Join(mounts["scenario"].MountPath, o.Scenario.Key()); len(c.Args) < 2 || c.Args[1] != p || d.configMap.Data[o.Scenario.Key()] == "" {
		t.Errorf("portlab run %v: the scenario is %s in the ConfigMap (keys %v)", c.Args, p, keys(d.configMap.Data))
	}
	if vm := mounts["results"]; vm.MountPath != "/results" || vm.ReadOnly {
		t.Errorf("results mount %+v", vm)
	}
	vols := volumes(ps)
	if v := vols["scenario"]; v.ConfigMap == nil || v.ConfigMap.Name != d.configMap.Name {
		t.Errorf("scenario volume %+v, ConfigMap is %s", v, d.configMap.Name)
	}
	if o.ResultsPVC != "" {
		v := vols["results"]
		if v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != o.ResultsPVC {
			t.Errorf("results volume %+v, want claim %s", v, o.ResultsPVC)
		}
		if mounts["results"].SubPath != m.RunID || m.RunID != "notification-cost/20260504T100200Z" {
			t.Errorf("results subPath %q, run ID %q", mounts["results"].SubPath, m.RunID)
		}
	} else {
		if v := vols["results"]; v.EmptyDir == nil {
			t.Errorf("results volume %+v, want emptyDir", v)
		}
		if !strings.Contains(c.Command[2], "sh /scenario/"+UploadKey) {
			t.Errorf("upload script not run:\n%s", c.Command[2])
		}
		if e := env["PORTLAB_RESULTS"]; expand(e.Value, map[string]string{IndexEnv: "1"}) != "/results/shard-1" {
			t.Errorf("PORTLAB_RESULTS %q", e.Value)
		}
	}
}

func checkFailurePolicy(t *testing.T, s batchv1.JobSpec, containerName string) {
	t.Helper()
	p := s.PodFailurePolicy
	if p == nil || len(p.Rules) != 2 {
		t.Fatalf("podFailurePolicy %+v", p)
	}
	r := p.Rules[0]
	if r.Action != batchv1.PodFailurePolicyActionFailJob || r.OnExitCodes == nil || r.OnExitCodes.ContainerName == nil ||
		*r.OnExitCodes.ContainerName != containerName || r.OnExitCodes.Operator != batchv1.PodFailurePolicyOnExitCodesOpNotIn ||
		!slices.Equal(r.OnExitCodes.Values, []int32{0}) {
		t.Errorf("exit code rule %+v", r)
	}
	if r := p.Rules[1]; r.Action != batchv1.PodFailurePolicyActionFailJob || len(r.OnPodConditions) != 1 ||
		r.OnPodConditions[0].Type != corev1.DisruptionTarget || r.OnPodConditions[0].Status != corev1.ConditionTrue {
		t.Errorf("disruption rule %+v", r)
	}
	if s.Template.Spec.Containers[0].Name != containerName {
		t.Errorf("rule names container %s, pod has %s", containerName, s.Template.Spec.Containers[0].Name)
	}
}

func checkConfigMap(t *testing.T, o Options, d decoded) {
	t.Helper()
	cm := d.configMap
	if cm.Name != "notification-cost-scenario" || cm.Labels[StepLabel] != StepShards {
		t.Errorf("configmap %s %v", cm.Name, cm.Labels)
	}
	if got := cm.Data["notification-cost.yaml"]; got != string(o.Scenario.Source) {
		t.Errorf("configmap holds %d bytes, not the scenario's %d verbatim", len(got), len(o.Scenario.Source))
	}
	if o.ResultsUpload != "" && cm.Data[UploadKey] != o.ResultsUpload+"\n" {
		t.Errorf("upload script %q", cm.Data[UploadKey])
	}
	if o.ResultsDownload != "" && cm.Data[DownloadKey] != o.ResultsDownload+"\n" {
		t.Errorf("download script %q", cm.Data[DownloadKey])
	}
}

func checkMergeJob(t *testing.T, o Options, d decoded) {
	t.Helper()
	j := d.merge
	if j.Name != "notification-cost-merge" || j.Labels[StepLabel] != StepMerge {
		t.Errorf("merge job %s %v", j.Name, j.Labels)
	}
	if *j.Spec.Completions != 1 || *j.Spec.Parallelism != 1 || *j.Spec.BackoffLimit != 0 {
		t.Errorf("merge completions %d parallelism %d backoffLimit %d", *j.Spec.Completions, *j.Spec.Parallelism, *j.Spec.BackoffLimit)
	}
	if j.Spec.ActiveDeadlineSeconds == nil || *j.Spec.ActiveDeadlineSeconds > 3600 {
		t.Errorf("merge deadline %v", j.Spec.ActiveDeadlineSeconds)
	}
	checkFailurePolicy(t, j.Spec, "merge")
	c := j.Spec.Template.Spec.Containers[0]
	wantArgs := []string{"merge", "/results/shard-0", "/results/shard-1", "/results/shard-2", "--out", "/results/merged"}
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("merge args %q, want %q", c.Args, wantArgs)
	}
	if c.Image != d.shards.Spec.Template.Spec.Containers[0].Image {
		t.Errorf("merge image %s differs from the shards'", c.Image)
	}
	// The same volume, mounted the same way, as the shards.
	shardVols, mergeVols := volumes(d.shards.Spec.Template.Spec), volumes(j.Spec.Template.Spec)
	if fmt.Sprint(shardVols["results"]) != fmt.Sprint(mergeVols["results"]) {
		t.Errorf("merge results volume %+v, shards' %+v", mergeVols["results"], shardVols["results"])
	}
	if sm, mm := mountOf(d.shards.Spec.Template.Spec.Containers[0], "results"), mountOf(c, "results"); fmt.Sprint(sm) != fmt.Sprint(mm) {
		t.Errorf("merge mounts results as %+v, shards as %+v", mm, sm)
	}
	if o.ResultsPVC != "" {
		if !slices.Equal(c.Command, []string{"portlab"}) {
			t.Errorf("merge command %q", c.Command)
		}
	} else if len(c.Command) != 4 || !strings.Contains(c.Command[2], "sh /scenario/"+DownloadKey) || !strings.Contains(c.Command[2], "sh /scenario/"+UploadKey) {
		t.Errorf("merge with download must download, merge and upload: %q", c.Command)
	}
	if sc := c.SecurityContext; sc == nil || sc.Privileged != nil || sc.Capabilities == nil || len(sc.Capabilities.Add) != 0 {
		t.Errorf("merge needs no privilege: %+v", sc)
	}
}

func checkFetchPod(t *testing.T, o Options, d decoded) {
	t.Helper()
	p := d.fetch
	if p.Name != "notification-cost-fetch" || p.Labels[StepLabel] != StepFetch {
		t.Errorf("fetch pod %s %v", p.Name, p.Labels)
	}
	c := p.Spec.Containers[0]
	if m := mountOf(c, "results"); !m.ReadOnly || m.SubPath != mountOf(d.shards.Spec.Template.Spec.Containers[0], "results").SubPath || m.MountPath != "/results" {
		t.Errorf("fetch mount %+v", m)
	}
	if v := volumes(p.Spec)["results"]; v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != o.ResultsPVC {
		t.Errorf("fetch volume %+v", v)
	}
}

// checkNames: every name, label and selector is one the API server accepts.
func checkNames(t *testing.T, d decoded) {
	t.Helper()
	metas := []metav1.ObjectMeta{d.configMap.ObjectMeta, d.shards.ObjectMeta, d.shards.Spec.Template.ObjectMeta}
	if d.merge != nil {
		metas = append(metas, d.merge.ObjectMeta)
	}
	if d.fetch != nil {
		metas = append(metas, d.fetch.ObjectMeta)
	}
	for _, m := range metas {
		if m.Name != "" {
			for _, e := range validation.IsDNS1123Subdomain(m.Name) {
				t.Errorf("name %s: %s", m.Name, e)
			}
		}
		for k, v := range m.Labels {
			for _, e := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
				t.Errorf("label %s=%s: %s", k, v, e)
			}
		}
	}
	for _, j := range []*batchv1.Job{d.shards, d.merge} {
		if j == nil {
			continue
		}
		for _, e := range validation.IsDNS1123Label(j.Name) {
			t.Errorf("job name %s: %s", j.Name, e)
		}
		// An Indexed Job's pods are named <job>-<index>: that too must be a label.
		for _, e := range validation.IsDNS1123Label(fmt.Sprintf("%s-%d", j.Name, MaxShards-1)) {
			t.Errorf("pod hostname of %s: %s", j.Name, e)
		}
	}
}

func volumes(ps corev1.PodSpec) map[string]corev1.Volume {
	m := map[string]corev1.Volume{}
	for _, v := range ps.Volumes {
		m[v.Name] = v
	}
	return m
}

func mountOf(c corev1.Container, name string) corev1.VolumeMount {
	for _, vm := range c.VolumeMounts {
		if vm.Name == name {
			return vm
		}
	}
	return corev1.VolumeMount{}
}

func TestOptionsShapeTheManifest(t *testing.T) {
	o := baseOptions(t)
	o.ResultsPVC = "portlab-results"
	o.Namespace = "rehearsals"
	o.Name = "site-wide-may"
	o.NodeSelector = map[string]string{"portlab.io/dedicated": "true", "kubernetes.io/arch": "amd64"}
	o.CPU, o.Memory = "4", "16Gi"
	o.OnePerNode = false
	o.StartAt = now.Add(10 * time.Minute)
	o.DeadlineMargin = 5 * time.Minute
	_, d := generate(t, o)
	j := d.shards
	if j.Name != "site-wide-may" || j.Namespace != "rehearsals" || d.configMap.Namespace != "rehearsals" || d.merge.Namespace != "rehearsals" || d.fetch.Namespace != "rehearsals" {
		t.Errorf("names/namespaces: %s/%s %s %s %s", j.Namespace, j.Name, d.configMap.Namespace, d.merge.Namespace, d.fetch.Namespace)
	}
	ps := j.Spec.Template.Spec
	if ps.NodeSelector["portlab.io/dedicated"] != "true" || ps.NodeSelector["kubernetes.io/arch"] != "amd64" || ps.NodeSelector["kubernetes.io/os"] != "linux" {
		t.Errorf("nodeSelector %v", ps.NodeSelector)
	}
	if ps.Affinity != nil {
		t.Errorf("OnePerNode off: affinity %+v", ps.Affinity)
	}
	if q := ps.Containers[0].Resources.Limits[corev1.ResourceMemory]; q.String() != "16Gi" {
		t.Errorf("memory limit %s", q.String())
	}
	if !strings.Contains(strings.Join(ps.Containers[0].Args, " "), "--start-at 2026-05-04T10:10:00Z") {
		t.Errorf("args %q", ps.Containers[0].Args)
	}
	want := int64((10*time.Minute + o.Scenario.Duration + 5*time.Minute) / time.Second)
	if got := *j.Spec.ActiveDeadlineSeconds; got != want {
		t.Errorf("deadline %d, want %d", got, want)
	}
	if !strings.Contains(string(d.raw), fmt.Sprintf("kubectl wait -n rehearsals --for=condition=complete job/site-wide-may --timeout=%ds", want)) {
		t.Errorf("header lacks the wait command:\n%s", d.raw)
	}
}

func TestStartTimeRoundsUpToWholeSeconds(t *testing.T) {
	o := baseOptions(t)
	o.ResultsPVC = "r"
	o.Now = now.Add(300 * time.Millisecond)
	o.StartDelay = 90 * time.Second
	m, err := Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(91 * time.Second); !m.Options.StartAt.Equal(want) {
		t.Errorf("start %s, want %s", m.Options.StartAt, want)
	}
}

func TestOutputIsDeterministic(t *testing.T) {
	o := baseOptions(t)
	o.ResultsPVC = "portlab-results"
	o.NodeSelector = map[string]string{"b": "2", "a": "1", "c": "3"}
	var first []byte
	for i := range 20 {
		m, err := Generate(o)
		if err != nil {
			t.Fatal(err)
		}
		y, err := m.YAML()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = y
		} else if !bytes.Equal(y, first) {
			t.Fatal("two generations of the same options differ")
		}
	}
}

func TestWarnings(t *testing.T) {
	o := baseOptions(t)
	o.ResultsPVC = "r"
	o.Image = "registry.example.com/portlab"
	o.StartDelay = 20 * time.Second
	m, err := Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(m.Warnings, "\n")
	if !strings.Contains(all, "no fixed tag") || !strings.Contains(all, "start late") {
		t.Errorf("warnings %q", m.Warnings)
	}
	o.Image = "registry.example.com/portlab@sha256:" + strings.Repeat("ab", 32)
	o.StartDelay = 0
	if m, _ := Generate(o); len(m.Warnings) != 0 {
		t.Errorf("digest, 2m lead: warnings %q", m.Warnings)
	}
}

func keys(m map[string]string) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}
