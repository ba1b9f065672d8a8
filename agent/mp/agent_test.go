package mp

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/portlab/portlab/agent"
	"github.com/portlab/portlab/wire"
)

// agentConn drives the agent (agent.Serve) in-process through pipes, as the orchestrator would.
type agentConn struct {
	t    testing.TB
	in   *io.PipeWriter
	out  *agent.Reader
	msgs chan agent.Message
	done chan error
	next uint64
}

func startAgent(t testing.TB) *agentConn {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	a := &agentConn{t: t, in: inW, out: agent.NewReader(outR), msgs: make(chan agent.Message, 64), done: make(chan error, 1)}
	go func() {
		err := agent.Serve(context.Background(), inR, outW, nil, &Agent{})
		outW.Close()
		a.done <- err
	}()
	go a.pump()
	t.Cleanup(func() { inW.Close() })
	return a
}

// pump hands the agent's messages to a.msgs until its output ends.
func (a *agentConn) pump() {
	defer close(a.msgs)
	for {
		var m agent.Message
		if err := a.out.Next(&m); err != nil {
			return
		}
		a.msgs <- m
	}
}

func (a *agentConn) send(cmd string, args any) uint64 {
	a.t.Helper()
	a.next++
	c := agent.Command{Cmd: cmd, ID: a.next}
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			a.t.Fatal(err)
		}
		c.Args = b
	}
	if err := agent.NewWriter(a.in).Write(c); err != nil {
		a.t.Fatal(err)
	}
	return a.next
}

// reply waits for the message answering id (periodic snapshots are skipped).
func (a *agentConn) reply(id uint64, into any) agent.Message {
	a.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-a.msgs:
			if !ok {
				a.t.Fatalf("agent output ended waiting for reply %d", id)
			}
			if m.ID != id {
				continue
			}
			if m.Type == agent.TypeError {
				a.t.Fatalf("command %d: %s", id, m.Error)
			}
			if into != nil {
				if err := json.Unmarshal(m.Data, into); err != nil {
					a.t.Fatal(err)
				}
			}
			return m
		case <-timeout:
			a.t.Fatalf("no reply to command %d", id)
		}
	}
}

func TestAgent(t *testing.T) {
	a := startAgent(t)
	dir := t.TempDir()
	cfg := Config{Name: "mp1", SiteCode: "PS1", Listen: allRoles(), TLS: TLSConfig{Key: KeyECDSAP256, Resumption: true, CAFile: dir + "/ca.pem"}, ServiceTime: ServiceTime{Dist: "fixed"}}
	var ready ReadyData
	if m := a.reply(a.send(CmdConfig, cfg), &ready); m.Type != agent.TypeReady {
		t.Fatalf("first reply %s", m.Type)
	}
	if !ready.Addrs.HTTP.IsValid() || !ready.Addrs.Notification.IsValid() || ready.CACertPEM == "" || ready.CAFile == "" {
		t.Fatalf("ready %+v", ready)
	}
	pool, err := LoadPool(ready.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if resp, err := c.Get("https://" + ready.Addrs.HTTPS.String() + wire.PathAut + "?MPLIST"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("https via CA file: %v", err)
	} else {
		resp.Body.Close()
	}

	sess := tcpLogin(t, ready.Addrs.Notification, "g1", "grp")
	var pr PushReply
	a.reply(a.send(CmdPush, PushArgs{Group: "grp", Action: "machine-policy"}), &pr)
	if p := readPush(t, sess); p.ID != pr.ID || pr.ID == 0 {
		t.Fatalf("push %+v, reply %+v", p, pr)
	}
	wire.WriteFrame(sess, wire.FrameAck, wire.Ack{ID: pr.ID})
	wire.WriteFrame(sess, wire.FrameKeepAlive, nil)
	wire.ReadFrame(sess)

	var snap Snapshot
	if m := a.reply(a.send(CmdSnapshot, nil), &snap); m.Type != agent.TypeAck {
		t.Fatalf("snapshot reply %s", m.Type)
	}
	if snap.Notify.Acks["tcp"] != 1 || snap.Notify.Latency["tcp"].Hist == "" || snap.Process.RSSBytes == 0 {
		t.Fatalf("snapshot notify %+v process %+v", snap.Notify, snap.Process)
	}

	var addrs Listen
	want := ready.Addrs
	want.HTTP = lo0
	a.reply(a.send(CmdSetPorts, want), &addrs)
	if addrs.HTTP == ready.Addrs.HTTP || !refused(ready.Addrs.HTTP) {
		t.Fatalf("set_ports: %+v", addrs)
	}
	a.reply(a.send(CmdStop, nil), nil)
	if !refused(addrs.HTTP) {
		t.Fatal("stopped agent accepts")
	}
	a.reply(a.send(CmdStart, nil), &addrs)
	if refused(addrs.HTTP) {
		t.Fatal("started agent refuses")
	}
	id := a.send("bogus", nil)
	for m := range a.msgs {
		if m.ID == id {
			if m.Type != agent.TypeError {
				t.Fatalf("bogus command answered %s", m.Type)
			}
			break
		}
	}
	// Closing stdin ends the agent with a final snapshot.
	a.in.Close()
	var final agent.Message
	for m := range a.msgs {
		if m.Type == agent.TypeFinal {
			final = m
		}
	}
	if final.Type != agent.TypeFinal {
		t.Fatal("no final message")
	}
	select {
	case err := <-a.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("agent did not exit after stdin closed")
	}
}

func TestAgentBadConfig(t *testing.T) {
	a := startAgent(t)
	id := a.send(CmdConfig, Config{Name: "", Listen: allRoles()})
	for m := range a.msgs {
		if m.ID == id && m.Type == agent.TypeError {
			return
		}
	}
	t.Fatal("bad config not answered with an error")
}
