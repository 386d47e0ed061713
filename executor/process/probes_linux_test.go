//go:build linux

package process

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/executor"
)

// waitFile polls a file until ok says yes of its content.
func waitFile(t *testing.T, path, what string, ok func(string) bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(path)
		if ok(string(b)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s has %q", what, path, b)
		}
	}
}

func execProbe(threshold int32, script string) *corev1.Probe {
	return &corev1.Probe{PeriodSeconds: 1, FailureThreshold: threshold,
		ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", script}}}}
}

func started(cs corev1.ContainerStatus) bool { return cs.Started != nil && *cs.Started }

// While its startup probe has not succeeded a container is not Started, and its
// liveness probe (which would stop it at its first failure) and readiness probe do not
// run; once it succeeds, both do.
func TestStartupProbeHoldsTheOtherProbes(t *testing.T) {
	dir := sharedDir(t)
	flag, count := filepath.Join(dir, "flag"), filepath.Join(dir, "count")
	p := shPod(corev1.RestartPolicyAlways, "exec sleep 300")
	c := &p.Spec.Containers[0]
	c.StartupProbe = execProbe(30, "echo >> "+count+"; test -f "+flag)
	c.LivenessProbe = execProbe(1, "test -f "+flag)
	c.ReadinessProbe = execProbe(1, "test -f "+flag)
	_, rec, _ := start(t, p)
	rec.until(t, "running, not started", func(r executor.Report) bool {
		cs := r.Status.ContainerStatuses[0]
		return cs.State.Running != nil && !started(cs) && !cs.Ready
	})
	// Three startup probes: two liveness periods went by.
	waitFile(t, count, "three startup probes", func(s string) bool { return strings.Count(s, "\n") >= 3 })
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rep := rec.until(t, "started and ready", func(r executor.Report) bool {
		cs := r.Status.ContainerStatuses[0]
		return started(cs) && cs.Ready
	})
	if cs := rep.Status.ContainerStatuses[0]; cs.RestartCount != 0 {
		t.Fatalf("the container was stopped during its startup: %+v", cs.LastTerminationState.Terminated)
	}
}

// afterAStop is what follows a container the runtime stopped (a failed startup probe, a
// failed postStart hook), per restartPolicy: a restart, or the pod's end.
var afterAStop = []afterStop{
	{corev1.RestartPolicyAlways, func(r executor.Report) bool { return r.Status.ContainerStatuses[0].RestartCount >= 1 }},
	{corev1.RestartPolicyNever, ended},
}

type afterStop struct {
	policy corev1.RestartPolicy
	done   func(executor.Report) bool
}

// stopped waits until the runtime stopped the pod's container and returns how it
// ended: its last termination when it restarted, else its termination, the pod Failed.
func (a afterStop) stopped(t *testing.T, rec *recorder) *corev1.ContainerStateTerminated {
	t.Helper()
	rep := rec.until(t, "the container was stopped", a.done)
	cs := rep.Status.ContainerStatuses[0]
	if a.policy == corev1.RestartPolicyAlways {
		return cs.LastTerminationState.Terminated
	}
	if rep.Status.Phase != corev1.PodFailed {
		t.Fatalf("phase %s", rep.Status.Phase)
	}
	return cs.State.Terminated
}

// A startup probe that fails failureThreshold times stops the container, which then
// restarts or not as its pod's restartPolicy says, saying why (and whether it will).
func TestStartupProbeFailureStopsTheContainer(t *testing.T) {
	for _, tc := range afterAStop {
		t.Run(string(tc.policy), func(t *testing.T) {
			p := shPod(tc.policy, "exec sleep 300")
			p.Spec.Containers[0].StartupProbe = execProbe(2, "exit 1")
			_, rec, _ := start(t, p)
			term := tc.stopped(t, rec)
			want := "Container c0 failed startup probe, will be restarted: "
			if tc.policy == corev1.RestartPolicyNever {
				want = "Container c0 failed startup probe: "
			}
			if term == nil || term.ExitCode != 143 || !strings.HasPrefix(term.Message, want) {
				t.Fatalf("terminated %+v", term)
			}
		})
	}
}

// A readiness or liveness probe's initialDelaySeconds counts from the container's
// start, as the kubelet's prober counts it, not from the end of its startup probe: a
// startup probe that took 2 s does not put off a readiness probe due 3 s after the
// start until 5 s, nor a liveness probe that fails at once.
func TestInitialDelayCountsFromTheContainersStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(c *corev1.Container, pr *corev1.Probe)
		// done is the report its probe's first run made, at the time it says.
		done func(r executor.Report) (time.Time, bool)
	}{
		{"readiness", func(c *corev1.Container, pr *corev1.Probe) { c.ReadinessProbe = pr },
			func(r executor.Report) (time.Time, bool) {
				cs := r.Status.ContainerStatuses[0]
				return time.Now(), cs.Ready
			}},
		{"liveness", func(c *corev1.Container, pr *corev1.Probe) {
			pr.Exec.Command = []string{"false"}
			c.LivenessProbe = pr
		}, func(r executor.Report) (time.Time, bool) {
			term := r.Status.ContainerStatuses[0].LastTerminationState.Terminated
			if term == nil {
				return time.Time{}, false
			}
			return term.FinishedAt.Time, true
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := shPod(corev1.RestartPolicyAlways, "exec sleep 300")
			c := &p.Spec.Containers[0]
			c.StartupProbe = execProbe(1, "true")
			c.StartupProbe.InitialDelaySeconds = 2
			pr := execProbe(1, "true")
			pr.InitialDelaySeconds = 3
			tc.set(c, pr)
			_, rec, _ := start(t, p)
			running := rec.until(t, "running", func(r executor.Report) bool { return r.Status.ContainerStatuses[0].State.Running != nil })
			begun := running.Status.ContainerStatuses[0].State.Running.StartedAt.Time
			var at time.Time
			rec.until(t, "the "+tc.name+" probe ran", func(r executor.Report) bool {
				var ok bool
				at, ok = tc.done(r)
				return ok
			})
			if after := at.Sub(begun); after < 3*time.Second || after > 4500*time.Millisecond {
				t.Fatalf("the %s probe ran %s after the container started, want 3 s (its initialDelaySeconds)", tc.name, after)
			}
		})
	}
}

