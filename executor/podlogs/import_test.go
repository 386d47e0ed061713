package podlogs

import (
	"bytes"
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// A log imported from a kubelet's timestamped answer reads back as the kubelet would
// answer it: lines, timestamps and tail as they were.
func TestImport(t *testing.T) {
	dir := t.TempDir()
	in := "2026-11-30T10:00:00.5Z first\n2026-11-30T10:00:01.000000001Z second line\nno timestamp here\n"
	if err := Import(dir, 2, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	ended := make(chan struct{})
	close(ended)
	read := func(opts *corev1.PodLogOptions) string {
		var b bytes.Buffer
		if err := Read(context.Background(), Source{Dir: dir, Restart: 2, Ended: ended}, opts, &b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	if got := read(&corev1.PodLogOptions{}); got != "first\nsecond line\nno timestamp here\n" {
		t.Errorf("log = %q", got)
	}
	if got := read(&corev1.PodLogOptions{Timestamps: true, TailLines: ptr.To[int64](2)}); got !=
		"2026-11-30T10:00:01.000000001Z second line\n2026-11-30T10:00:01.000000001Z no timestamp here\n" {
		t.Errorf("the last two lines, with timestamps = %q", got)
	}
}

// A line longer than any buffer (a container that prints a megabytes-long JSON
// document) is imported whole, as records of at most DefaultMaxLine, not refused with
// the rest of the log; a log that ends in the middle of a line (its last output had no
// newline, or the kubelet's answer was cut) reads back without a newline, as the
// kubelet answers it.
func TestImportLongAndUnfinishedLines(t *testing.T) {
	long := strings.Repeat("x", 3<<20)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"a line over a megabyte", "2026-11-30T10:00:00Z " + long + "\n2026-11-30T10:00:01Z after\n", long + "\nafter\n"},
		{"an unfinished last line", "2026-11-30T10:00:00Z first\n2026-11-30T10:00:01Z no newline", "first\nno newline"},
		{"an unfinished long last line", "2026-11-30T10:00:00Z " + long, long},
		{"an empty line", "2026-11-30T10:00:00Z \n2026-11-30T10:00:01Z x\n", "\nx\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := Import(dir, 0, strings.NewReader(tc.in)); err != nil {
				t.Fatalf("Import: %v", err)
			}
			var b bytes.Buffer
			if err := Read(context.Background(), Source{Dir: dir, Ended: closedChan}, &corev1.PodLogOptions{}, &b); err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != tc.want {
				t.Errorf("read %d bytes %.40q…, want %d bytes %.40q…", len(got), got, len(tc.want), tc.want)
			}
		})
	}
}
