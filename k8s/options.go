package k8s

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits and defaults of the generated manifests.
const (
	// MaxShards bounds --shards: each shard is a machine, and a rehearsal of a whole site
	// needs tens, not thousands (a primary site has at most 15 management points).
	MaxShards = 1000
	// MaxNameLen keeps every derived name a valid DNS-1123 label: the merge Job is
	// <name>-merge (63 at most), and an Indexed Job's pods are named <name>-<index>.
	MaxNameLen = 63 - len("-merge")
	// MaxScenarioBytes keeps the ConfigMap under the API server's 1 MiB object limit
	// with room for metadata and the result scripts.
	MaxScenarioBytes = 1000 * 1000
	// DefaultStartDelay leaves time for every node to pull the image.
	DefaultStartDelay = 2 * time.Minute
	// DefaultDeadlineMargin is added to the start lead and the scenario duration: the
	// network build, agents starting, results collected, written and uploaded.
	DefaultDeadlineMargin = 10 * time.Minute
	// MergeDeadline bounds the merge Job (download, merge, upload).
	MergeDeadline = 30 * time.Minute
	// MaxStartLead bounds how far ahead the common start may be.
	MaxStartLead = 24 * time.Hour
	// DefaultCPU and DefaultMemory size one shard: about one management point's 25,000
	// clients on a 2-core machine.
	DefaultCPU    = "2"
	DefaultMemory = "8Gi"
	// ManifestFile is the file name the header's commands use when none is given.
	ManifestFile = "job.yaml"
)

// ErrInvalid is matched (errors.Is) by every error that means the options are wrong.
var ErrInvalid = errors.New("invalid k8s job options")

// invalidError is one wrong option; its text names the flag and says what to give.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{fmt.Sprintf(format, args...)}
}

// Options describe one sharded rehearsal. Fill them, call Generate (which normalizes
// and validates a copy).
type Options struct {
	// Scenario to run, as ReadScenario returns it.
	Scenario Scenario
	// Shards is how many machines run the scenario (1..MaxShards, at most the scenario's
	// management points: a shard is a set of MPs with their clients).
	Shards int
	// Image is the portlab container image, pulled by every node (pin a tag or digest).
	Image string
	// Namespace of every object; empty: kubectl's current namespace.
	Namespace string
	// Name of the run: the shard Job's name and the prefix of every other object.
	// Empty: derived from the scenario's name.
	Name string

	// Exactly one of ResultsPVC and ResultsUpload says where results go.
	// ResultsPVC names an existing ReadWriteMany PersistentVolumeClaim mounted at
	// /results in every pod (shards on different nodes write it at once).
	ResultsPVC string
	// ResultsUpload is a shell command run after portlab in the same container
	// (results on an emptyDir); see Generate for its environment.
	ResultsUpload string
	// ResultsDownload, with ResultsUpload, fetches every shard's results into
	// $PORTLAB_RESULTS_ROOT before the merge Job merges them. Without it no merge Job is
	// written: merge where the results were uploaded.
	ResultsDownload string

	// StartAt is the common start of every shard (site-wide timeline events must land
	// at the same offsets). Zero: Now + StartDelay.
	StartAt time.Time
	// StartDelay is the lead given to the start when StartAt is zero (default 2m).
	StartDelay time.Duration
	// Now is the clock reading the start and deadlines are computed from.
	Now time.Time

	// Privileged runs the shards as privileged containers instead of with the
	// capabilities they need.
	Privileged bool
	// NodeSelector is added to kubernetes.io/os=linux for every pod.
	NodeSelector map[string]string
	// OnePerNode keeps two shards off one node (required pod anti-affinity): each
	// shard is meant to have a machine's CPU and descriptors to itself.
	OnePerNode bool
	// CPU and Memory are each shard container's requests and limits (default 2, 8Gi).
	CPU, Memory string
	// DeadlineMargin is added to the start lead and the scenario duration to give the
	// shard Job's activeDeadlineSeconds (default 10m).
	DeadlineMargin time.Duration

	// File is the manifest's file name as the header's kubectl commands show it.
	File string
}

// Normalize fills the defaults: the name from the scenario, the start from the clock.
func (o *Options) Normalize() {
	if o.Name == "" {
		o.Name = DefaultName(o.Scenario.Name)
	}
	if o.StartDelay == 0 {
		o.StartDelay = DefaultStartDelay
	}
	if o.StartAt.IsZero() {
		// Whole seconds, rounded up, so the flag's RFC 3339 text is the instant itself.
		o.StartAt = o.Now.Add(o.StartDelay).Add(time.Second - 1).Truncate(time.Second)
	}
	o.StartAt = o.StartAt.UTC()
	if o.CPU == "" {
		o.CPU = DefaultCPU
	}
	if o.Memory == "" {
		o.Memory = DefaultMemory
	}
	if o.DeadlineMargin == 0 {
		o.DeadlineMargin = DefaultDeadlineMargin
	}
	if o.File == "" {
		o.File = ManifestFile
	}
}