// A container its liveness or startup probe stopped is restarted unless its pod's
// restartPolicy is Never, whatever its exit code, as the kubelet restarts it
// (computePodActions: "will be restarted" when the policy is not Never): one that
// ends well on SIGTERM, exit 0, does not end an OnFailure pod Succeeded. Under Never
// it is not restarted, and its message does not say it will be.
func TestProbeStoppedContainerRestartsWhateverItsExitCode(t *testing.T) {
	for _, tc := range []struct {
		kind   string
		policy corev1.RestartPolicy
	}{
		{"liveness", corev1.RestartPolicyOnFailure},
		{"startup", corev1.RestartPolicyOnFailure},
		{"liveness", corev1.RestartPolicyNever},
	} {
		t.Run(tc.kind+" "+string(tc.policy), func(t *testing.T) {
			p := shPod(tc.policy, `trap "exit 0" TERM; while :; do sleep 0.05; done`)
			c := &p.Spec.Containers[0]
			if tc.kind == "liveness" {
				c.LivenessProbe = execProbe(1, "exit 1")
			} else {
				c.StartupProbe = execProbe(1, "exit 1")
			}
			_, rec, _ := start(t, p)
			rep := rec.until(t, "the container was stopped and restarted, or the pod ended", func(r executor.Report) bool {
				return ended(r) || r.Status.ContainerStatuses[0].RestartCount >= 1
			})
			cs := rep.Status.ContainerStatuses[0]
			term := cs.LastTerminationState.Terminated
			if tc.policy == corev1.RestartPolicyNever {
				term = cs.State.Terminated
				if rep.Status.Phase != corev1.PodSucceeded || term == nil || term.ExitCode != 0 {
					t.Fatalf("phase %s, container %+v: want it stopped, exit 0, not restarted", rep.Status.Phase, cs)
				}
				if want := "Container c0 failed liveness probe: "; !strings.HasPrefix(term.Message, want) {
					t.Fatalf("message %q, want it to start with %q (it is not restarted)", term.Message, want)
				}
				return
			}
			if ended(rep) || term == nil || term.ExitCode != 0 {
				t.Fatalf("phase %s, container %+v: want it restarted after its exit 0", rep.Status.Phase, cs)
			}
			if want := "Container c0 failed " + tc.kind + " probe, will be restarted: "; !strings.HasPrefix(term.Message, want) {
				t.Fatalf("message %q, want it to start with %q", term.Message, want)
			}
		})
	}
}

// A killed pod's liveness probe stops, as the kubelet stops a terminating pod's liveness
// and startup probes: a program that stops serving once it gets SIGTERM, and takes a
// while to end, is not stopped again for failing its probe meanwhile (a second SIGTERM,
// and the probe's failure as its end).
func TestLivenessProbeStopsWhenThePodIsKilled(t *testing.T) {
	dir := sharedDir(t)
	log, gone := filepath.Join(dir, "log"), filepath.Join(dir, "gone")
	// On SIGTERM it fails its probe, and ends 3 s later (in short sleeps, so that a
	// second SIGTERM, which the whole process group gets, cannot end it earlier).
	p := shPod(corev1.RestartPolicyAlways, `trap "echo term >> `+log+`; touch `+gone+`; for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do sleep 0.2; done; exit 0" TERM; echo up >> `+log+`; while :; do sleep 0.05; done`)
	p.Spec.Containers[0].LivenessProbe = execProbe(1, "test ! -f "+gone)
	h, rec, _ := start(t, p)
	rec.until(t, "running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
	waitFile(t, log, "the container runs", func(s string) bool { return s == "up\n" })
	h.Kill(10 * time.Second)
	rep := rec.until(t, "the pod ended", ended)
	cs := rep.Status.ContainerStatuses[0]
	if term := cs.State.Terminated; term == nil || term.ExitCode != 0 || term.Message != "" || cs.RestartCount != 0 {
		t.Fatalf("container %+v: want it ended by the kill alone, exit 0, no message, no restart", cs)
	}
	if b, _ := os.ReadFile(log); string(b) != "up\nterm\n" {
		t.Fatalf("log %q: want one SIGTERM", b)
	}
}
