package executor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
)

// Executor runs, and what they leave behind.
//
// A Mesos agent gives every run of an executor a sandbox of its own, laid out as
// <work_dir>/slaves/<agent>/frameworks/<framework>/executors/<executor>/runs/<container>
// (mesos-sim: <work_dir>/agents/<host>/frameworks/…, the same below "frameworks"), and
// runs at most one executor with a given id per framework on an agent at a time. When an
// executor dies the agent destroys its container, which kills its processes; but pods
// can outlive it where the agent cannot reach them (a kubelet's static pods) or did not
// (an executor run outside Mesos's containerizer). So each run claims its sandbox with a
// lock the kernel drops when the process dies, however it dies, and at start a run asks
// its runtime (a Sweeper) to stop what the framework's ended runs on this agent left.

// lockFile is the file in its sandbox an executor run holds locked while it lives.
const lockFile = ".k8sm-executor.lock"

// Sweeper is a Runtime whose pods can outlive a dead executor, and that can stop what
// earlier executor runs left behind.
type Sweeper interface {
	// Sweep stops the pods that ended executor runs left. It is called once as the
	// executor starts, before it subscribes, so before this run has started any pod:
	// runs are the sandboxes of the framework's other executor runs on the agent (of any
	// executor id, ended or not), and ended says whether the run that had a sandbox has
	// ended (see Ended).
	Sweep(runs []string, ended func(sandbox string) bool)
}

// RunDir is the executor run's sandbox as the agent's host sees it: MESOS_DIRECTORY
// when the executor can see it (it runs on the host's filesystem), else MESOS_SANDBOX
// (an executor in a container with an image sees its sandbox mounted elsewhere).
func RunDir(cfg config.Config) string {
	if cfg.Directory != "" {
		if st, err := os.Stat(cfg.Directory); err == nil && st.IsDir() {
			return cfg.Directory
		}
	}
	return cfg.Sandbox
}

// RunID names the executor run among the framework's runs on the agent: its sandbox's
// path on the host, MESOS_DIRECTORY, whether the executor sees it there or not, else
// RunDir. An executor in a container with an image sees its sandbox at MESOS_SANDBOX,
// the same path for every run: as a name, every such run would be every other one (an
// earlier run's watchdog would take a later run's static pods for its own). Where the
// executor sees the path, RunID is RunDir; where it does not, Ended of another run's
// RunID says false, and what that run left is not taken for left over.
func RunID(cfg config.Config) string {
	if cfg.Directory != "" {
		return cfg.Directory
	}
	return cfg.Sandbox
}

// Claim marks the executor run whose sandbox is dir live for as long as the returned
// release is not called and the process lives: it holds an exclusive flock(2) on
// dir/.k8sm-executor.lock. The kernel drops the lock when the process ends, SIGKILL and
// the OOM killer included; and Go opens files close-on-exec, so the processes the
// executor starts do not keep it. The claim holds until release even when the caller
// drops release: the lock's file is kept reachable here, or its finalizer would close
// it, and so drop the lock, at the next garbage collection.
func Claim(dir string) (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("another process holds %s: %w", f.Name(), err)
	}
	claims.Lock()
	claims.files[f] = struct{}{}
	claims.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			claims.Lock()
			delete(claims.files, f)
			claims.Unlock()
			_ = f.Close()
		})
	}, nil
}

// claims holds the files of the claims not released.
var claims = struct {
	sync.Mutex
	files map[*os.File]struct{}
}{files: map[*os.File]struct{}{}}

// Ended says whether the executor run that had sandbox dir has ended: its lock is free,
// or its sandbox is gone (the agent garbage-collects the sandboxes of ended runs) from a
// directory that is still there. A sandbox this process cannot see, or one without a
// lock file (a run that has not claimed it, by an older executor say), has not ended as
// far as anyone can tell.
func Ended(dir string) bool {
	f, err := os.Open(filepath.Join(dir, lockFile))
	if err != nil {
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			return false
		}
		st, err := os.Stat(filepath.Dir(dir))
		return err == nil && st.IsDir()
	}
	defer func() { _ = f.Close() }()
	// Another open file, even in this process, conflicts with the holder's lock.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return false
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return true
}

// OtherRuns lists the sandboxes of the framework's other executor runs on this agent,
// every run of every executor id, when dir is in the Mesos layout
// (…/frameworks/<framework>/executors/<executor>/runs/<run>); none otherwise. Symbolic
// links (Mesos's runs/latest) are skipped.
func OtherRuns(dir string) []string {
	dir = filepath.Clean(dir)
	runs := filepath.Dir(dir)
	executors := filepath.Dir(filepath.Dir(runs))
	if filepath.Base(runs) != "runs" || filepath.Base(executors) != "executors" {
		return nil
	}
	var out []string
	ids, _ := os.ReadDir(executors)
	for _, id := range ids {
		if !id.IsDir() {
			continue
		}
		runsDir := filepath.Join(executors, id.Name(), "runs")
		entries, _ := os.ReadDir(runsDir)
		for _, e := range entries {
			if p := filepath.Join(runsDir, e.Name()); e.IsDir() && p != dir {
				out = append(out, p)
			}
		}
	}
	return out
}
