package podlogs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tick is a clock that moves a millisecond a call.
func tick() func() time.Time {
	var n atomic.Int64
	return func() time.Time { return t0.Add(time.Duration(n.Add(1)) * time.Millisecond) }
}

// fileRecords parses the file at path; every line must be a record.
func fileRecords(t *testing.T, path string) []record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []record
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line == "" {
			continue
		}
		if !strings.HasSuffix(line, "\n") {
			t.Fatalf("%s: record without newline: %q", path, line)
		}
		r, err := parseRecord([]byte(strings.TrimSuffix(line, "\n")))
		if err != nil {
			t.Fatalf("%s: %q: %v", path, line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// show writes records as "<stream> <tag> <content>", one per line.
func show(recs []record) string {
	var b strings.Builder
	for _, r := range recs {
		tag := "F"
		if r.partial {
			tag = "P"
		}
		fmt.Fprintf(&b, "%s %s %s\n", r.stream, tag, r.content)
	}
	return b.String()
}

func TestStreamRecords(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string
		close  bool
		want   string
	}{
		{"lines", []string{"a\nb\n"}, false, "stdout F a\nstdout F b\n"},
		{"a line in pieces", []string{"a", "b", "c\n"}, false, "stdout F abc\n"},
		{"empty line", []string{"\n"}, false, "stdout F \n"},
		{"unfinished line waits", []string{"ab"}, false, ""},
		{"unfinished line at close", []string{"a\nbc"}, true, "stdout F a\nstdout P bc\n"},
		{"nothing to close", []string{"a\n"}, true, "stdout F a\n"},
		// MaxLine is 4 below.
		{"line of MaxLine", []string{"abcd\n"}, false, "stdout F abcd\n"},
		{"line of MaxLine in pieces", []string{"abcd", "\n"}, false, "stdout F abcd\n"},
		{"line over MaxLine", []string{"abcdefghij\n"}, false, "stdout P abcd\nstdout P efgh\nstdout F ij\n"},
		{"line of twice MaxLine", []string{"abcdefgh\n"}, false, "stdout P abcd\nstdout F efgh\n"},
		{"long line written before its end", []string{"abcdef"}, false, "stdout P abcd\n"},
		{"long line in pieces", []string{"ab", "cdef", "gh", "\n"}, false, "stdout P abcd\nstdout F efgh\n"},
		{"long unfinished line at close", []string{"abcdefghij"}, true, "stdout P abcd\nstdout P efgh\nstdout P ij\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l, err := Open(dir, 0, Options{MaxLine: 4, Clock: tick()})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = l.Close() }()
			w := l.Stream(Stdout)
			for _, s := range tc.writes {
				if n, err := w.Write([]byte(s)); err != nil || n != len(s) {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			if tc.close {
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if _, err := w.Write([]byte("x\n")); err == nil {
					t.Error("Write after Close succeeded")
				}
			}
			if got := show(fileRecords(t, filepath.Join(dir, "0.log"))); got != tc.want {
				t.Errorf("records:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestRecordFormatOnDisk(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, 2, Options{Clock: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = l.Stream(Stdout).Write([]byte("out\n"))
	_, _ = l.Stream(Stderr).Write([]byte("err"))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "2.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := "2026-01-02T15:04:05.000000000Z stdout F out\n2026-01-02T15:04:05.000000000Z stderr P err\n"
	if string(b) != want {
		t.Errorf("2.log = %q, want %q", b, want)
	}
	if _, err := l.Stream("stdin").Write([]byte("x")); err == nil {
		t.Error("an unknown stream was written")
	}
}

// TestConcurrentStreams writes long lines to both streams at once: each record must be
// whole, and each stream's lines, joined, what it wrote, in order.
func TestConcurrentStreams(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, 0, Options{MaxLine: 100, Clock: tick()})
	if err != nil {
		t.Fatal(err)
	}
	const lines = 200
	want := map[string][]string{}
	var wg sync.WaitGroup
	for _, stream := range []string{Stdout, Stderr} {
		for i := range lines {
			want[stream] = append(want[stream], fmt.Sprintf("%s-%03d-%s", stream, i, strings.Repeat(stream[3:], 120+i)))
		}
		wg.Add(1)
		go func(w interface{ Write([]byte) (int, error) }, lines []string) {
			defer wg.Done()
			for _, s := range lines {
				// Two writes a line, so that a line is also cut between writes.
				half := len(s) / 2
				if _, err := w.Write([]byte(s[:half])); err != nil {
					t.Error(err)
				}
				if _, err := w.Write([]byte(s[half:] + "\n")); err != nil {
					t.Error(err)
				}
			}
		}(l.Stream(stream), want[stream])
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	partial := map[string]string{}
	for _, r := range fileRecords(t, filepath.Join(dir, "0.log")) {
		if len(r.content) > 100 {
			t.Fatalf("record of %d bytes, over MaxLine", len(r.content))
		}
		partial[r.stream] += string(r.content)
		if !r.partial {
			got[r.stream] = append(got[r.stream], partial[r.stream])
			partial[r.stream] = ""
		}
	}
	for _, stream := range []string{Stdout, Stderr} {
		if !slices.Equal(got[stream], want[stream]) {
			t.Errorf("%s: got %d lines, want %d, or not the lines written", stream, len(got[stream]), len(want[stream]))
		}
	}
}
