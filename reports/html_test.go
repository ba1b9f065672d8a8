package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

var screenshotTo = flag.String("screenshot", "", "also copy the Chromium screenshot of the HTML report to this file")

// newHist has harness/metrics' geometry: 1 µs .. 1 h, 2 significant digits.
func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 3_600_000_000, 2) }

// histOf records n values drawn from a log-normal-ish distribution around median µs.
func histOf(t testing.TB, seed uint64, n int, median float64, tail float64) *hdrhistogram.Histogram {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	h := newHist()
	for i := 0; i < n; i++ {
		v := median * (0.6 + 0.8*rng.Float64())
		if rng.Float64() < 0.02 {
			v *= tail * rng.Float64()
		}
		if err := h.RecordValue(int64(v)); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func mustEncode(t testing.TB, kind string, tags HistTags, h *hdrhistogram.Histogram) EncodedHist {
	t.Helper()
	e, err := EncodeHist(kind, tags, h)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// richSample is sample() with everything a chart draws: series, histograms, cost
// samples, notification, timeline marks and the scenario.
func richSample(t testing.TB) *Result {
	r := sample()
	r.Elapsed = 60
	r.Ended = r.Started.Add(61 * time.Second)
	r.Environment.Clients = 1000
	r.Groups = append(r.Groups, GroupOutcome{Group: "fallback", Count: 200, Managed: 190, Unmanaged: 10, Fallbacks: 190,
		FallbackDelay: Percentiles{Count: 190, P50: 21, P90: 24, P99: 30, Max: 31}, PortsUsed: map[int]int{8080: 190}})
	r.Groups = append(r.Groups, GroupOutcome{Group: "tcp", Count: 200, Managed: 200}, GroupOutcome{Group: "http-poll", Count: 200, Managed: 200})
	for s := 0; s <= 60; s++ {
		p := SecondPoint{T: float64(s), Attempts: 100, OK: 90, Managed: map[string]int{}, Unmanaged: map[string]int{}}
		p.Managed["pushed"] = 300
		if s >= 30 && s < 45 {
			p.Managed["pushed"] = 300 - (45-s)*10
			p.Unmanaged["pushed"] = (45 - s) * 10
		}
		p.Managed["stale"] = 100
		if s >= 32 {
			p.Managed["stale"], p.Unmanaged["stale"] = 0, 100
		}
		p.Managed["fallback"] = 200
		if s >= 30 && s < 52 {
			p.Managed["fallback"], p.Unmanaged["fallback"] = 10, 190
		}
		p.Managed["tcp"], p.Managed["http-poll"] = 200, 200
		r.Series = append(r.Series, p)
	}
	r.Timeline = []TimelineMark{{T: 30, Label: "site ports http 80 -> 8080"}, {T: 40, Label: "reconfigure pushed over 10s"}}
	r.Events = append(r.Events, EventRecord{At: 40, Applied: 40.02, Kind: "reconfigure", Detail: "pushed: http_port 8080 over 10s"})
	r.Push = []PushStats{
		{Group: "tcp", Transport: "tcp", Targeted: 200, Delivered: 200, Latency: Percentiles{Count: 200, P50: 0.0008, P99: 0.004, Max: 0.006}},
		{Group: "http-poll", Transport: "http", Targeted: 200, Delivered: 198, Latency: Percentiles{Count: 198, P50: 0.011, P99: 0.035, Max: 0.05}},
	}
	r.Requests = append(r.Requests,
		RequestStats{Operation: "policy", Transport: "http", Port: 80, Outcome: "timeout", Group: "stale", MP: "mp1", Count: 600,
			Latency: Percentiles{Count: 600, P50: 5, P99: 5.1, Max: 5.2}},
		RequestStats{Operation: "longpoll", Transport: "http", Port: 80, Outcome: "ok", Group: "http-poll", MP: "mp-http", Count: 900},
		RequestStats{Operation: "heartbeat", Transport: "tcp", Port: 10123, Outcome: "ok", Group: "tcp", MP: "mp-tcp", Count: 900})
	mk := func(name string, cpuPerSec float64, rss uint64) ProcessCost {
		c := ProcessCost{Role: "mp", Name: name, CPUUser: cpuPerSec * 40, CPUSystem: cpuPerSec * 20, RSSPeak: rss + 4<<20, RSSEnd: rss,
			Requests: 8000, Clients: 200, CPUPerRequestUS: 1e6 * cpuPerSec * 60 / 8000, CPUPerClientMinuteUS: 1e6 * cpuPerSec / 200}
		for s := 0; s <= 60; s++ {
			cpu := cpuPerSec * float64(s)
			if s > 30 {
				cpu += cpuPerSec * float64(s-30) * 0.5 // busier after the port change
			}
			c.Series = append(c.Series, CostPoint{T: float64(s), CPU: cpu, RSS: rss + uint64(s)<<16})
		}
		return c
	}
	r.Cost = []ProcessCost{mk("mp1", 0.12, 30<<20), mk("mp-tcp", 0.05, 22<<20), mk("mp-http", 0.2, 41<<20),
		{Role: "fleet", Name: "lan", CPUUser: 9, CPUSystem: 3, RSSPeak: 80 << 20}}
	r.Firewall = append(r.Firewall, RuleCounter{Router: "core", Rule: "reject-443", Action: "reject", Packets: 40, Bytes: 2400})
	r.Notes = []string{"the load generator fell behind: 3 requests started more than 10ms late"}
	r.Scenario = json.RawMessage(`{"version":1,"name":"port-change","duration":"60s","seed":1,"clients":[{"group":"pushed","count":300,"http_port":80}]}`)
	r.Hists = []EncodedHist{
		mustEncode(t, KindLatency, HistTags{Operation: "policy", Transport: "http", Port: 8080, Outcome: "ok", Group: "pushed", MP: "mp1"}, histOf(t, 1, 4000, 2100, 8)),
		mustEncode(t, KindLatency, HistTags{Operation: "policy", Transport: "http", Port: 80, Outcome: "ok", Group: "pushed", MP: "mp1"}, histOf(t, 2, 3000, 1800, 6)),
		mustEncode(t, KindLatency, HistTags{Operation: "policy", Transport: "http", Port: 80, Outcome: "ok", Group: "fallback", MP: "mp1"}, histOf(t, 3, 1000, 1900, 6)),
		mustEncode(t, KindLatency, HistTags{Operation: "policy", Transport: "http", Port: 80, Outcome: "timeout", Group: "stale", MP: "mp1"}, histOf(t, 4, 600, 5_000_000, 1)),
		mustEncode(t, KindLatency, HistTags{Operation: "longpoll", Transport: "http", Port: 80, Outcome: "ok", Group: "http-poll"}, histOf(t, 5, 900, 800, 4)),
		mustEncode(t, KindServiceTime, HistTags{Operation: "policy", Transport: "http", Port: 8080, Outcome: "ok", Group: "pushed"}, histOf(t, 6, 4000, 1900, 5)),
		mustEncode(t, KindFallbackDelay, HistTags{Group: "fallback"}, histOf(t, 7, 190, 21_000_000, 1.4)),
		mustEncode(t, KindPushLatency, HistTags{Transport: "tcp", Group: "tcp"}, histOf(t, 8, 200, 800, 5)),
	}
	return r
}

var (
	externalRef = regexp.MustCompile(`(?i)(src|href|xlink:href|action|srcset|poster|data)\s*=\s*["']?\s*(https?:)?//|url\(\s*["']?\s*(https?:)?//|@import|<link\b|<script\b[^>]*\bsrc=`)
	svgOpen     = regexp.MustCompile(`<svg\b`)
)

// externalRefs lists what in a page could make a browser fetch something.
func externalRefs(page []byte) []string {
	var found []string
	for _, m := range externalRef.FindAll(page, -1) {
		found = append(found, string(m))
	}
	for _, s := range []string{"http://", "https://"} {
		if i := bytes.Index(page, []byte(s)); i >= 0 {
			found = append(found, string(page[max(0, i-60):min(len(page), i+60)]))
		}
	}
	return found
}

func checkSelfContained(t *testing.T, page []byte) {
	t.Helper()
	for _, f := range externalRefs(page) {
		t.Errorf("report.html references something outside itself: %q", f)
	}
}

func TestHTMLCharts(t *testing.T) {
	r := richSample(t)
	page, err := HTML(r)
	if err != nil {
		t.Fatal(err)
	}
	// clients, policy latency, longpoll latency, fallback, push latency, notify CPU,
	// notify RSS, MP CPU, MP RSS, firewall.
	if n := len(svgOpen.FindAll(page, -1)); n != 10 {
		t.Errorf("%d <svg> elements, want 10", n)
	}
	for _, title := range []string{TitleClients, "policy " + TitleLatency, "longpoll " + TitleLatency, TitleFallback,
		TitlePushLatency, TitleNotifyCPU, TitleNotifyRSS, TitleMPCPU, TitleMPRSS, TitleFirewall} {
		// once as the chart's accessible name, once drawn in the chart
		if n := bytes.Count(page, []byte(escapeHTML(title))); n < 2 {
			t.Errorf("chart title %q appears %d times, want 2", title, n)
		}
	}
	for _, want := range []string{
		"site ports http 80 -&gt; 8080 (30s)", // timeline mark drawn on the chart
		"pushed managed", "stale unmanaged",   // legend
		"99.9%",                                 // percentile axis
		"http:80 timeout (n=600)",               // failed requests drawn dashed, labelled with the outcome
		"latency_p99{operation=policy}", "FAIL", // gates
		"name: port-change", // the scenario as YAML
		"the load generator fell behind",
	} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	checkSelfContained(t, page)
}

func escapeHTML(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

// TestHTMLSelfContainedCheckCanFail: the URL check catches what it is meant to.
func TestHTMLSelfContainedCheckCanFail(t *testing.T) {
	for _, bad := range []string{`<img src="https://x.example/a.png">`, `<link rel=stylesheet href="//cdn.example/x.css">`,
		`<style>@import "x.css";</style>`, `<div style="background:url(http://x.example/i.png)">`, `<script src="a.js"></script>`} {
		if len(externalRefs([]byte("<html>"+bad+"</html>"))) == 0 {
			t.Errorf("checkSelfContained accepted %s", bad)
		}
	}
}

func TestHTMLEmptySections(t *testing.T) {
	r := &Result{SchemaVersion: SchemaVersion, RunID: "r0", ScenarioName: "empty", Status: StatusError, Error: "mp1: agent died"}
	page, err := HTML(r)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(svgOpen.FindAll(page, -1)); n != 0 {
		t.Errorf("%d charts drawn without data", n)
	}
	for _, want := range []string{"No per-second series", "No request latency recorded", "No client fell back", "No client notification",
		"No process cost recorded", "No firewall rule counters", "This scenario has no gates", "mp1: agent died", "ERROR"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("empty report lacks %q", want)
		}
	}
	checkSelfContained(t, page)
	// sample() has percentiles but no histograms or series: charts fall back to them.
	page, err = HTML(sample())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(page, []byte("policy "+TitleLatency)) {
		t.Error("latency chart from percentiles missing")
	}
	checkSelfContained(t, page)
}

// chromium finds the browser or skips the test saying why.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium not installed (Debian: apt-get install chromium); the HTML report was not rendered in a browser")
	return ""
}

// browse loads page in headless Chromium and returns the DOM after load and the
// browser's log. Network is cut off (every host resolves to nothing), so a fetch
// attempt shows up as a console error.
func browse(t *testing.T, bin, page string, extra ...string) (dom, log string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--host-resolver-rules=MAP * ~NOTFOUND", "--user-data-dir=" + t.TempDir(),
		"--enable-logging=stderr", "--v=0"}, extra...)
	args = append(args, "file://"+page)
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", page, err, errb.String())
	}
	return out.String(), errb.String()
}