// DefaultName is the run name derived from a scenario name: scenario names are already
// lower case letters, digits and dashes; it only shortens them to fit.
func DefaultName(scenario string) string {
	n := strings.ToLower(scenario)
	if len(n) > MaxNameLen {
		n = n[:MaxNameLen]
	}
	return strings.Trim(n, "-")
}

// Validate checks normalized options and returns every problem found, joined; each
// matches ErrInvalid.
func (o *Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, invalidf(format, args...)) }
	if len(o.Scenario.Source) == 0 || o.Scenario.Name == "" {
		bad("no scenario")
	}
	switch mps := o.Scenario.ManagementPoints; {
	case o.Shards < 1 || o.Shards > MaxShards:
		bad("--shards %d: give 1 to %d", o.Shards, MaxShards)
	case mps > 0 && o.Shards > mps:
		bad("--shards %d: scenario %s has %d management point(s); a shard is a set of management points with their clients, so at most %d shard(s)", o.Shards, o.Scenario.Name, mps, mps)
	}
	if err := checkImage(o.Image); err != nil {
		bad("--image %q: %v", o.Image, err)
	}
	if o.Namespace != "" {
		if err := checkDNSLabel(o.Namespace, 63); err != nil {
			bad("--namespace %q: %v", o.Namespace, err)
		}
	}
	if err := checkDNSLabel(o.Name, MaxNameLen); err != nil {
		what := "--name"
		if o.Scenario.Name != "" && o.Name == DefaultName(o.Scenario.Name) {
			what = "name derived from the scenario"
		}
		bad("%s %q: %v", what, o.Name, err)
	}
	switch {
	case o.ResultsPVC == "" && o.ResultsUpload == "":
		bad("say where results go: --results-pvc CLAIM (a ReadWriteMany claim) or --results-upload CMD")
	case o.ResultsPVC != "" && o.ResultsUpload != "":
		bad("--results-pvc and --results-upload: give one")
	case o.ResultsPVC != "":
		if err := checkDNSSubdomain(o.ResultsPVC); err != nil {
			bad("--results-pvc %q: %v", o.ResultsPVC, err)
		}
		if o.ResultsDownload != "" {
			bad("--results-download goes with --results-upload; with --results-pvc the merge Job reads the claim")
		}
	default:
		if err := checkCommand(o.ResultsUpload); err != nil {
			bad("--results-upload: %v", err)
		}
		if o.ResultsDownload != "" {
			if err := checkCommand(o.ResultsDownload); err != nil {
				bad("--results-download: %v", err)
			}
		}
	}
	switch lead := o.StartAt.Sub(o.Now); {
	case o.StartDelay < 0:
		bad("--start-delay %s: give a positive delay", o.StartDelay)
	case lead <= 0:
		bad("--start-at %s is not in the future (now %s): every shard must start at it", o.StartAt.Format(time.RFC3339), o.Now.UTC().Format(time.RFC3339))
	case lead > MaxStartLead:
		bad("--start-at %s is %s away; at most %s", o.StartAt.Format(time.RFC3339), lead.Round(time.Second), MaxStartLead)
	}
	if o.DeadlineMargin < time.Minute || o.DeadlineMargin > 24*time.Hour {
		bad("--deadline-margin %s: give 1m to 24h", o.DeadlineMargin)
	}
	if err := checkQuantity(o.CPU); err != nil {
		bad("--cpu %q: %v", o.CPU, err)
	}
	if err := checkQuantity(o.Memory); err != nil {
		bad("--memory %q: %v", o.Memory, err)
	}
	keys := make([]string, 0, len(o.NodeSelector))
	for k := range o.NodeSelector {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := checkLabel(k, o.NodeSelector[k]); err != nil {
			bad("--node-selector %s=%s: %v", k, o.NodeSelector[k], err)
		}
	}
	if len(o.Scenario.Source) > MaxScenarioBytes {
		bad("scenario %s is %d bytes; a ConfigMap holds at most %d", o.Scenario.Name, len(o.Scenario.Source), MaxScenarioBytes)
	}
	return errors.Join(errs...)
}

// ParseNodeSelector reads --node-selector values, each KEY=VALUE.
func ParseNodeSelector(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, invalidf("--node-selector %q: want KEY=VALUE, such as kubernetes.io/arch=amd64", p)
		}
		if old, dup := m[k]; dup && old != v {
			return nil, invalidf("--node-selector %s given twice (%q and %q)", k, old, v)
		}
		m[k] = v
	}
	return m, nil
}

