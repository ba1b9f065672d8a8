// Package harness runs a scenario: it plans the run, builds the network (netsim), starts
// the management point, site and fleet agents inside their namespaces, drives the
// timeline, collects per-second snapshots and process cost, evaluates the gates and
// fills the result model of package reports.
//
// It is not for rendering results (reports) nor for the network itself (netsim); the
// agents' own logic lives in agent/mp and agent/fleet.
package harness
