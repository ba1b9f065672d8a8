package reports

import (
	"encoding/xml"
	"fmt"
)

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Name    string       `xml:"name,attr"`
	Tests   int          `xml:"tests,attr"`
	Fails   int          `xml:"failures,attr"`
	Errors  int          `xml:"errors,attr"`
	Time    float64      `xml:"time,attr"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Fails     int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      float64     `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Props     []junitProp `xml:"properties>property,omitempty"`
	Cases     []junitCase `xml:"testcase"`
}

type junitProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      float64       `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Error     *junitFailure `xml:"error,omitempty"`
	Skipped   *junitFailure `xml:"skipped,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// JUnit renders one test case per gate (failure message: measured vs expected), plus an
// error case when the run itself failed or was interrupted, for CI test reporters.
func JUnit(r *Result) ([]byte, error) {
	s := junitSuite{
		Name:      "portlab." + r.ScenarioName,
		Time:      r.Elapsed,
		Timestamp: r.Started.UTC().Format("2006-01-02T15:04:05"),
		Props: []junitProp{
			{"run_id", r.RunID}, {"status", r.Status}, {"tool", r.Tool},
			{"clients", fmt.Sprint(r.Environment.Clients)},
		},
	}
	for _, g := range r.Gates {
		c := junitCase{Name: g.Name + " " + g.Op + " " + g.Value, Classname: "portlab." + r.ScenarioName + ".gates"}
		switch {
		case g.Pending:
			c.Skipped = &junitFailure{Message: g.Message}
			s.Skipped++
		case !g.Passed:
			c.Failure = &junitFailure{Message: g.Message, Type: "GateFailed",
				Text: fmt.Sprintf("metric %s: measured %s, want %s %s", g.Name, FormatValue(g.Measured, g.Unit), g.Op, g.Value)}
			s.Fails++
		}
		s.Cases = append(s.Cases, c)
	}
	if r.Status == StatusError || r.Status == StatusInterrupted {
		msg := r.Error
		if msg == "" {
			msg = "run " + r.Status
		}
		s.Cases = append(s.Cases, junitCase{Name: "run", Classname: "portlab." + r.ScenarioName,
			Error: &junitFailure{Message: msg, Type: r.Status, Text: msg}})
		s.Errors++
	}
	s.Tests = len(s.Cases)
	doc := junitSuites{Name: "portlab", Tests: s.Tests, Fails: s.Fails, Errors: s.Errors, Time: s.Time, Suites: []junitSuite{s}}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}
