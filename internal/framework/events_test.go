package framework

import (
	"fmt"
	"strings"
	"testing"
)

// The frame reader reads RecordIO and refuses what is not, or too large, before
// allocating it.
func TestFrameReader(t *testing.T) {
	for _, tc := range []struct {
		in     string
		frames []string
		err    string // of the read after the frames
	}{
		{"3\nabc2\nde", []string{"abc", "de"}, "EOF"},
		{"0\n0\n3\nabc", []string{"abc"}, "EOF"},
		{"10\nabcdefghij", []string{"abcdefghij"}, "EOF"},
		{"11\nabcdefghijk", nil, "event of 11 bytes, more than MaxEventSize (10 bytes)"},
		{"000000000000000000000\n", nil, "21-digit number of bytes"},
		{"99999999999999999999\n", nil, "event of 99999999999999999999 bytes"},
		{"3\nab", nil, "unexpected EOF"},
		{"12", nil, "unexpected EOF"},
		{"\n", nil, `"\n" where a frame length was expected`},
		{" 3\nabc", nil, `" " where a frame length was expected`},
		{"3\r\nabc", nil, `"\r" where a frame length was expected`},
		{"-3\nabc", nil, `"-" where a frame length was expected`},
	} {
		f := newFrameReader(strings.NewReader(tc.in), 10)
		var got []string
		var err error
		for {
			var b []byte
			if b, err = f.next(); err != nil {
				break
			}
			got = append(got, string(b))
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.frames) || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: frames %q, %v; want %q, %s", tc.in, got, err, tc.frames, tc.err)
		}
	}
}
