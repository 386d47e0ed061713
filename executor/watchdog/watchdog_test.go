package watchdog

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

// testDog is the watchdog of a directory: started, it writes pid.<its pid> there; once
// the executor is gone, gone, holding its pid.
var testDog = &Watchdog{Env: "K8SM_TEST_WATCHDOG", Leaves: "nothing", Watch: func(dir string) (func() int, error) {
	if !filepath.IsAbs(dir) {
		return nil, errors.New("no directory to watch")
	}
	pid := strconv.Itoa(os.Getpid())
	if err := os.WriteFile(filepath.Join(dir, "pid."+pid), nil, 0o600); err != nil {
		return nil, err
	}
	return func() int {
		_ = os.WriteFile(filepath.Join(dir, "gone"), []byte(pid), 0o600)
		return 0
	}, nil
}}

// envExecutor makes a copy of the test binary an executor that starts testDog over the
// directory it names, and waits to be killed.
const envExecutor = "K8SM_TEST_WATCHDOG_EXECUTOR"

// keep holds the executor copy's end of the watchdog's pipe.
var keep *os.File

func TestMain(m *testing.M) {
	testDog.Init(true) // the watchdog copy of this binary runs as one here
	if dir := os.Getenv(envExecutor); dir != "" {
		if keep = testDog.Start(dir, logr.Discard()); keep == nil {
			os.Exit(3)
		}
		select {}
	}
	os.Exit(m.Run())
}

// eofReader is a reader that says whether it returned EOF.
type eofReader struct {
	io.Reader
	eof atomic.Bool
}

func (r *eofReader) Read(p []byte) (int, error) {
	n, err := r.Reader.Read(p)
	if err == io.EOF {
		r.eof.Store(true)
	}
	return n, err
}

// The watchdog does its job only once the executor's end of the pipe closed.
func TestRunActsOnceTheExecutorIsGone(t *testing.T) {
	alive, held, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = alive.Close() }()
	r := &eofReader{Reader: alive}
	watching := make(chan struct{})
	var goneBeforeEOF atomic.Bool
	w := &Watchdog{Env: "unused", Watch: func(v string) (func() int, error) {
		close(watching)
		return func() int {
			goneBeforeEOF.Store(!r.eof.Load())
			return 7
		}, nil
	}}
	done := make(chan int, 1)
	go func() { done <- w.Run("x", r) }()
	<-watching
	_ = held.Close() // the executor's process ended
	if code := <-done; code != 7 {
		t.Errorf("the watchdog exited with %d, want what its job returned", code)
	}
	if goneBeforeEOF.Load() {
		t.Error("the watchdog acted before the executor's end of the pipe closed")
	}
}

// A value that names nothing to watch ends the watchdog at once, with 2.
func TestRunRefusesAValueNamingNothing(t *testing.T) {
	w := &Watchdog{Env: "unused", Watch: func(string) (func() int, error) { return nil, errors.New("names nothing") }}
	if code := w.Run("", readerFunc(func([]byte) (int, error) {
		t.Error("the watchdog waited for the executor")
		return 0, io.EOF
	})); code != 2 {
		t.Errorf("exited with %d, want 2", code)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// Without Init, or after Disable, a program starts no watchdog.
func TestStartWithoutInitStartsNone(t *testing.T) {
	w := &Watchdog{Env: testDog.Env, Watch: testDog.Watch, Leaves: testDog.Leaves}
	if keep := w.Start(t.TempDir(), logr.Discard()); keep != nil {
		t.Error("a watchdog was started without Init")
	}
	w.Init(true)
	w.Disable()
	if keep := w.Start(t.TempDir(), logr.Discard()); keep != nil {
		t.Error("a watchdog was started after Disable")
	}
}

// A watchdog that dies is started again, and the one running when the executor is
// SIGKILLed does its job.
func TestAWatchdogIsKeptUntilTheExecutorDies(t *testing.T) {
	dir := t.TempDir()
	ex := exec.Command(os.Args[0], "-test.run=^$")
	ex.Env = append(os.Environ(), envExecutor+"="+dir)
	ex.Stdout, ex.Stderr = os.Stderr, os.Stderr
	if err := ex.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ex.Process.Kill(); _ = ex.Wait() })

	first := waitPids(t, dir, 1)[0]
	p, _ := os.FindProcess(first)
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	pids := waitPids(t, dir, 2)
	second := pids[0] + pids[1] - first

	if err := ex.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = ex.Wait()
	var gone []byte
	eventually(t, "the watchdog did its job", func() bool {
		gone, _ = os.ReadFile(filepath.Join(dir, "gone"))
		return len(gone) > 0
	})
	if string(gone) != strconv.Itoa(second) {
		t.Errorf("the job was done by %s, want the watchdog started again, %d", gone, second)
	}
}

// waitPids waits until n watchdogs started over dir, and returns their pids.
func waitPids(t *testing.T, dir string, n int) []int {
	t.Helper()
	var pids []int
	eventually(t, strconv.Itoa(n)+" watchdogs started", func() bool {
		pids = nil
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if pid, ok := strings.CutPrefix(e.Name(), "pid."); ok {
				n, _ := strconv.Atoi(pid)
				pids = append(pids, n)
			}
		}
		return len(pids) >= n
	})
	if len(pids) != n {
		t.Fatalf("%d watchdogs started, want %d", len(pids), n)
	}
	return pids
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20s for: %s", what)
		}
	}
}
