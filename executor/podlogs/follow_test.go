package podlogs

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/k8sm/k8sm/internal/testio"
)

func init() { pollInterval = 5 * time.Millisecond }

// eventually waits for cond, failing after a few seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// follow starts reading src with opts in the background.
func follow(src Source, opts *corev1.PodLogOptions) (*testio.SyncBuffer, <-chan error, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &testio.SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Read(ctx, src, opts, out) }()
	return out, done, cancel
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("the read did not return")
		return nil
	}
}

func TestFollowUntilEnded(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, 0, Options{Clock: tick()})
	if err != nil {
		t.Fatal(err)
	}
	writeLines(t, l, 0, 2)
	ended := make(chan struct{})
	out, done, cancel := follow(Source{Dir: dir, Ended: ended}, &corev1.PodLogOptions{Follow: true})
	defer cancel()
	eventually(t, "the lines written before", func() bool { return out.String() == "line-000\nline-001\n" })
	writeLines(t, l, 2, 1)
	eventually(t, "a line written after", func() bool { return out.String() == "line-000\nline-001\nline-002\n" })
	// A line's pieces are joined as they come.
	_, _ = l.Stream(Stderr).Write([]byte("half"))
	time.Sleep(20 * time.Millisecond)
	_, _ = l.Stream(Stderr).Write([]byte(" and half\nunfinished"))
	eventually(t, "a line written in two", func() bool { return strings.HasSuffix(out.String(), "line-002\nhalf and half\n") })
	select {
	case err := <-done:
		t.Fatalf("the read returned (%v) while the instance runs", err)
	case <-time.After(50 * time.Millisecond):
	}
	// The runtime closes the log, then says the instance ended: the read writes what
	// is left, the unfinished line too, and returns.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	close(ended)
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "line-000\nline-001\nline-002\nhalf and half\nunfinished"; got != want {
		t.Errorf("read %q, want %q", got, want)
	}
}

func TestFollowEndsWithContext(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, 0, Options{Clock: tick()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	_, done, cancel := follow(Source{Dir: dir}, &corev1.PodLogOptions{Follow: true})
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := wait(t, done); !errors.Is(err, context.Canceled) {
		t.Errorf("read returned %v, want context.Canceled", err)
	}
}

func TestFollowTail(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, 0, Options{Clock: tick()})
	if err != nil {
		t.Fatal(err)
	}
	writeLines(t, l, 0, 5)
	// A line longer than MaxLine, unfinished when the reads start.
	long := strings.Repeat("x", DefaultMaxLine+1)
	_, _ = l.Stream(Stderr).Write([]byte(long))
	ended := make(chan struct{})
	want := map[int64]string{
		// No line: the unfinished one started before, so none of it either.
		0: "line-005\n",
		// The unfinished line is the last one.
		1: long + "\nline-005\n",
		2: "line-004\n" + long + "\nline-005\n",
	}
	outs := map[int64]*testio.SyncBuffer{}
	for tail := range want {
		out, done, cancel := follow(Source{Dir: dir, Ended: ended}, &corev1.PodLogOptions{Follow: true, TailLines: ptr.To(tail)})
		defer func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("read: %v", err)
			}
		}()
		outs[tail] = out
	}
	time.Sleep(20 * time.Millisecond)
	_, _ = l.Stream(Stderr).Write([]byte("\n"))
	writeLines(t, l, 5, 1)
	for tail, out := range outs {
		eventually(t, fmt.Sprintf("tail %d", tail), func() bool { return out.String() == want[tail] })
	}
}

// TestFollowAcrossRotation writes while a reader follows, through many rotations: the
// reader must read every line once, in order, finishing each rotated file before the
// next.
func TestFollowAcrossRotation(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, 3, Options{MaxSize: 300, MaxFiles: 1000, MaxLine: 16, Clock: tick()})
	if err != nil {
		t.Fatal(err)
	}
	writeLines(t, l, 0, 10)
	ended := make(chan struct{})
	out, done, cancel := follow(Source{Dir: dir, Restart: 3, Ended: ended}, &corev1.PodLogOptions{Follow: true, TailLines: ptr.To[int64](3)})
	defer cancel()
	eventually(t, "the tail", func() bool { return out.String() == strings.Join(lineNames(7, 10), "\n")+"\n" })
	for i := 10; i < 500; i += 10 {
		writeLines(t, l, i, 10)
		time.Sleep(time.Millisecond)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	close(ended)
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), strings.Join(lineNames(7, 500), "\n")+"\n"; got != want {
		t.Errorf("read %d bytes, want %d: lines lost, repeated or out of order", len(got), len(want))
		gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
		for i := range gl {
			if i >= len(wl) || gl[i] != wl[i] {
				t.Logf("first difference at line %d: %q", i, gl[i])
				break
			}
		}
		// Whether the writer or the reader lost them.
		rotated, _ := rotatedPaths(dir, 3)
		for _, p := range rotated {
			recs := fileRecords(t, p)
			t.Logf("%s: %s..%s", filepath.Base(p), recs[0].content, recs[len(recs)-1].content)
		}
	}
	if rotated, _ := rotatedPaths(dir, 3); len(rotated) < 50 {
		t.Errorf("%d rotations, want more", len(rotated))
	}
}

// TestFollowPastRemovedFiles: a reader that falls behind the rotation
// goes on with the oldest file left, without repeating or reordering lines.
func TestFollowPastRemovedFiles(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, 0, Options{MaxSize: 300, MaxFiles: 2, MaxLine: 16, Clock: tick()})
	if err != nil {
		t.Fatal(err)
	}
	writeLines(t, l, 0, 3)
	ended := make(chan struct{})
	block := make(chan struct{})
	out := &blockingWriter{block: block}
	done := make(chan error, 1)
	go func() {
		done <- Read(context.Background(), Source{Dir: dir, Ended: ended}, &corev1.PodLogOptions{Follow: true}, out)
	}()
	eventually(t, "the reader blocked on its first line", func() bool { return out.blocked() })
	// Meanwhile its file is rotated and removed: 30 lines are 5 files of 6.
	writeLines(t, l, 3, 30)
	_ = l.Close()
	close(ended)
	close(block)
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	// The file it had open, removed or not, then the files left: the one before the
	// current one, and the current one.
	want := append(lineNames(0, 6), lineNames(24, 33)...)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("read %v, want %v", got, want)
	}
}

type blockingWriter struct {
	testio.SyncBuffer
	block chan struct{}
	mu    sync.Mutex
	calls int
}

func (w *blockingWriter) blocked() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls > 0
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.calls++
	w.mu.Unlock()
	<-w.block
	return w.SyncBuffer.Write(p)
}