// consoleErrors picks the page's console errors out of Chromium's log: uncaught
// exceptions, failed loads, and anything the page logged at error level.
func consoleErrors(log string) []string {
	var errs []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "CONSOLE") && (strings.Contains(l, "Uncaught") || strings.Contains(l, "Failed to load") || strings.Contains(l, ":ERROR:") || strings.Contains(l, "Error")) {
			errs = append(errs, l)
		}
	}
	return errs
}

// A probe appended to the page: it reports resource errors and script errors into the
// DOM, and counts the rendered charts, so --dump-dom can tell.
const probe = `<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message || (e.target && (e.target.src || e.target.href)) || "error")); }, true);
window.addEventListener("load", function () {
  var n = 0, bad = 0;
  document.querySelectorAll("svg").forEach(function (s) { var b = s.getBoundingClientRect(); if (b.width > 100 && b.height > 50) n++; else bad++; });
  var d = document.createElement("div"); d.id = "probe";
  d.textContent = "charts=" + n + " tiny=" + bad + " errors=" + JSON.stringify(window.__errors);
  document.body.appendChild(d);
  console.log("probe " + d.textContent);
});
</script>`

func TestHTMLRendersInChromium(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	page, err := HTML(richSample(t))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, page, 0o644); err != nil {
		t.Fatal(err)
	}
	// The report as shipped: no console errors at all.
	_, log := browse(t, bin, file, "--dump-dom")
	if errs := consoleErrors(log); len(errs) > 0 {
		t.Errorf("console errors rendering report.html:\n%s", strings.Join(errs, "\n"))
	}
	// With the probe: every chart has a size on the page, and no load error happened.
	probed := filepath.Join(dir, "probed.html")
	if err := os.WriteFile(probed, bytes.Replace(page, []byte("</body>"), []byte(probe+"</body>"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, log := browse(t, bin, probed, "--dump-dom")
	if !strings.Contains(dom, `charts=10 tiny=0 errors=[]`) {
		i := strings.Index(dom, `id="probe"`)
		t.Errorf("probe: %q\n%s", dom[max(0, i):min(len(dom), i+300)], log)
	}
	// The detector itself works: a page with a script error and an external image fails.
	broken := filepath.Join(dir, "broken.html")
	os.WriteFile(broken, []byte(`<html><body><img src="https://cdn.example/x.png"><script>undefinedFunction()</script></body></html>`), 0o644)
	if _, log := browse(t, bin, broken, "--dump-dom"); len(consoleErrors(log)) == 0 {
		t.Errorf("the console error check did not catch a broken page; chromium's log:\n%s", log)
	}
	// A screenshot, for people to look at (go test -run Chromium -screenshot /tmp/r.png).
	shot := filepath.Join(dir, "report.png")
	browse(t, bin, file, "--screenshot="+shot, "--window-size=1280,2400", "--hide-scrollbars")
	st, err := os.Stat(shot)
	if err != nil || st.Size() < 20_000 {
		t.Fatalf("screenshot %s: %v (size %v)", shot, err, st)
	}
	if *screenshotTo != "" {
		b, _ := os.ReadFile(shot)
		if err := os.WriteFile(*screenshotTo, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
