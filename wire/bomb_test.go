package wire

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
	"time"
)

// zlibBomb returns a zlib stream of n MiB + 1 zero bytes, built without compressing
// them: one byte-aligned flate segment that inflates to 1 MiB of zeros (given zeros
// before it) is repeated n times between a one-byte prefix and the final block.
func zlibBomb(t testing.TB, mib int) (stream []byte, segment int) {
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write([]byte{0})
	fw.Flush()
	prefix := bytes.Clone(buf.Bytes())
	buf.Reset()
	fw.Write(make([]byte, 1<<20))
	fw.Flush()
	seg := bytes.Clone(buf.Bytes())
	buf.Reset()
	fw.Close()
	final := bytes.Clone(buf.Bytes())

	out := []byte{0x78, 0xDA}
	out = append(out, prefix...)
	for i := 0; i < mib; i++ {
		out = append(out, seg...)
	}
	out = append(out, final...)
	n := uint64(mib)<<20 + 1
	return binary.BigEndian.AppendUint32(out, uint32(n%65521)<<16|1), len(seg) // adler32 of n zeros
}

func bombBody(t testing.TB, payload []byte) []byte {
	return cat([]byte("--"+Boundary+"\r\ncontent-type: text/plain; charset=UTF-16\r\n\r\n\xFF\xFE"), u16le(variantHeader),
		[]byte("\r\n--"+Boundary+"\r\ncontent-type: application/octet-stream\r\n\r\n"), payload, []byte("\r\n--"+Boundary+"--\r\n"))
}

// TestZlibBomb: a payload part that inflates to 1 GiB is refused with ErrMalformed,
// quickly and in bounded memory; so is a ~1 KiB part that inflates to 1 MiB. (DEFLATE
// cannot expand more than 1032:1, so 1 GiB needs about 1 MiB of input: a 1 KiB part
// inflating to 1 GiB does not exist.)
func TestZlibBomb(t *testing.T) {
	gib, seg := zlibBomb(t, 1024)
	small, _ := zlibBomb(t, 1)
	t.Logf("1 GiB bomb: %d bytes; 1 MiB bomb: %d bytes (segment %d)", len(gib), len(small), seg)
	if len(small) > 2048 {
		t.Fatalf("small bomb is %d bytes", len(small))
	}
	cases := []struct {
		name    string
		payload []byte
		lim     Limits
	}{
		{"1 KiB to 1 MiB", small, Limits{PlainBytes: 64 << 10}},
		{"1 MiB to 1 GiB", gib, Limits{PayloadBytes: 4 << 20, PlainBytes: 1 << 20}},
	}
	for _, c := range cases {
		body := bombBody(t, c.payload)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		_, _, err := ReadMessage(ContentTypeCCM, body, c.lim)
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: err = %v, want ErrMalformed", c.name, err)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: refused in %v, %d KiB allocated: %v", c.name, took, alloc>>10, err)
		if alloc > 4<<20 {
			t.Fatalf("%s: %d bytes allocated, want under 4 MiB", c.name, alloc)
		}
		if took > 2*time.Second {
			t.Fatalf("%s: took %v", c.name, took)
		}
	}
	// The bomb is a valid stream: with room for it, it inflates (checks the test's bomb).
	if testing.Short() {
		return
	}
	out, err := inflate(nil, small, 2<<20)
	if err != nil || len(out) != 1<<20+1 {
		t.Fatalf("small bomb inflates to %d bytes: %v", len(out), err)
	}
}
