package wire

import (
	"bytes"
	"testing"
	"unicode/utf16"
)

// FuzzUTF16 checks the fast UTF-16LE writers against the standard library's encoding
// of the same runes (invalid UTF-8 becoming U+FFFD in both), appended after existing
// bytes, for strings and byte slices alike. Inputs are capped at 64 KiB.
func FuzzUTF16(f *testing.F) {
	for _, s := range []string{"", "abc", "PS1 <Msg>", "é", "a\xffb", "\U0001F600x", "xyz\xed\xa0\x80", "GUID:12345678-ABCD"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 64<<10 {
			return
		}
		var want []byte
		for _, u := range utf16.Encode([]rune(s)) {
			want = append(want, byte(u), byte(u>>8))
		}
		prefix := []byte{1, 2, 3}
		got := appendUTF16(append([]byte(nil), prefix...), s)
		if !bytes.Equal(got[:3], prefix) || !bytes.Equal(got[3:], want) {
			t.Fatalf("appendUTF16(%q) = % x, want % x", s, got[3:], want)
		}
		got = appendUTF16Bytes(append([]byte(nil), prefix...), []byte(s))
		if !bytes.Equal(got[:3], prefix) || !bytes.Equal(got[3:], want) {
			t.Fatalf("appendUTF16Bytes(%q) = % x, want % x", s, got[3:], want)
		}
	})
}
