package podlogs

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"
)

// writeLines writes n lines line-000, line-001, ... to stdout, one record each.
func writeLines(t *testing.T, l *Log, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := fmt.Fprintf(l.Stream(Stdout), "line-%03d\n", i); err != nil {
			t.Fatal(err)
		}
	}
}

func lineNames(from, to int) []string {
	var s []string
	for i := from; i < to; i++ {
		s = append(s, fmt.Sprintf("line-%03d", i))
	}
	return s
}

// instanceContent returns the lines of an instance's files, oldest file first.
func instanceContent(t *testing.T, dir string, restart int) (files []string, lines []string) {
	t.Helper()
	rotated, err := rotatedPaths(dir, restart)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(rotated, currentPath(dir, restart)) {
		files = append(files, filepath.Base(p))
		for _, r := range fileRecords(t, p) {
			lines = append(lines, string(r.content))
		}
	}
	return files, lines
}

func TestRotation(t *testing.T) {
	// A record of line-NNN is 49 bytes: 6 fit in 300.
	const recordSize = 49
	for _, tc := range []struct {
		name      string
		opts      Options
		lines     int
		wantFiles []string
		// wantFrom is the first line kept; the last is always kept.
		wantFrom int
	}{
		{
			name:  "rotated files keep MaxFiles in all",
			opts:  Options{MaxSize: 300, MaxFiles: 3, MaxLine: 16, Clock: stepClock(time.Second)},
			lines: 40,
			// 6 lines a file: 6 rotations, before lines 6, 12, ..., 36; the clock is
			// called once a record and once a rotation, so the k-th rotation is its
			// (7k+1)-th call, at 15:04:05 + 7k+1 s. The last two are kept.
			wantFiles: []string{"0.log.20260102-150441", "0.log.20260102-150448", "0.log"},
			wantFrom:  24,
		},
		{
			// Rotations within a second are told apart, and ordered, by a sequence
			// number, 10 after 9.
			name:  "rotations within a second",
			opts:  Options{MaxSize: 300, MaxFiles: 4, MaxLine: 16, Clock: func() time.Time { return t0 }},
			lines: 100,
			// 16 rotations: the first named by the second alone, then .1 to .15.
			wantFiles: []string{"0.log.20260102-150405.13", "0.log.20260102-150405.14", "0.log.20260102-150405.15", "0.log"},
			wantFrom:  78,
		},
		{
			// A clock set back must not make a new file sort before the older ones.
			name:      "a clock going back",
			opts:      Options{MaxSize: 300, MaxFiles: 3, MaxLine: 16, Clock: stepClock(-time.Second)},
			lines:     40,
			wantFiles: []string{"0.log.20260102-150357.4", "0.log.20260102-150357.5", "0.log"},
			wantFrom:  24,
		},
		{
			name:      "no rotation with a negative MaxSize",
			opts:      Options{MaxSize: -1, MaxFiles: 2, Clock: tick()},
			lines:     40,
			wantFiles: []string{"0.log"},
			wantFrom:  0,
		},
		{
			name:      "a file not filled is not rotated",
			opts:      Options{MaxSize: 6 * recordSize, MaxFiles: 2, MaxLine: 16, Clock: tick()},
			lines:     6,
			wantFiles: []string{"0.log"},
			wantFrom:  0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l, err := Open(dir, 0, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			writeLines(t, l, 0, tc.lines)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			files, lines := instanceContent(t, dir, 0)
			if !slices.Equal(files, tc.wantFiles) {
				t.Errorf("files %v, want %v", files, tc.wantFiles)
			}
			if want := lineNames(tc.wantFrom, tc.lines); !slices.Equal(lines, want) {
				t.Errorf("lines kept %v, want %v", lines, want)
			}
			for _, f := range files {
				st, err := os.Stat(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				if tc.opts.MaxSize > 0 && st.Size() > tc.opts.MaxSize {
					t.Errorf("%s is %d bytes, over MaxSize %d", f, st.Size(), tc.opts.MaxSize)
				}
			}
		})
	}
}

// stepClock is a clock that moves step a call.
func stepClock(step time.Duration) func() time.Time {
	n := 0
	return func() time.Time {
		n++
		return t0.Add(time.Duration(n) * step)
	}
}

func TestRotatedNamesAsTheKubelet(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, 7, Options{MaxSize: 100, MaxFiles: 2, MaxLine: 16, Clock: stepClock(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	writeLines(t, l, 0, 10)
	_ = l.Close()
	rotated, err := rotatedPaths(dir, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated) != 1 || !regexp.MustCompile(`^7\.log\.\d{8}-\d{6}$`).MatchString(filepath.Base(rotated[0])) {
		t.Errorf("rotated files %v, want one <n>.log.<yyyymmdd-hhmmss>", rotated)
	}
}

func TestOpenRemovesOlderInstances(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"0.log", "0.log.20260101-000000", "1.log", "1.log.20260101-000000", "2.log", "stdout", "9.log.gz"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, err := Open(dir, 2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// The previous instance (1) stays, and what is not a log of this package.
	want := []string{"1.log", "1.log.20260101-000000", "2.log", "9.log.gz", "stdout"}
	if !slices.Equal(names, want) {
		t.Errorf("files %v, want %v", names, want)
	}
}

func TestOpenContinuesAnInstance(t *testing.T) {
	dir := t.TempDir()
	for i := range 2 {
		l, err := Open(dir, 0, Options{Clock: tick()})
		if err != nil {
			t.Fatal(err)
		}
		writeLines(t, l, i, 1)
		_ = l.Close()
	}
	if _, lines := instanceContent(t, dir, 0); !slices.Equal(lines, lineNames(0, 2)) {
		t.Errorf("lines %v, want both opens'", lines)
	}
}

func TestOpenOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		restart int
		opts    Options
	}{
		{"negative restart", -1, Options{}},
		{"one file", 0, Options{MaxFiles: 1}},
		{"a line not fitting a file", 0, Options{MaxSize: 100, MaxLine: 64}},
		{"negative line", 0, Options{MaxLine: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if l, err := Open(t.TempDir(), tc.restart, tc.opts); err == nil {
				_ = l.Close()
				t.Error("Open succeeded")
			}
		})
	}
}
