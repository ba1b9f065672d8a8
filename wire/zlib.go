package wire

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"slices"
	"sync"
)

// Compressors and decompressors are pooled: a zlib writer at the default level carries
// several hundred KiB of state, and making one per message is what the fleet used to
// work around by hand. A pooled one is Reset onto the next output instead.

// zlibWriterBox keeps a compressor with the writer it appends through, so that neither
// is allocated per message.
type zlibWriterBox struct {
	zw *zlib.Writer
	aw appendWriter
}

var zlibWriters = sync.Pool{New: func() any {
	box := new(zlibWriterBox)
	box.zw, _ = zlib.NewWriterLevel(&box.aw, zlib.DefaultCompression) // 78 9C, like zlib.compress in Python
	return box
}}

// zlibReaderBox keeps a reusable decompressor with the bytes.Reader it reads from.
type zlibReaderBox struct {
	src bytes.Reader
	zr  io.ReadCloser
}

var zlibReaders = sync.Pool{New: func() any { return new(zlibReaderBox) }}

// appendWriter is an io.Writer appending to a byte slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// appendZlib appends the zlib (RFC 1950) compression of src to dst with a pooled writer.
func appendZlib(dst, src []byte) []byte {
	box := zlibWriters.Get().(*zlibWriterBox)
	box.aw.b = dst
	box.zw.Reset(&box.aw)
	box.zw.Write(src) // appendWriter never fails
	box.zw.Close()
	dst = box.aw.b
	box.aw.b = nil // the pool must not keep the caller's buffer
	zlibWriters.Put(box)
	return dst
}

// looksZlib reports whether b starts with a zlib header (deflate, window <= 32 KiB, no
// preset dictionary, check bits right): 78 9C, 78 DA, 78 01, 78 5E and the like.
func looksZlib(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	cmf, flg := b[0], b[1]
	return cmf&0x0F == 8 && cmf>>4 <= 7 && flg&0x20 == 0 && (uint16(cmf)<<8|uint16(flg))%31 == 0
}

// inflate appends the decompression of src to dst, refusing (ErrMalformed) output larger
// than limit bytes: it stops reading at limit+1, so a bomb costs at most limit bytes of
// memory and the time to inflate that much. dst's capacity is reused.
func inflate(dst, src []byte, limit int) ([]byte, error) {
	box := zlibReaders.Get().(*zlibReaderBox)
	defer func() {
		box.src.Reset(nil)
		zlibReaders.Put(box)
	}()
	box.src.Reset(src)
	if box.zr == nil {
		zr, err := zlib.NewReader(&box.src)
		if err != nil {
			return dst, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
		}
		box.zr = zr
	} else if err := box.zr.(zlib.Resetter).Reset(&box.src, nil); err != nil {
		return dst, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	start := len(dst)
	stop := start + limit + 1 // holding this many bytes means the output is too large
	for {
		if len(dst) == cap(dst) && cap(dst) < stop {
			dst = slices.Grow(dst, min(max(len(dst)-start, 4096), stop-len(dst)))
		}
		room := min(cap(dst), stop)
		if len(dst) >= room {
			break
		}
		n, err := box.zr.Read(dst[len(dst):room])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			if len(dst) < stop {
				return dst, nil
			}
			break
		}
		if err != nil {
			return dst, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
		}
	}
	return dst, fmt.Errorf("%w: payload inflates to more than %d bytes", ErrMalformed, limit)
}
