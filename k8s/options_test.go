package k8s

import (
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

func TestRefusals(t *testing.T) {
	cases := []struct {
		name string
		set  func(*Options)
		want string
	}{
		{"no shards", func(o *Options) { o.Shards = 0 }, "--shards 0: give 1 to 1000"},
		{"too many shards", func(o *Options) { o.Shards = 1001 }, "--shards 1001: give 1 to 1000"},
		{"more shards than MPs", func(o *Options) { o.Shards = 6 }, "has 5 management point(s)"},
		{"no image", func(o *Options) { o.Image = "" }, "--image \"\": empty"},
		{"image with scheme", func(o *Options) { o.Image = "https://registry.example.com/portlab:1" }, "no scheme"},
		{"image upper case path", func(o *Options) { o.Image = "registry.example.com/PortLab:1" }, "not an image reference"},
		{"image empty tag", func(o *Options) { o.Image = "portlab:" }, "not an image reference"},
		{"image space", func(o *Options) { o.Image = "portlab 1.0" }, "white space"},
		{"image short digest", func(o *Options) { o.Image = "portlab@sha256:abc" }, "not an image reference"},
		{"bad name", func(o *Options) { o.Name = "Site_Wide" }, "--name \"Site_Wide\": not a DNS-1123 label"},
		{"long name", func(o *Options) { o.Name = strings.Repeat("a", 58) }, "58 characters; at most 57"},
		{"name ends with dash", func(o *Options) { o.Name = "site-" }, "not a DNS-1123 label"},
		{"bad namespace", func(o *Options) { o.Namespace = "Rehearsals" }, "--namespace \"Rehearsals\""},
		{"no results", func(o *Options) { o.ResultsPVC = "" }, "say where results go"},
		{"both results", func(o *Options) { o.ResultsUpload = "true" }, "--results-pvc and --results-upload: give one"},
		{"bad claim", func(o *Options) { o.ResultsPVC = "Results" }, "--results-pvc \"Results\": not a DNS-1123 subdomain"},
		{"download with claim", func(o *Options) { o.ResultsDownload = "true" }, "--results-download goes with --results-upload"},
		{"empty upload", func(o *Options) { o.ResultsPVC = ""; o.ResultsUpload = "  " }, "--results-upload: empty command"},
		{"start in the past", func(o *Options) { o.StartAt = now.Add(-time.Second) }, "is not in the future"},
		{"start far away", func(o *Options) { o.StartAt = now.Add(25 * time.Hour) }, "at most 24h"},
		{"negative delay", func(o *Options) { o.StartDelay = -time.Minute; o.StartAt = now.Add(time.Minute) }, "--start-delay -1m0s"},
		{"tiny margin", func(o *Options) { o.DeadlineMargin = time.Second }, "--deadline-margin 1s"},
		{"bad cpu", func(o *Options) { o.CPU = "two" }, "--cpu \"two\": not a quantity"},
		{"zero cpu", func(o *Options) { o.CPU = "0" }, "--cpu \"0\": must be more than zero"},
		{"negative memory", func(o *Options) { o.Memory = "-8Gi" }, "--memory \"-8Gi\": not a quantity"},
		{"memory unit typo", func(o *Options) { o.Memory = "8GB" }, "--memory \"8GB\": not a quantity"},
		{"bad selector key", func(o *Options) { o.NodeSelector = map[string]string{"-bad": "x"} }, "--node-selector -bad=x: key name"},
		{"bad selector value", func(o *Options) { o.NodeSelector = map[string]string{"pool": "a b"} }, "--node-selector pool=a b: value"},
		{"huge scenario", func(o *Options) { o.Scenario.Source = make([]byte, MaxScenarioBytes+1) }, "a ConfigMap holds at most"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := baseOptions(t)
			o.ResultsPVC = "portlab-results"
			c.set(&o)
			_, err := Generate(o)
			if err == nil {
				t.Fatalf("accepted")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%v: not ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q lacks %q", err, c.want)
			}
		})
	}
}

func TestEveryProblemAtOnce(t *testing.T) {
	o := baseOptions(t)
	o.Shards, o.Image, o.CPU = 0, "", "x"
	_, err := Generate(o)
	for _, want := range []string{"--shards 0", "--image", "--cpu", "say where results go"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestDefaultName(t *testing.T) {
	cases := map[string]string{
		"port-change":                  "port-change",
		strings.Repeat("ab", 40):       strings.Repeat("ab", 28) + "a",
		strings.Repeat("a", 56) + "-x": strings.Repeat("a", 56), // cut at a dash: the dash goes
	}
	for in, want := range cases {
		got := DefaultName(in)
		if got != want {
			t.Errorf("DefaultName(%q) = %q, want %q", in, got, want)
		}
		if err := checkDNSLabel(got, MaxNameLen); err != nil {
			t.Errorf("DefaultName(%q) = %q: %v", in, got, err)
		}
	}
}

func TestImageReferences(t *testing.T) {
	good := []string{
		"portlab",
		"portlab:1.0",
		"team/portlab:1.0",
		"registry.example.com/team/portlab:v1.2.3",
		"registry.example.com:5000/portlab:1.0",
		"localhost:5000/portlab",
		"REGISTRY/portlab:TAG", // the README's placeholder parses as a registry host
		"[fd00::1]:5000/portlab:1",
		"registry.example.com/portlab@sha256:" + strings.Repeat("0f", 32),
		"registry.example.com/portlab:1.0@sha256:" + strings.Repeat("0f", 32),
		"a.b/c__d/e-f.g:h_1",
	}
	for _, s := range good {
		if err := checkImage(s); err != nil {
			t.Errorf("%s refused: %v", s, err)
		}
	}
	bad := []string{"", "portlab:", ":1.0", "/portlab", "portlab/", "Portlab", "registry.example.com/Team/portlab",
		"portlab:-1", "portlab@sha256:xyz", "portlab:" + strings.Repeat("t", 129), "a..b/c", "http://r/p"}
	for _, s := range bad {
		if err := checkImage(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// checkQuantity accepts what the API server's parser accepts as a positive quantity.
func TestQuantitiesAgreeWithTheAPIParser(t *testing.T) {
	for _, s := range []string{"2", "500m", "1.5", "0.5", ".5", "8Gi", "512Mi", "8G", "1e3", "100k", "2Ki", "1E", "3Ti",
		"0", "0.0", "0m", "", "two", "-1", "+1", "8GB", "8gi", "1.2.3", "Gi", "1 Gi", "5i"} {
		_, perr := resource.ParseQuantity(s)
		q, _ := resource.ParseQuantity(s)
		apiOK := perr == nil && q.Sign() > 0 && !strings.HasPrefix(s, "+")
		err := checkQuantity(s)
		if (err == nil) != apiOK {
			t.Errorf("%q: checkQuantity %v, API parser ok=%v (%v)", s, err, apiOK, perr)
		}
	}
}

func TestParseNodeSelector(t *testing.T) {
	m, err := ParseNodeSelector([]string{"pool=portlab", "kubernetes.io/arch=amd64", "empty=", "pool=portlab"})
	if err != nil || m["pool"] != "portlab" || m["kubernetes.io/arch"] != "amd64" || m["empty"] != "" || len(m) != 3 {
		t.Errorf("%v %v", m, err)
	}
	for _, bad := range [][]string{{"pool"}, {"=x"}, {"pool=a", "pool=b"}} {
		if _, err := ParseNodeSelector(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
