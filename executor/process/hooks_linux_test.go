//go:build linux

package process

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/k8sm/k8sm/executor"
)

func execHook(script string) *corev1.LifecycleHandler {
	return &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", script}}}
}

// A postStart hook runs as the container (its environment and working directory), and
// the container is reported Running only once the hook completed.
func TestPostStartHookRunsBeforeRunning(t *testing.T) {
	dir := sharedDir(t)
	release, seen := filepath.Join(dir, "release"), filepath.Join(dir, "seen")
	p := shPod(corev1.RestartPolicyNever, `echo "$GREETING $(pwd)"; exec sleep 300`)
	p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "GREETING", Value: "hi"}}
	p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: execHook(
		`echo "$GREETING $(pwd)" > ` + seen + `; until test -f ` + release + `; do sleep 0.05; done`)}
	_, rec, sandbox := start(t, p)
	waitFile(t, seen, "the hook runs", func(s string) bool { return s != "" })
	rec.until(t, "started, still waiting for its hook", func(r executor.Report) bool {
		cs := r.Status.ContainerStatuses[0]
		return cs.ContainerID != "" && cs.State.Waiting != nil && !started(cs) && r.Status.Phase == corev1.PodPending
	})
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rec.until(t, "running", func(r executor.Report) bool {
		cs := r.Status.ContainerStatuses[0]
		return cs.State.Running != nil && started(cs) && cs.Ready
	})
	hook, _ := os.ReadFile(seen)
	ctr := ""
	for deadline := time.Now().Add(20 * time.Second); ctr == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ctr = output(sandbox, "c0", corev1.LogStreamStdout)
	}
	if string(hook) != ctr || !strings.HasPrefix(ctr, "hi /") {
		t.Fatalf("the hook saw %q, the container %q", hook, ctr)
	}
}

// A failed postStart hook stops the container with FailedPostStartHook; its pod's
// restartPolicy then applies.
func TestFailedPostStartHookStopsTheContainer(t *testing.T) {
	for _, tc := range afterAStop {
		t.Run(string(tc.policy), func(t *testing.T) {
			p := shPod(tc.policy, "exec sleep 300")
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: execHook("echo broken; exit 3")}
			_, rec, _ := start(t, p)
			term := tc.stopped(t, rec)
			if term == nil || !strings.HasPrefix(term.Message, "FailedPostStartHook: Exec lifecycle hook") || !strings.Contains(term.Message, `message: "broken\n"`) {
				t.Fatalf("terminated %+v", term)
			}
		})
	}
}

