package podlogs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// rec is a record at t0 plus sec seconds; a line of another format when stream is "".
type rec struct {
	sec     int
	stream  string
	tag     string
	content string
}

func writeRecords(t *testing.T, path string, recs ...rec) {
	t.Helper()
	var b []byte
	for _, r := range recs {
		if r.stream == "" {
			b = append(b, r.content...)
			continue
		}
		b = appendRecord(b, t0.Add(time.Duration(r.sec)*time.Second), r.stream, r.tag == "P", []byte(r.content))
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readString(t *testing.T, src Source, opts *corev1.PodLogOptions) (string, error) {
	t.Helper()
	var b bytes.Buffer
	err := Read(context.Background(), src, opts, &b)
	return b.String(), err
}

func at(sec int) *metav1.Time { return &metav1.Time{Time: t0.Add(time.Duration(sec) * time.Second)} }

func stamp(sec int) string {
	return t0.Add(time.Duration(sec) * time.Second).Format(timeFormat)
}

func TestReadOptions(t *testing.T) {
	dir := t.TempDir()
	writeRecords(t, filepath.Join(dir, "0.log"),
		rec{0, Stdout, "F", "one"},
		rec{1, Stderr, "F", "two"},
		rec{2, Stdout, "P", "thr"},
		rec{3, Stdout, "F", "ee"},
		rec{4, Stderr, "F", "four"},
		rec{5, Stdout, "F", "five"},
	)
	stdout, stderr := corev1.LogStreamStdout, corev1.LogStreamStderr
	for _, tc := range []struct {
		name string
		opts corev1.PodLogOptions
		want string
	}{
		{"all", corev1.PodLogOptions{}, "one\ntwo\nthree\nfour\nfive\n"},
		{"timestamps", corev1.PodLogOptions{Timestamps: true},
			stamp(0) + " one\n" + stamp(1) + " two\n" + stamp(2) + " three\n" + stamp(4) + " four\n" + stamp(5) + " five\n"},
		{"stdout", corev1.PodLogOptions{Stream: &stdout}, "one\nthree\nfive\n"},
		{"stderr", corev1.PodLogOptions{Stream: &stderr}, "two\nfour\n"},
		{"all streams", corev1.PodLogOptions{Stream: ptr.To(corev1.LogStreamAll)}, "one\ntwo\nthree\nfour\nfive\n"},
		{"since a line's time", corev1.PodLogOptions{SinceTime: at(2)}, "three\nfour\nfive\n"},
		// A line is as old as its first record.
		{"since within a line", corev1.PodLogOptions{SinceTime: at(3)}, "four\nfive\n"},
		{"since after all", corev1.PodLogOptions{SinceTime: at(6)}, ""},
		{"tail 0", corev1.PodLogOptions{TailLines: ptr.To[int64](0)}, ""},
		{"tail 1", corev1.PodLogOptions{TailLines: ptr.To[int64](1)}, "five\n"},
		{"tail 2", corev1.PodLogOptions{TailLines: ptr.To[int64](2)}, "four\nfive\n"},
		{"tail of a joined line", corev1.PodLogOptions{TailLines: ptr.To[int64](3)}, "three\nfour\nfive\n"},
		{"tail over all", corev1.PodLogOptions{TailLines: ptr.To[int64](10)}, "one\ntwo\nthree\nfour\nfive\n"},
		{"limit within a line", corev1.PodLogOptions{LimitBytes: ptr.To[int64](6)}, "one\ntw"},
		{"limit at a line", corev1.PodLogOptions{LimitBytes: ptr.To[int64](4)}, "one\n"},
		{"limit over all", corev1.PodLogOptions{LimitBytes: ptr.To[int64](100)}, "one\ntwo\nthree\nfour\nfive\n"},
		{"limit counts timestamps", corev1.PodLogOptions{LimitBytes: ptr.To[int64](10), Timestamps: true}, "2026-01-02"},
		{"tail, timestamps and limit", corev1.PodLogOptions{TailLines: ptr.To[int64](2), Timestamps: true, LimitBytes: ptr.To[int64](40)},
			stamp(4) + " four\n" + "2026"},
		{"tail then since", corev1.PodLogOptions{TailLines: ptr.To[int64](3), SinceTime: at(3)}, "four\nfive\n"},
		{"stream, since and timestamps", corev1.PodLogOptions{Stream: &stdout, SinceTime: at(1), Timestamps: true},
			stamp(2) + " three\n" + stamp(5) + " five\n"},
		{"stream and limit", corev1.PodLogOptions{Stream: &stderr, LimitBytes: ptr.To[int64](5)}, "two\nf"},
		{"follow of an ended instance", corev1.PodLogOptions{Follow: true, TailLines: ptr.To[int64](1)}, "five\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readString(t, Source{Dir: dir, Ended: closedChan}, &tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("read %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadSinceSeconds(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	var b []byte
	for _, ago := range []int{100, 50, 10} {
		b = appendRecord(b, now.Add(-time.Duration(ago)*time.Second), Stdout, false, []byte(time.Duration(ago*int(time.Second)).String()))
	}
	if err := os.WriteFile(filepath.Join(dir, "0.log"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts corev1.PodLogOptions
		want string
	}{
		{"since seconds", corev1.PodLogOptions{SinceSeconds: ptr.To[int64](30)}, "10s\n"},
		{"since seconds over all", corev1.PodLogOptions{SinceSeconds: ptr.To[int64](300)}, "1m40s\n50s\n10s\n"},
		// The later of the two, as the kubelet.
		{"since time later", corev1.PodLogOptions{SinceSeconds: ptr.To[int64](60), SinceTime: &metav1.Time{Time: now.Add(-20 * time.Second)}}, "10s\n"},
		{"since seconds later", corev1.PodLogOptions{SinceSeconds: ptr.To[int64](60), SinceTime: &metav1.Time{Time: now.Add(-200 * time.Second)}}, "50s\n10s\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readString(t, Source{Dir: dir}, &tc.opts)
			if err != nil || got != tc.want {
				t.Errorf("read %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestReadPartialLines: the pieces of a line are joined per stream, whatever the other
// stream writes between them, and the tail counts joined lines.
func TestReadPartialLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		recs []rec
		tail *int64
		want string
	}{
		{"joined", []rec{{0, Stdout, "P", "ab"}, {1, Stdout, "P", "cd"}, {2, Stdout, "F", "ef"}}, nil, "abcdef\n"},
		{"interleaved", []rec{{0, Stdout, "P", "ab"}, {1, Stderr, "F", "x"}, {2, Stdout, "F", "cd"}}, nil, "x\nabcd\n"},
		{"interleaved tail 1", []rec{{0, Stdout, "P", "ab"}, {1, Stderr, "F", "x"}, {2, Stdout, "F", "cd"}}, ptr.To[int64](1), "abcd\n"},
		{"a line started long before", []rec{{0, Stderr, "P", "s1"}, {1, Stdout, "F", "a"}, {2, Stdout, "F", "b"}, {3, Stdout, "F", "c"}, {4, Stderr, "F", "s2"}},
			nil, "a\nb\nc\ns1s2\n"},
		{"tail of a line started long before", []rec{{0, Stderr, "P", "s1"}, {1, Stdout, "F", "a"}, {2, Stdout, "F", "b"}, {3, Stdout, "F", "c"}, {4, Stderr, "F", "s2"}},
			ptr.To[int64](1), "s1s2\n"},
		{"tail 2 of a line started long before", []rec{{0, Stderr, "P", "s1"}, {1, Stdout, "F", "a"}, {2, Stdout, "F", "b"}, {3, Stdout, "F", "c"}, {4, Stderr, "F", "s2"}},
			ptr.To[int64](2), "c\ns1s2\n"},
		// The tail's start is found past a line before it, the stderr one in pieces
		// ending last, and the stdout line before that start is skipped.
		{"tail 2 of a line started long before, between others", []rec{{0, Stderr, "F", "z"}, {1, Stdout, "F", "a"}, {2, Stderr, "P", "s1"}, {3, Stdout, "F", "b"}, {4, Stdout, "F", "c"}, {5, Stderr, "F", "s2"}},
			ptr.To[int64](2), "c\ns1s2\n"},
		{"unfinished line", []rec{{0, Stdout, "F", "a"}, {1, Stderr, "F", "e"}, {2, Stdout, "P", "b"}}, nil, "a\ne\nb"},
		{"tail 1 of an unfinished line", []rec{{0, Stdout, "F", "a"}, {1, Stderr, "F", "e"}, {2, Stdout, "P", "b"}}, ptr.To[int64](1), "b"},
		{"tail 2 of an unfinished line", []rec{{0, Stdout, "F", "a"}, {1, Stderr, "F", "e"}, {2, Stdout, "P", "b"}}, ptr.To[int64](2), "e\nb"},
		{"tail 0 of an unfinished line", []rec{{0, Stdout, "F", "a"}, {1, Stdout, "P", "b"}}, ptr.To[int64](0), ""},
		{"two unfinished lines", []rec{{0, Stdout, "P", "x"}, {1, Stderr, "P", "y"}}, nil, "xy"},
		{"tail 1 of two unfinished lines", []rec{{0, Stdout, "P", "x"}, {1, Stderr, "P", "y"}}, ptr.To[int64](1), "y"},
		{"not records skipped", []rec{{0, Stdout, "F", "a"}, {content: "garbage\n"}, {1, Stdout, "F", "b"}}, ptr.To[int64](2), "a\nb\n"},
		{"a record being written is not read", []rec{{0, Stdout, "F", "a"}, {content: "2026-01-02T15:04:05Z stdout F b"}}, nil, "a\n"},
		{"a record being written is not a line of the tail", []rec{{0, Stdout, "F", "a"}, {content: "2026-01-02T15:04:05Z stdout F b"}}, ptr.To[int64](1), "a\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeRecords(t, filepath.Join(dir, "0.log"), tc.recs...)
			got, err := readString(t, Source{Dir: dir}, &corev1.PodLogOptions{TailLines: tc.tail})
			if err != nil || got != tc.want {
				t.Errorf("read %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestReadJoinsAtMostMaxJoin(t *testing.T) {
	dir := t.TempDir()
	piece := string(bytes.Repeat([]byte("x"), maxJoin/2))
	writeRecords(t, filepath.Join(dir, "0.log"),
		rec{0, Stdout, "P", piece}, rec{1, Stdout, "P", piece}, rec{2, Stdout, "P", piece}, rec{3, Stdout, "F", "end"})
	var out recordingWriter
	if err := Read(context.Background(), Source{Dir: dir}, &corev1.PodLogOptions{Timestamps: true}, &out); err != nil {
		t.Fatal(err)
	}
	want := stamp(0) + " " + piece + piece + piece + "end\n"
	if got := out.String(); got != want {
		t.Errorf("read %d bytes, want %d: the line, with one timestamp", len(got), len(want))
	}
	if len(out.writes) != 2 {
		t.Errorf("%d writes, want the line written in 2, once past maxJoin", len(out.writes))
	}
}

type recordingWriter struct {
	bytes.Buffer
	writes []int
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, len(p))
	return w.Buffer.Write(p)
}

func TestReadRotatedFiles(t *testing.T) {
	dir := t.TempDir()
	writeRecords(t, filepath.Join(dir, "0.log.20260101-000000"), rec{0, Stdout, "F", "a"}, rec{1, Stdout, "P", "b"})
	writeRecords(t, filepath.Join(dir, "0.log.20260101-000000.2"), rec{2, Stdout, "F", "c"})
	writeRecords(t, filepath.Join(dir, "0.log.20260101-000000.10"), rec{3, Stdout, "F", "d"})
	writeRecords(t, filepath.Join(dir, "0.log"), rec{4, Stdout, "F", "e"})
	writeRecords(t, filepath.Join(dir, "1.log.20260101-000000"), rec{4, Stdout, "F", "another instance"})
	for _, tc := range []struct {
		tail *int64
		want string
	}{
		{nil, "a\nbc\nd\ne\n"},
		{ptr.To[int64](2), "d\ne\n"},
		// The line goes on from one file to the next.
		{ptr.To[int64](3), "bc\nd\ne\n"},
		{ptr.To[int64](4), "a\nbc\nd\ne\n"},
	} {
		got, err := readString(t, Source{Dir: dir}, &corev1.PodLogOptions{TailLines: tc.tail})
		if err != nil || got != tc.want {
			t.Errorf("tail %v: read %q, %v; want %q", tc.tail, got, err, tc.want)
		}
	}
}

func TestReadPrevious(t *testing.T) {
	dir := t.TempDir()
	writeRecords(t, filepath.Join(dir, "0.log"), rec{0, Stdout, "F", "first run"})
	empty := t.TempDir()
	writeRecords(t, filepath.Join(dir, "1.log"), rec{1, Stdout, "F", "second run"})
	for _, tc := range []struct {
		name     string
		restart  int
		previous bool
		want     string
		wantErr  error
	}{
		{"current", 1, false, "second run\n", nil},
		{"previous", 1, true, "first run\n", nil},
		{"no previous", 0, true, "", ErrNotFound},
		// Waiting to restart: the last run, both ways, as the kubelet reads lastState.
		{"waiting to restart", 2, false, "second run\n", nil},
		{"previous while waiting to restart", 2, true, "second run\n", nil},
		{"not started at all", 0, false, "", ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Following the previous instance ends at its end: it has ended.
			d := dir
			if tc.name == "not started at all" {
				d = empty
			}
			got, err := readString(t, Source{Dir: d, Restart: tc.restart}, &corev1.PodLogOptions{Previous: tc.previous, Follow: tc.previous})
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Errorf("read %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestReadInvalidStream(t *testing.T) {
	dir := t.TempDir()
	writeRecords(t, filepath.Join(dir, "0.log"), rec{0, Stdout, "F", "a"})
	if _, err := readString(t, Source{Dir: dir}, &corev1.PodLogOptions{Stream: ptr.To("stdin")}); err == nil {
		t.Error("stream stdin read")
	}
}

func TestReadNoDirectory(t *testing.T) {
	_, err := readString(t, Source{Dir: filepath.Join(t.TempDir(), "never-written")}, nil)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("read of a missing directory: %v, want ErrNotFound", err)
	}
}