var (
	dnsLabelRE  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	labelNameRE = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	// A Kubernetes resource quantity, positive: a decimal number and a suffix
	// (binary Ki..Ei, decimal n u m k M G T P E, or an exponent).
	quantityRE = regexp.MustCompile(`^(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+|[KMGTPE]i|[numkMGTPE])?$`)
	nonZeroRE  = regexp.MustCompile(`[1-9]`)

	// An image reference: [domain[:port]/]path[:tag][@digest], as the distribution
	// reference grammar puts it.
	imageRE = func() *regexp.Regexp {
		const (
			alnum     = `[a-z0-9]+`
			sep       = `(?:[._]|__|-+)`
			component = alnum + `(?:` + sep + alnum + `)*`
			domainC   = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
			domain    = `(?:` + domainC + `(?:\.` + domainC + `)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?`
			tag       = `[\w][\w.-]{0,127}`
			digest    = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
		)
		return regexp.MustCompile(`^(?P<name>(?:` + domain + `/)?` + component + `(?:/` + component + `)*)(?::(?P<tag>` + tag + `))?(?:@(?P<digest>` + digest + `))?$`)
	}()
)

func checkDNSLabel(s string, max int) error {
	switch {
	case s == "":
		return errors.New("empty; give lower case letters, digits and dashes")
	case len(s) > max:
		return fmt.Errorf("%d characters; at most %d", len(s), max)
	case !dnsLabelRE.MatchString(s):
		return errors.New("not a DNS-1123 label: lower case letters, digits and dashes, starting and ending with a letter or digit")
	}
	return nil
}

func checkDNSSubdomain(s string) error {
	if len(s) > 253 {
		return fmt.Errorf("%d characters; at most 253", len(s))
	}
	for _, part := range strings.Split(s, ".") {
		if !dnsLabelRE.MatchString(part) {
			return errors.New("not a DNS-1123 subdomain: lower case letters, digits, dashes and dots")
		}
	}
	return nil
}

// checkLabel checks a label key (optional DNS-subdomain prefix, a slash, a name) and value.
func checkLabel(key, value string) error {
	name := key
	if prefix, n, ok := strings.Cut(key, "/"); ok {
		if err := checkDNSSubdomain(prefix); err != nil {
			return fmt.Errorf("key prefix %q: %v", prefix, err)
		}
		name = n
	}
	if len(name) == 0 || len(name) > 63 || !labelNameRE.MatchString(name) {
		return fmt.Errorf("key name %q: 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", name)
	}
	if len(value) > 63 || (value != "" && !labelNameRE.MatchString(value)) {
		return fmt.Errorf("value %q: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", value)
	}
	return nil
}

func checkQuantity(s string) error {
	if !quantityRE.MatchString(s) {
		return errors.New("not a quantity: give a number with an optional suffix, such as 2, 500m, 8Gi or 512Mi")
	}
	mantissa := strings.TrimRight(s, "numkKMGTPEi")
	if i := strings.IndexAny(mantissa, "eE"); i >= 0 {
		mantissa = mantissa[:i]
	}
	if !nonZeroRE.MatchString(mantissa) {
		return errors.New("must be more than zero")
	}
	return nil
}

// checkImage checks that s looks like an image reference a node can pull.
func checkImage(s string) error {
	switch {
	case s == "":
		return errors.New("empty; give the portlab image every node pulls, such as registry.example.com/portlab:1.0")
	case strings.Contains(s, "://"):
		return errors.New("an image reference has no scheme: give registry/path:tag")
	case strings.ContainsAny(s, " \t\n"):
		return errors.New("contains white space")
	}
	m := imageRE.FindStringSubmatch(s)
	if m == nil {
		return errors.New("not an image reference: [registry[:port]/]path[:tag][@digest], path in lower case")
	}
	if n := m[imageRE.SubexpIndex("name")]; len(n) > 255 {
		return fmt.Errorf("repository name is %d characters; at most 255", len(n))
	}
	return nil
}

// imageWarning returns why an image reference may give different nodes different
// builds, or "".
func imageWarning(s string) string {
	m := imageRE.FindStringSubmatch(s)
	if m == nil || m[imageRE.SubexpIndex("digest")] != "" {
		return ""
	}
	switch tag := m[imageRE.SubexpIndex("tag")]; tag {
	case "", "latest":
		return fmt.Sprintf("image %s has no fixed tag: nodes pull it when the pods start and may run different builds; pin a version tag or a digest", s)
	}
	return ""
}

func checkCommand(s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return errors.New("empty command")
	case strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s):
		return errors.New("not text")
	}
	return nil
}
