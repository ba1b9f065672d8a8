// Package mp is portlab's fake ConfigMgr management point (MP): the HTTP and HTTPS
// request ports (default and alternate), the client notification server (persistent TCP
// sessions and HTTP/HTTPS long polling), a per-run CA with ECDSA or RSA server
// certificates, behaviour knobs (service time, error rate, response sizes, connection
// limit) and the counters the orchestrator reads. It speaks the wire shapes of
// wire and nothing else.
//
// It is not a real MP: bodies are shaped like ConfigMgr's (paths, verbs, multipart
// messages, MPLIST XML) but carry no real policy. It is built to be measured: run it as
// its own process (`portlab agent mp`, `portlab mp serve`) so /proc/<pid> shows its cost
// alone.
//
//	              ┌───────────────────────── Server ─────────────────────────┐
//	http  :80  ──►│ listener ─► limit+count ─► http.Server ─┐                 │
//	http  :8080──►│ listener ─► limit+count ─► http.Server ─┼─► handler ──────┼─► counters
//	https :443 ──►│ listener ─► limit+count ─► http.Server ─┤   (one mux)     │
//	notify:10123─►│ listener ─► limit+count ─► session loop ┴─► hub ◄── Push  │
//	              └──────────────────────────────────────────────────────────┘
//
// Each listener (role) has its own http.Server, so one port can go away without
// touching the others.
//
// # Port changes, Stop and Start
//
// SetPorts opens the new listeners first (if any fails, nothing changes), then removes
// the listeners whose address changed. A removed port behaves as if the port stopped
// existing on the MP:
//   - its listening socket is closed before SetPorts returns: new connections are refused;
//   - idle keep-alive HTTP connections on it are closed at once; a request in flight on it
//     completes (bounded by Limits.ShutdownGrace) and its connection is then closed, so a
//     client cannot keep using the old port through a pooled connection;
//   - long polls held on it are answered 204 at once and the connection closed; the
//     client's queued pushes stay queued under its GUID and reach it on its next poll on
//     any port;
//   - TCP notification sessions on a removed notification port are closed; clients
//     reconnect (to the port they know) or fall back to long polling.
//
// Listeners whose address did not change keep their connections and sessions.
// Stop closes every listener the same way and also forgets long-poll clients and their
// queues (a restarted MP has no memory); counters survive Stop and Start. Start rebinds
// the addresses last bound (an ephemeral port keeps the number it got).
package mp
