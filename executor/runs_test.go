package executor

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	corev1 "k8s.io/api/core/v1"
)

// A claim whose release the caller dropped holds for the life of the process: the
// garbage collector must not close the lock's file behind it.
func TestAClaimOutlivesItsDroppedRelease(t *testing.T) {
	dir := t.TempDir()
	if _, err := Claim(dir); err != nil {
		t.Fatal(err)
	}
	for range 3 { // finalizers run on the cycle after the one that finds them
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if Ended(dir) {
		t.Error("a claim was dropped by the garbage collector")
	}
}

func TestClaimAndEnded(t *testing.T) {
	dir := t.TempDir()
	if Ended(dir) {
		t.Error("a sandbox nobody claimed is taken for ended")
	}
	release, err := Claim(dir)
	if err != nil {
		t.Fatal(err)
	}
	if Ended(dir) {
		t.Error("a claimed sandbox is taken for ended")
	}
	if _, err := Claim(dir); err == nil {
		t.Error("a sandbox was claimed twice")
	}
	release()
	if !Ended(dir) {
		t.Error("a released sandbox is not taken for ended")
	}
	if !Ended(filepath.Join(dir, "collected")) {
		t.Error("a sandbox the agent removed is not taken for ended")
	}
	if Ended(filepath.Join(dir, "unseen", "run")) {
		t.Error("a sandbox this process cannot see is taken for ended")
	}
}

// mesosLayout makes …/frameworks/fw/executors/<id>/runs/<run> sandboxes.
func mesosLayout(t *testing.T, runs ...string) (root string) {
	t.Helper()
	root = filepath.Join(t.TempDir(), "slaves", "S0", "frameworks", "fw", "executors")
	for _, r := range runs {
		if err := os.MkdirAll(filepath.Join(root, r), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestOtherRuns(t *testing.T) {
	root := mesosLayout(t, "ex/runs/1", "ex/runs/2", "old/runs/7")
	if err := os.Symlink(filepath.Join(root, "ex/runs/2"), filepath.Join(root, "ex/runs/latest")); err != nil {
		t.Fatal(err)
	}
	got := OtherRuns(filepath.Join(root, "ex/runs/2"))
	sort.Strings(got)
	want := []string{filepath.Join(root, "ex/runs/1"), filepath.Join(root, "old/runs/7")}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("other runs %v, want %v", got, want)
	}
	if got := OtherRuns(t.TempDir()); got != nil {
		t.Errorf("outside the Mesos layout: %v", got)
	}
}

// sweepRuntime is the fake runtime as a Sweeper; it records what it was asked and
// whether the executor had subscribed by then, and the pods it started and killed.
type sweepRuntime struct {
	fakeRuntime
	a *fakeAgent

	mu          sync.Mutex
	swept       map[string]bool // run → ended
	subscribed  bool
	startedPods []*corev1.Pod
	killed      int
}

func (r *sweepRuntime) Sweep(runs []string, ended func(string) bool) {
	r.a.mu.Lock()
	subscribed := len(r.a.subscribes) > 0
	r.a.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subscribed, r.swept = subscribed, map[string]bool{}
	for _, run := range runs {
		r.swept[run] = ended(run)
	}
}

type countingHandle struct {
	Handle
	r *sweepRuntime
}

func (h countingHandle) Kill(grace time.Duration) {
	h.r.mu.Lock()
	h.r.killed++
	h.r.mu.Unlock()
	h.Handle.Kill(grace)
}

func (r *sweepRuntime) Start(p *corev1.Pod, sandbox string, report func(Report)) (Handle, error) {
	r.mu.Lock()
	r.startedPods = append(r.startedPods, p)
	r.mu.Unlock()
	h, err := r.fakeRuntime.Start(p, sandbox, report)
	return countingHandle{h, r}, err
}

// As it starts, an executor claims its sandbox and has its runtime sweep the runs of
// its framework on the agent, before it subscribes; on SIGTERM (its context ends) it
// kills every pod, and its claim ends with it.
func TestRunClaimsSweepsAndStopsEveryPodOnSIGTERM(t *testing.T) {
	root := mesosLayout(t, "ex/runs/1", "ex/runs/2", "old/runs/7")
	self, ended, live := filepath.Join(root, "ex/runs/2"), filepath.Join(root, "ex/runs/1"), filepath.Join(root, "old/runs/7")
	release, err := Claim(ended)
	if err != nil {
		t.Fatal(err)
	}
	release() // a run that ended
	if release, err = Claim(live); err != nil {
		t.Fatal(err)
	}
	defer release() // a run still going

	a := newFakeAgent(t)
	rt := &sweepRuntime{a: a}
	e := &Executor{
		Config: config.Config{FrameworkID: "fw", ExecutorID: "ex", AgentEndpoint: a.srv.Listener.Addr().String(),
			Directory: self, Sandbox: self, ExecutorShutdownGracePeriod: time.Second},
		Runtime: rt, Log: logr.Discard(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	a.waitSubscription(t, 1)
	rt.mu.Lock()
	if rt.subscribed || len(rt.swept) != 2 || !rt.swept[ended] || rt.swept[live] {
		t.Errorf("swept %v (after subscribing: %v), want %s ended and %s not", rt.swept, rt.subscribed, ended, live)
	}
	rt.mu.Unlock()
	if Ended(self) {
		t.Error("the running executor's sandbox is taken for ended")
	}

	a.send(&mexec.Event{Type: mexec.Event_LAUNCH, Launch: &mexec.Event_Launch{Task: podTask(t, "t1")}})
	waitStates(t, a, "t1", mesos.TASK_STARTING, mesos.TASK_RUNNING)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the executor did not stop")
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.killed != 1 {
		t.Errorf("%d pods killed on SIGTERM, want 1", rt.killed)
	}
	if len(rt.startedPods) != 1 || rt.startedPods[0].Annotations[AnnotationTaskID] != "t1" {
		t.Errorf("the runtime was not told the pod's task: %+v", rt.startedPods)
	}
	if !Ended(self) {
		t.Error("the claim outlived Run")
	}
}

// A run's name is its sandbox's path on the host, which differs from run to run, even
// where the executor, in a container, sees its sandbox at MESOS_SANDBOX, which does not;
// where it sees the host's path, the name is where it claims its run (RunDir).
func TestRunIDTellsRunsApart(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name       string
		cfg        config.Config
		id, runDir string
	}{
		{"on the host's filesystem", config.Config{Directory: dir, Sandbox: dir}, dir, dir},
		{"in a container: the host's path, unseen", config.Config{Directory: "/var/lib/mesos/slaves/s/frameworks/f/executors/e/runs/r1", Sandbox: "/mnt/mesos/sandbox"},
			"/var/lib/mesos/slaves/s/frameworks/f/executors/e/runs/r1", "/mnt/mesos/sandbox"},
		{"no MESOS_DIRECTORY", config.Config{Sandbox: "/mnt/mesos/sandbox"}, "/mnt/mesos/sandbox", "/mnt/mesos/sandbox"},
	} {
		if id, runDir := RunID(tc.cfg), RunDir(tc.cfg); id != tc.id || runDir != tc.runDir {
			t.Errorf("%s: RunID %q, RunDir %q; want %q, %q", tc.name, id, runDir, tc.id, tc.runDir)
		}
	}
	other := config.Config{Directory: "/var/lib/mesos/slaves/s/frameworks/f/executors/e2/runs/r2", Sandbox: "/mnt/mesos/sandbox"}
	first := config.Config{Directory: "/var/lib/mesos/slaves/s/frameworks/f/executors/e/runs/r1", Sandbox: "/mnt/mesos/sandbox"}
	if RunID(other) == RunID(first) {
		t.Error("two runs in containers have one name")
	}
	if Ended(RunID(first)) {
		t.Error("a run whose sandbox this executor cannot see is taken for ended")
	}
}
