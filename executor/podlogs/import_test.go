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
