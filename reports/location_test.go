package reports

import (
	"bytes"
	"strings"
	"testing"
)

func locationSample(t testing.TB) *Result {
	r := richSample(t)
	r.Events = append(r.Events, EventRecord{At: 40, Applied: 40, Kind: "publish", Detail: "the site change of 30s reaches AD DS (DNS publication off): http 8080, https 443"})
	r.Location = &SiteLocation{Domain: "corp.example", PublishAD: true, Delay: 10, HTTP: 8080, HTTPS: 443,
		LDAP: []LDAPListener{{Addr: "198.19.1.3:3268", Kind: "gc", Searches: 120, Errors: 1}}, DNS: DNSCounters{Queries: 30, SRV: 30, NXDomain: 30}}
	for i := range r.Groups {
		g := &r.Groups[i]
		switch g.Group {
		case "pushed":
			g.Location = &LocationOutcome{Membership: "domain", Learned: map[string]int{"ad": g.Count}, Followed: g.Count,
				FollowTime: Percentiles{Count: uint64(g.Count), P50: 11, P99: 13}, LDAPQueries: 120, Refresh: 10}
			g.Transitions = append(g.Transitions, Transition{T: 41, To: "followed", Count: g.Count / 2}, Transition{T: 42, To: "followed", Count: g.Count - g.Count/2})
		default:
			g.Location = &LocationOutcome{Membership: "workgroup", Learned: map[string]int{"never": g.Count}, DNSQueries: 30, DNSFailures: 30, Refresh: 10}
		}
	}
	return r
}

func TestLocationReport(t *testing.T) {
	r := locationSample(t)
	page, err := HTML(r)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(page, []byte(escapeHTML(TitleFollow))); n < 2 {
		t.Errorf("follow curve title appears %d times, want 2 (name and drawn)", n)
	}
	for _, want := range []string{
		"Service location", "AD DS publication on, DNS SRV records off", "pushed (domain)", "stale (workgroup)",
		"publish the site change of 30s", "every client refreshed", // the publication and refresh marks
		"<td>ad 300</td>", "never 100",
	} {
		if !bytes.Contains(page, []byte(escapeHTML(want))) && !bytes.Contains(page, []byte(want)) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	checkSelfContained(t, page)
	md, err := Markdown(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Service location", "| pushed | domain | ad 300 | 300 | 11.00s | 13.00s | 120 (0) |", "AD DS on, DNS SRV off"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary.md lacks %q:\n%s", want, md)
		}
	}
	// Without location data the section says so and draws nothing.
	page, err = HTML(richSample(t))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(page, []byte("No client group located its MP")) || bytes.Contains(page, []byte(escapeHTML(TitleFollow))) {
		t.Error("a result without location data got a follow curve, or no explanation")
	}
}

func TestLearnedText(t *testing.T) {
	if got := LearnedText(map[string]int{"never": 2, "ad": 5, "dns": 0, "push": 1}); got != "push 1, ad 5, never 2" {
		t.Errorf("LearnedText: %q", got)
	}
	if got := LearnedText(nil); got != "–" {
		t.Errorf("LearnedText(nil): %q", got)
	}
}
