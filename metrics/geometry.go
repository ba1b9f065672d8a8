package metrics

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
)

// checkGeometry reads the header of an encoded histogram (HdrHistogram V2 compressed,
// base64) and refuses one whose geometry is not this package's (LowestMicros to
// HighestMicros at SigFigs): hdrhistogram.Decode allocates whatever the header asks
// for (1..MaxInt64 at 5 digits is 49 MB from a hundred bytes), and a histogram of
// another geometry would not merge losslessly anyway. Only the first 40 bytes of the
// zlib stream are inflated.
func checkGeometry(data string) error {
	full, err := base64.StdEncoding.DecodeString(data)
	if err != nil || len(full) < 8 {
		return fmt.Errorf("not base64 of an HdrHistogram")
	}
	n := int(binary.BigEndian.Uint32(full[4:8]))
	if n > len(full)-8 {
		return fmt.Errorf("truncated histogram")
	}
	z, err := zlib.NewReader(bytes.NewReader(full[8 : 8+n]))
	if err != nil {
		return fmt.Errorf("histogram is not zlib: %w", err)
	}
	defer z.Close()
	var hdr [40]byte
	if _, err := io.ReadFull(z, hdr[:]); err != nil {
		return fmt.Errorf("histogram header truncated")
	}
	sig := int32(binary.BigEndian.Uint32(hdr[12:16]))
	lowest := int64(binary.BigEndian.Uint64(hdr[16:24]))
	highest := int64(binary.BigEndian.Uint64(hdr[24:32]))
	if lowest != LowestMicros || highest != HighestMicros || sig != SigFigs {
		return fmt.Errorf("histogram geometry %d..%d at %d digits; want %d..%d at %d", lowest, highest, sig, LowestMicros, HighestMicros, SigFigs)
	}
	return nil
}
