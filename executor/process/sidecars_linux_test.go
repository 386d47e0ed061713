//go:build linux

package process

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/executor"
)

func sidecarOf(name, script string) corev1.Container {
	always := corev1.ContainerRestartPolicyAlways
	return corev1.Container{Name: name, RestartPolicy: &always, Command: []string{"sh", "-c", script}}
}

// A sidecar runs beside the main containers, which start once it runs; when they end
// (a pod that does not restart them) it is stopped, and the pod's phase is theirs.
func TestSidecarRunsBesideTheMainContainers(t *testing.T) {
	for _, tc := range []struct {
		policy corev1.RestartPolicy
		main   string
		phase  corev1.PodPhase
	}{
		{corev1.RestartPolicyNever, "exit 0", corev1.PodSucceeded},
		{corev1.RestartPolicyNever, "exit 2", corev1.PodFailed},
		{corev1.RestartPolicyOnFailure, "exit 0", corev1.PodSucceeded},
	} {
		t.Run(string(tc.policy)+" "+tc.main, func(t *testing.T) {
			dir := sharedDir(t)
			up := filepath.Join(dir, "up")
			p := shPod(tc.policy, "test -f "+up+" || exit 9; "+tc.main)
			p.Spec.InitContainers = []corev1.Container{sidecarOf("proxy", "touch "+up+"; exec sleep 300")}
			p.Spec.InitContainers[0].StartupProbe = execProbe(30, "test -f "+up)
			_, rec, _ := start(t, p)
			rep := rec.until(t, "the pod ended", ended)
			side, main := rep.Status.InitContainerStatuses[0], rep.Status.ContainerStatuses[0]
			if rep.Status.Phase != tc.phase || main.State.Terminated == nil || main.State.Terminated.ExitCode == 9 {
				t.Fatalf("phase %s, main %+v", rep.Status.Phase, main.State)
			}
			if side.State.Terminated == nil || side.State.Terminated.ExitCode != 143 || side.RestartCount != 0 {
				t.Fatalf("the sidecar was not stopped with SIGTERM once: %+v", side)
			}
		})
	}
}

// A sidecar is restarted whenever it ends, even in a pod that restarts nothing, and
// the next container waits until it is Started (its startup probe succeeded).
func TestSidecarRestartsAndHoldsTheNextContainer(t *testing.T) {
	dir := sharedDir(t)
	count, flag := filepath.Join(dir, "count"), filepath.Join(dir, "flag")
	p := shPod(corev1.RestartPolicyNever, "exit 0")
	p.Spec.InitContainers = []corev1.Container{
		sidecarOf("flaky", "echo >> "+count+"; exit 1"),
		sidecarOf("slow", "exec sleep 300"),
	}
	p.Spec.InitContainers[1].StartupProbe = execProbe(300, "test -f "+flag)
	_, rec, _ := start(t, p)
	// flaky is never Started for long, yet once running it lets slow start.
	rec.until(t, "slow runs, not started, and the main container waits", func(r executor.Report) bool {
		slow := r.Status.InitContainerStatuses[1]
		return slow.State.Running != nil && !started(slow) && r.Status.ContainerStatuses[0].State.Waiting != nil
	})
	waitFile(t, count, "flaky restarted twice", func(s string) bool { return strings.Count(s, "\n") >= 3 })
	rep := rec.until(t, "still initializing", func(executor.Report) bool { return true })
	if rep.Status.Phase != corev1.PodPending || rep.Status.ContainerStatuses[0].State.Waiting == nil {
		t.Fatalf("the main container did not wait for slow: %+v", rep.Status)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rep = rec.until(t, "the pod ended", ended)
	if rep.Status.Phase != corev1.PodSucceeded || rep.Status.InitContainerStatuses[0].RestartCount < 2 {
		t.Fatalf("phase %s, flaky %+v", rep.Status.Phase, rep.Status.InitContainerStatuses[0])
	}
}

// A killed pod stops its main containers first, then its sidecars in reverse order.
func TestKillStopsSidecarsLast(t *testing.T) {
	dir := sharedDir(t)
	log := filepath.Join(dir, "log")
	loop := func(name string) string {
		return `trap "echo ` + name + ` >> ` + log + `; exit 0" TERM; echo ` + name + ` up >> ` + log + `; while :; do sleep 0.05; done`
	}
	p := shPod(corev1.RestartPolicyAlways, loop("main"))
	p.Spec.InitContainers = []corev1.Container{sidecarOf("first", loop("first")), sidecarOf("second", loop("second"))}
	h, rec, _ := start(t, p)
	rec.until(t, "running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
	waitFile(t, log, "all run", func(s string) bool { return strings.Count(s, " up\n") == 3 })
	h.Kill(10 * time.Second)
	b, _ := os.ReadFile(log)
	if got := string(b)[strings.LastIndex(string(b), " up\n")+4:]; got != "main\nsecond\nfirst\n" {
		t.Fatalf("stopped in the order %q", got)
	}
	if rep := rec.until(t, "the pod was killed", ended); !rep.Killed {
		t.Fatalf("%+v", rep)
	}
}

// A sidecar's preStop hook runs as soon as its pod stops, beside the main containers'
// and the other sidecars', as the kubelet's killContainer runs each container's before
// it waits for its turn (terminationOrdering); only SIGTERM waits for the main
// containers, then for the later sidecars: a pod killed, or whose main containers
// ended.
func TestSidecarPreStopRunsAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy corev1.RestartPolicy
		kill   bool
	}{
		{"killed", corev1.RestartPolicyAlways, true},
		{"main containers ended", corev1.RestartPolicyNever, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(sharedDir(t), "log")
			loop := func(name string) string {
				return `trap "echo ` + name + ` >> ` + log + `; exit 0" TERM; echo ` + name + ` up >> ` + log + `; while :; do sleep 0.05; done`
			}
			// Killed, the main container's own preStop hook holds it a second; else it
			// ends by itself, before anything is stopped.
			main, want := loop("main"), []string{"main", "second", "first"}
			if !tc.kill {
				main, want = `echo main up >> `+log+`; sleep 0.5; echo main >> `+log, []string{"second", "first"}
			}
			p := shPod(tc.policy, main)
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: execHook("sleep 1")}
			p.Spec.InitContainers = []corev1.Container{sidecarOf("first", loop("first")), sidecarOf("second", loop("second"))}
			// Each sidecar's preStop hook takes half a second: run one after the other,
			// the second's SIGTERM would come before the first's hook.
			for i, name := range []string{"first", "second"} {
				p.Spec.InitContainers[i].Lifecycle = &corev1.Lifecycle{PreStop: execHook("echo " + name + " preStop >> " + log + "; sleep 0.5")}
			}
			h, rec, _ := start(t, p)
			waitFile(t, log, "all run", func(s string) bool { return strings.Count(s, " up\n") == 3 })
			if tc.kill {
				h.Kill(10 * time.Second)
			}
			rec.until(t, "the pod ended", ended)
			b, _ := os.ReadFile(log)
			lines := strings.Split(strings.TrimSuffix(string(b)[strings.LastIndex(string(b), " up\n")+4:], "\n"), "\n")
			if !tc.kill && len(lines) > 0 && lines[0] == "main" {
				lines = lines[1:]
			}
			if len(lines) != 2+len(want) || !slices.Contains(lines[:2], "first preStop") || !slices.Contains(lines[:2], "second preStop") ||
				!slices.Equal(lines[2:], want) {
				t.Fatalf("stopped as %q, want both sidecars' preStop hooks first, then %q", lines, want)
			}
		})
	}
}
