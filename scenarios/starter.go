package scenarios

import (
	"fmt"
	"regexp"
	"strings"
)

const starterTemplate = `# yaml-language-server: $schema=scenario.schema.json
# A portlab scenario: rehearse a ConfigMgr client port change before making it.
# Run:   portlab validate NAME.yaml    then    portlab run NAME.yaml
# Every field is explained in the README ("Scenario format") and by the JSON Schema
# (portlab schema). Durations are compressed: seconds here stand for hours on a site.
version: 1
name: NAME
description: What this rehearsal shows, in one line.
duration: 60s          # how long the load runs (at most 1h)
ramp: 5s               # clients start spread over this window
seed: 1                # same seed, same schedule

site:
  code: PS1
  ports:               # the site's Ports tab
    http:  {default: 80, alternate: 8080}   # clients try the default, then the alternate
    https: {default: 443}
    notification: 10123                     # client notification, TCP
    wakeup: 9                               # wake-up packets, UDP
  domain: corp.example # AD DS and DNS domain (the site server serves both)
  publish: {ad: true, dns: false, delay: 10s}   # a site change reaches AD DS after 10s

network:
  segments:            # every address comes from 198.18.0.0/15 (RFC 2544)
    - {name: lan, clients: 198.18.16.0/20}  # clients' own source addresses
    - {name: dc}                            # subnet picked automatically
  routers:
    - name: core
      links: [lan, dc]
      firewall:
        default: accept
        rules:                              # first match wins; counters per rule
          - {name: no-8443, proto: tcp, port: 8443, action: drop}

management_points:
  - {name: mp1, segment: dc, tls: {key: rsa-2048}, service_time: 2ms}

clients:
  # Domain clients (the default membership) read the site's ports from AD DS again
  # when theirs fails, and know the alternate from there.
  - {group: pushed, count: 300, segment: lan, policy_interval: 5s}
  # Workgroup clients never read AD DS: no alternate port, and no new port.
  - {group: workgroup, count: 100, segment: lan, membership: workgroup, policy_interval: 5s}

timeline:
  - {at: 20s, site_ports: {http: {default: 8081}}}
  - {at: 25s, reconfigure: {group: pushed, method: push, over: 10s}}

gates:
  - {metric: unmanaged_fraction, group: pushed, op: "<=", value: 0}
  - {metric: unmanaged_fraction, group: workgroup, op: ">=", value: 0.99}
  - {metric: learned_fraction, group: workgroup, source: never, op: ">=", value: 0.99}
  - {metric: latency_p99, operation: policy, outcome: ok, op: "<", value: 250ms}
`

var starterNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// Starter returns a commented starter scenario called name that validates.
func Starter(name string) ([]byte, error) {
	if !starterNameRE.MatchString(name) {
		return nil, fmt.Errorf("invalid scenario name %q: use lower case letters, digits and dashes", name)
	}
	src := strings.ReplaceAll(starterTemplate, "NAME", name)
	return []byte(src), nil
}
