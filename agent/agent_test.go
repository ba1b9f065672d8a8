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

func TestWriterReaderRoundTrip(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	if err := w.Send(TypeReady, 7, map[string]int{"clients": 3}); err != nil {
		t.Fatal(err)
	}
	if err := w.SendError(8, errors.New("boom")); err != nil {
		t.Fatal(err)
	}
	r := NewReader(&b)
	var m Message
	if err := r.Next(&m); err != nil || m.Type != TypeReady || m.ID != 7 || string(m.Data) != `{"clients":3}` {
		t.Fatalf("%+v %v", m, err)
	}
	if err := r.Next(&m); err != nil || m.Type != TypeError || m.Error != "boom" {
		t.Fatalf("%+v %v", m, err)
	}
	if err := r.Next(&m); !errors.Is(err, io.EOF) {
		t.Fatalf("want EOF, got %v", err)
	}
	if err := NewReader(strings.NewReader("{not json\n")).Next(&m); err == nil {
		t.Fatal("a bad line must be an error")
	}
}

func TestCommandsEndsWithInput(t *testing.T) {
	in := strings.NewReader(`{"cmd":"config","id":1}` + "\n\n" + `{"cmd":"stop","id":2}` + "\n")
	cmds, errc := Commands(context.Background(), in)
	var got []string
	for c := range cmds {
		got = append(got, c.Cmd)
	}
	if strings.Join(got, ",") != "config,stop" {
		t.Fatalf("got %v", got)
	}
	if err := <-errc; !errors.Is(err, io.EOF) {
		t.Fatalf("want EOF, got %v", err)
	}
}

func TestCommandsEndsWithContext(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmds, errc := Commands(ctx, pr)
	go pw.Write([]byte(`{"cmd":"a"}` + "\n"))
	<-cmds // delivered
	go pw.Write([]byte(`{"cmd":"b"}` + "\n"))
	cancel() // nobody receives "b": the reader can only see the context end
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want context.Canceled, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reader did not stop after the context ended")
	}
	if _, open := <-cmds; open {
		t.Fatal("channel still open")
	}
}
