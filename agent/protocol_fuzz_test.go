package agent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// protocolSeeds are lines an orchestrator and an agent really exchange, and broken ones.
func protocolSeeds(f *testing.F) {
	var b bytes.Buffer
	w := NewWriter(&b)
	w.Send(TypeReady, 1, map[string]any{"clients": 3, "addr": "198.18.0.1:80"})
	w.Send(TypeSnapshot, 0, map[string]any{"histograms": []map[string]string{{"hist": "HISTFAAAAB54nJNpmSzMwMDAz8AFRCAAAAsQAUk="}}})
	w.SendError(2, errors.New("boom"))
	f.Add(b.Bytes())
	f.Add([]byte(`{"cmd":"config","id":1,"args":{"segment":"lan","clients":[{"group":"a"}]}}` + "\n" + `{"cmd":"stop","id":2}` + "\n"))
	f.Add([]byte("\n\n{\"cmd\":\"x\"}\r\n{not json\n"))
	f.Add([]byte(`{"cmd":"a","id":18446744073709551616}` + "\n"))
	f.Add([]byte(`{"type":"final","time":"not a time"}` + "\n"))
	f.Add([]byte(strings.Repeat("[", 10000) + "\n"))
	f.Add([]byte(`{"type":"x","time":"` + strings.Repeat("9", 6000) + `"}` + "\n"))
}

// FuzzReader feeds arbitrary bytes to the agent protocol's line reader, as an agent's
// stdout reaches the orchestrator: it must never panic, and must end (EOF or an error)
// after no more messages than lines. Inputs are capped at 1 MiB (a line may be up to
// MaxLine, 64 MiB, but longer inputs only slow the fuzzer). An error quotes a bounded
// part of the line: encoding/json's own message quotes a bad value whole (a line
// {"type":"x","time":"<6000 characters>"} gave a 6002-byte error, found by this target),
// so Next clips it.
func FuzzReader(f *testing.F) {
	protocolSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		r := NewReader(bytes.NewReader(data))
		for i := 0; ; i++ {
			if i > len(data)+1 {
				t.Fatalf("more messages than lines")
			}
			var m Message
			err := r.Next(&m)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				if len(err.Error()) > 1000 {
					t.Fatalf("error of %d bytes: %.100s", len(err.Error()), err)
				}
				return
			}
		}
	})
}

// FuzzCommands feeds arbitrary bytes to Commands, as the orchestrator's commands reach
// an agent's stdin: every command is delivered, the channel closes when the input ends,
// and the reason arrives on the error channel, in bounded time.
func FuzzCommands(f *testing.F) {
	protocolSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmds, errc := Commands(ctx, bytes.NewReader(data))
		n := 0
		for range cmds {
			n++
		}
		select {
		case err := <-errc:
			if err == nil {
				t.Fatal("Commands ended without a reason")
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Commands did not end within 10s on %d bytes", len(data))
			}
		default:
			t.Fatal("Commands closed its channel before sending the reason")
		}
		if n > bytes.Count(data, []byte("\n"))+1 {
			t.Fatalf("%d commands from %d lines", n, bytes.Count(data, []byte("\n"))+1)
		}
	})
}