// A preStop hook, whatever its handler, runs before the container gets SIGTERM when
// its pod is killed.
func TestPreStopHookRunsBeforeSIGTERM(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path+" "+r.UserAgent())
		mu.Unlock()
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	dir := sharedDir(t)
	for _, tc := range []struct {
		name string
		hook func(log string) *corev1.LifecycleHandler
		want string // in the log, SIGTERM's line last
	}{
		{"exec", func(log string) *corev1.LifecycleHandler { return execHook("echo preStop >> " + log) }, "preStop\nterm\n"},
		{"httpGet", func(log string) *corev1.LifecycleHandler {
			return &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/stop", Port: intstr.FromInt(port)}}
		}, "term\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(dir, tc.name)
			p := shPod(corev1.RestartPolicyAlways, `trap "echo term >> `+log+`; exit 0" TERM; echo up >> `+log+`; while :; do sleep 0.05; done`)
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: tc.hook(log)}
			h, rec, _ := start(t, p)
			rec.until(t, "running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
			waitFile(t, log, "the container runs", func(s string) bool { return s == "up\n" })
			h.Kill(10 * time.Second)
			b, _ := os.ReadFile(log)
			if string(b) != "up\n"+tc.want {
				t.Fatalf("log %q", b)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 || !strings.HasPrefix(asked[0], "/stop kube-lifecycle/") {
		t.Fatalf("the HTTP server was asked %q", asked)
	}
}

// A preStop hook's time counts against the grace period: one that would take longer
// than it is cut short, and SIGKILL comes once the grace period is over (and 2 s after
// SIGTERM at the earliest).
func TestPreStopHookCountsAgainstTheGracePeriod(t *testing.T) {
	for name, hook := range map[string]*corev1.LifecycleHandler{
		"exec":  execHook("exec sleep 300"),
		"sleep": {Sleep: &corev1.SleepAction{Seconds: 300}},
	} {
		t.Run(name, func(t *testing.T) {
			// It says when its trap is set: a SIGTERM before that would end it at once.
			up := filepath.Join(sharedDir(t), "up") // containers run as nobody
			p := shPod(corev1.RestartPolicyAlways, `trap "" TERM; echo up > `+up+`; while :; do sleep 0.05; done`)
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: hook}
			h, rec, _ := start(t, p)
			rec.until(t, "running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
			waitFile(t, up, "the container set its trap", func(s string) bool { return s == "up\n" })
			killed := make(chan struct{})
			go func() {
				h.Kill(500 * time.Millisecond)
				close(killed)
			}()
			select {
			case <-killed:
			case <-time.After(20 * time.Second):
				t.Fatal("Kill did not return: the preStop hook outlasted the grace period")
			}
			if rep := rec.until(t, "the pod was killed", ended); !rep.Killed || rep.Status.ContainerStatuses[0].State.Terminated.ExitCode != 137 {
				t.Fatalf("%+v", rep)
			}
		})
	}
}

// However little of the grace period is left once the preStop hook was cut short, the
// container gets 2 s between SIGTERM and SIGKILL, as the kubelet gives every container
// it stops (killContainer's minimumGracePeriodInSeconds): one that ends on SIGTERM at
// once ends as it means to, not SIGKILLed.
func TestSIGTERMComesAtLeast2sBeforeSIGKILL(t *testing.T) {
	for name, hook := range map[string]*corev1.LifecycleHandler{
		"exec":  execHook("exec sleep 300"),
		"sleep": {Sleep: &corev1.SleepAction{Seconds: 300}},
	} {
		t.Run(name, func(t *testing.T) {
			p := shPod(corev1.RestartPolicyAlways, `trap "echo terminated; exit 0" TERM; echo up; while :; do sleep 0.05; done`)
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: hook}
			h, rec, sandbox := start(t, p)
			rec.until(t, "running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
			eventually(t, "the container traps SIGTERM", func() bool { return output(sandbox, "c0", corev1.LogStreamStdout) == "up\n" })
			go h.Kill(500 * time.Millisecond)
			rep := rec.until(t, "the pod was killed", ended)
			if term := rep.Status.ContainerStatuses[0].State.Terminated; !rep.Killed || term == nil || term.ExitCode != 0 {
				t.Fatalf("the container ended %+v, want exit code 0 from its trap", rep.Status.ContainerStatuses[0].State)
			}
			if out := output(sandbox, "c0", corev1.LogStreamStdout); out != "up\nterminated\n" {
				t.Fatalf("the container wrote %q, want its trap's line", out)
			}
		})
	}
}

// The main containers start in order, each once the one before it is running (its
// postStart hook completed, or failed and it was stopped), as the kubelet's SyncPod
// starts them, running each one's postStart hook before the next start: a first
// container whose hook waits until it serves holds the others back until it does.
func TestMainContainersStartInOrderAfterPostStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		hook string
	}{
		{"hook succeeds", "sleep 0.5; echo hook >> $LOG"},
		{"hook fails", "sleep 0.5; echo hook >> $LOG; exit 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(sharedDir(t), "log")
			p := shPod(corev1.RestartPolicyNever, "exec sleep 300", "echo c1 >> $LOG; exec sleep 300", "echo c2 >> $LOG; exec sleep 300")
			for i := range p.Spec.Containers {
				p.Spec.Containers[i].Env = []corev1.EnvVar{{Name: "LOG", Value: log}}
			}
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: execHook(tc.hook)}
			start(t, p)
			waitFile(t, log, "every container started", func(s string) bool { return strings.Count(s, "\n") == 3 })
			// c1 and c2 start one after the other, but write in either order.
			if b, _ := os.ReadFile(log); !strings.HasPrefix(string(b), "hook\n") {
				t.Fatalf("started in the order %q, want c0's hook done before c1 and c2 start", b)
			}
		})
	}
}

// A container whose lifecycle names a stopSignal gets that signal where it would get
// SIGTERM (Kubernetes's ContainerStopSignals); SIGKILL still ends the grace period.
func TestAContainersStopSignal(t *testing.T) {
	log := filepath.Join(sharedDir(t), "log")
	p := shPod(corev1.RestartPolicyAlways, `trap "echo quit >> `+log+`; exit 0" QUIT; trap "echo term >> `+log+`; exit 0" TERM; echo up >> `+log+`; while :; do sleep 0.05; done`)
	quit := corev1.SIGQUIT
	p.Spec.OS = &corev1.PodOS{Name: corev1.Linux}
	p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{StopSignal: &quit}
	h, rec, _ := start(t, p)
	rec.until(t, "running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
	waitFile(t, log, "the container runs", func(s string) bool { return s == "up\n" })
	h.Kill(10 * time.Second)
	if b, _ := os.ReadFile(log); string(b) != "up\nquit\n" {
		t.Fatalf("log %q: want SIGQUIT, not SIGTERM", b)
	}
}
