//go:build linux

package process

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	"github.com/k8sm/k8sm/executor"
	"github.com/k8sm/k8sm/executor/process/cgroup"
)

// These tests run pods in real cgroups, below the test's own (k8sm/pod<uid>, as an
// executor makes them), with UIDs of their own. They need root and a hierarchy with the
// memory, cpu and pids controllers, and skip, saying why, without.

// cgroupRuntime is a Runtime whose pods get cgroups with every limit enforced.
func cgroupRuntime(t *testing.T) (*Runtime, *cgroup.Manager) {
	t.Helper()
	requireRoot(t)
	rt := &Runtime{}
	m, err := rt.Cgroups()
	if err != nil {
		t.Skipf("no usable cgroup hierarchy here: %v", err)
	}
	if u := m.Unenforced(cgroup.Limits{MemoryBytes: 1, CPUMilli: 1, Pids: 1}); len(u) > 0 {
		t.Skipf("cgroups here do not enforce every limit: %v", u)
	}
	t.Logf("%s", m)
	return rt, m
}

// limitedPod is shPod with a UID of its own and, on its first container, a memory
// limit and a CPU limit (requests as limits, as the API server defaults them).
func limitedPod(t *testing.T, policy corev1.RestartPolicy, memory, cpu, script string) *corev1.Pod {
	p := shPod(policy, script)
	p.UID = types.UID(fmt.Sprintf("limits-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-")))
	lim := corev1.ResourceList{}
	if memory != "" {
		lim[corev1.ResourceMemory] = resource.MustParse(memory)
	}
	if cpu != "" {
		lim[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Limits: lim, Requests: lim}
	return p
}

func limitsCondition(st corev1.PodStatus) *corev1.PodCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == ConditionResourceLimitsEnforced {
			return &st.Conditions[i]
		}
	}
	return nil
}

// A container over its memory limit is OOM-killed, and reported so, as by a kubelet.
func TestAContainerOverItsMemoryLimitIsOOMKilled(t *testing.T) {
	rt, _ := cgroupRuntime(t)
	// tail holds the last line it read, and 64 MiB of zeros have no newline.
	p := limitedPod(t, corev1.RestartPolicyNever, "16Mi", "", "head -c 67108864 /dev/zero | tail")
	_, rec, _ := startWith(t, rt, p)
	rep := rec.until(t, "the pod ended", ended)
	term := rep.Status.ContainerStatuses[0].State.Terminated
	if rep.Status.Phase != corev1.PodFailed || term == nil || term.Reason != ReasonOOMKilled || term.ExitCode != 137 {
		t.Fatalf("a container touching 64 MiB with a 16 MiB limit ended %+v, not OOMKilled with 137 (phase %s)", term, rep.Status.Phase)
	}
	if c := limitsCondition(rep.Status); c == nil || c.Status != corev1.ConditionTrue {
		t.Errorf("condition %+v, want True", c)
	}
}

// The same container within its limit runs to its end, and its processes, exec probes
// included, are in its cgroup with its limits written; they go with the pod.
func TestAContainerRunsInItsCgroupWithItsLimits(t *testing.T) {
	rt, _ := cgroupRuntime(t)
	rt.PodPidsLimit = 64
	p := limitedPod(t, corev1.RestartPolicyNever, "16Mi", "500m",
		`head -c 4194304 /dev/zero | tail | wc -c > /dev/null && exec sleep 300`)
	// The probe is ready only in the container's own cgroup.
	p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: 1, FailureThreshold: 1, ProbeHandler: corev1.ProbeHandler{
		Exec: &corev1.ExecAction{Command: []string{"grep", "-q", "/k8sm/pod" + string(p.UID) + "/ctr-c0$", "/proc/self/cgroup"}}}}
	h, rec, _ := startWith(t, rt, p)
	rep := rec.until(t, "the container runs", func(r executor.Report) bool {
		return len(r.Status.ContainerStatuses) == 1 && r.Status.ContainerStatuses[0].State.Running != nil
	})
	pid, _ := strconv.Atoi(strings.TrimPrefix(rep.Status.ContainerStatuses[0].ContainerID, "process://"))
	want := map[string][3]string{ // controller: file, the container's value, the pod's
		"memory": {"memory.limit_in_bytes", "16777216", "16777216"}, "cpu": {"cpu.cfs_quota_us", "50000", "50000"},
		"pids": {"pids.max", "max", "64"},
	}
	if cgroupV2(t, pid) {
		want = map[string][3]string{"memory": {"memory.max", "16777216", "16777216"},
			"cpu": {"cpu.max", "50000 100000", "50000 100000"}, "pids": {"pids.max", "max", "64"}}
	}
	var dirs []string
	for c, f := range want {
		dir := cgroupDir(t, pid, c)
		if !strings.HasSuffix(dir, "/k8sm/pod"+string(p.UID)+"/ctr-c0") {
			t.Errorf("the container's process is in %s cgroup %s, not its own", c, dir)
		}
		for i, d := range []string{dir, filepath.Dir(dir)} { // the container's, the pod's
			if b, err := os.ReadFile(filepath.Join(d, f[0])); err != nil || strings.TrimSpace(string(b)) != f[1+i] {
				t.Errorf("%s/%s = %q (%v), want %s", d, f[0], b, err, f[1+i])
			}
		}
		dirs = append(dirs, dir, filepath.Dir(dir))
	}
	rec.until(t, "the exec probe, in the container's cgroup, finds it so", func(r executor.Report) bool {
		return len(r.Status.ContainerStatuses) == 1 && r.Status.ContainerStatuses[0].Ready
	})
	h.Kill(time.Second)
	rep = rec.until(t, "the pod ended", ended)
	if term := rep.Status.ContainerStatuses[0].State.Terminated; term == nil || term.Reason == ReasonOOMKilled {
		t.Errorf("a container within its limit, killed, ended %+v", term)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there after the pod ended", d)
		}
	}
}

// What a container started outside its process group (setsid) goes with its cgroup
// when the container ends, as with a kubelet, while its pod runs on.
func TestWhatLeftTheProcessGroupGoesWithTheContainer(t *testing.T) {
	rt, _ := cgroupRuntime(t)
	pidFile := filepath.Join(sharedDir(t), "pid")
	p := limitedPod(t, corev1.RestartPolicyNever, "32Mi", "", `setsid sleep 300 & echo $! > `+pidFile+`; sleep 0.5`)
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "c1", Command: []string{"sleep", "300"}})
	_, rec, _ := startWith(t, rt, p)
	rec.until(t, "c0 ended, the pod runs on", func(r executor.Report) bool {
		cs := r.Status.ContainerStatuses
		return r.Status.Phase == corev1.PodRunning && len(cs) == 2 && cs[0].State.Terminated != nil && cs[1].State.Running != nil
	})
	b, _ := os.ReadFile(pidFile)
	child, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if child == 0 {
		t.Fatalf("no pid in %s", pidFile)
	}
	eventually(t, fmt.Sprintf("the escaped child %d is gone", child), func() bool { return !alive(child) })
}

// Two pods of one UID (one ending as the same pod is launched again) never share the
// cgroup, where the end of one would kill the other: the second waits for the first.
func TestAPodOfTheSameUIDWaitsForTheCgroup(t *testing.T) {
	rt, _ := cgroupRuntime(t)
	first := limitedPod(t, corev1.RestartPolicyNever, "32Mi", "", "exec sleep 300")
	h, rec, _ := startWith(t, rt, first)
	rec.until(t, "the first pod runs", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
	again := limitedPod(t, corev1.RestartPolicyNever, "32Mi", "", "exit 0")
	_, rec2, _ := startWith(t, &Runtime{}, again)
	time.Sleep(500 * time.Millisecond)
	rec2.mu.Lock()
	reports := slices.Clone(rec2.reports)
	rec2.mu.Unlock()
	for _, r := range reports {
		if cs := r.Status.ContainerStatuses; len(cs) > 0 && cs[0].State.Waiting == nil {
			t.Fatalf("the second pod of the UID started while the first holds the cgroup: %+v", cs[0].State)
		}
	}
	h.Kill(time.Second)
	if rep := rec2.until(t, "the second pod ended", ended); rep.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("the second pod ended %s: %+v", rep.Status.Phase, rep.Status.ContainerStatuses)
	}
}

// Without cgroups the pod runs, and is told which limits are not enforced, and why; a
// pod without limits is told nothing.
func TestWithoutCgroupsThePodRunsAndIsTold(t *testing.T) {
	rt := &Runtime{detect: func() (*cgroup.Manager, error) { return nil, errors.New("no cgroup mount here") }}
	p := limitedPod(t, corev1.RestartPolicyNever, "16Mi", "", "exit 0")
	_, rec, _ := startWith(t, rt, p)
	rep := rec.until(t, "the pod ended", ended)
	if rep.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("the pod ended %s: %s", rep.Status.Phase, rep.Message)
	}
	c := limitsCondition(rep.Status)
	if c == nil || c.Status != corev1.ConditionFalse || c.Reason != ReasonCgroupsUnavailable || !strings.Contains(c.Message, "no cgroup mount here") {
		t.Fatalf("condition %+v, want False/%s with the reason", c, ReasonCgroupsUnavailable)
	}
	rec.mu.Lock()
	reports := slices.Clone(rec.reports)
	rec.mu.Unlock()
	for _, r := range reports {
		if c := limitsCondition(r.Status); c == nil || c.Status != corev1.ConditionFalse {
			t.Fatalf("a report says %+v: the pod is told from its first report", c)
		}
	}

	_, rec, _ = startWith(t, rt, shPod(corev1.RestartPolicyNever, "exit 0"))
	if c := limitsCondition(rec.until(t, "the pod ended", ended).Status); c != nil {
		t.Errorf("a pod without limits has condition %+v", c)
	}
}

// An executor that starts removes the pod cgroups of ended runs, killing what is in
// them, but those a live run names too, and those nothing names (another framework's
// executor's, where they share the pods' parent cgroup).
func TestSweepRemovesTheCgroupsOfEndedRuns(t *testing.T) {
	rt, m := cgroupRuntime(t)
	runs := t.TempDir()
	live, dead := filepath.Join(runs, "live"), filepath.Join(runs, "dead")
	for _, d := range []string{live, dead} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	release, err := executor.Claim(live)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	releaseDead, err := executor.Claim(dead) // a run that claimed its sandbox, and ended
	if err != nil {
		t.Fatal(err)
	}
	releaseDead()
	uid := func(s string) string { return fmt.Sprintf("sweep-%d-%s", os.Getpid(), s) }
	mark := func(run, u string) {
		if err := os.MkdirAll(filepath.Join(run, cgroupsDir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cgroupMarker(run, u), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mark(dead, uid("ended"))
	mark(dead, uid("relaunched"))
	mark(live, uid("relaunched"))
	mark(live, uid("live"))
	pods := map[string]*cgroup.Pod{}
	for _, u := range []string{uid("ended"), uid("relaunched"), uid("live"), uid("unknown")} {
		pc, err := m.NewPod(u, cgroup.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pc.Remove() })
		pods[u] = pc
	}
	sleeper := sleepIn(t, pods[uid("ended")])

	rt.Sweep([]string{live, dead}, executor.Ended)
	for u, pc := range pods {
		if got, want := exists(pc.Path()), u != uid("ended"); got != want {
			t.Errorf("the cgroup of %s there after the sweep: %v, want %v", u, got, want)
		}
	}
	eventually(t, "the ended run's process is gone", func() bool { return !alive(sleeper) })
	if exists(cgroupMarker(dead, uid("ended"))) || !exists(cgroupMarker(live, uid("live"))) {
		t.Error("the sweep should remove the ended run's markers, and only those")
	}
}

// An executor that is SIGKILLed leaves no pod cgroup: its watchdog removes those its
// run made, once it killed what its records name.
func TestTheWatchdogRemovesTheCgroupsOfAKilledExecutor(t *testing.T) {
	cgroupRuntime(t)
	dir := t.TempDir()
	owner, sh, sleep := startOwner(t, dir, true)
	pod := filepath.Dir(cgroupDir(t, sh, "memory"))
	uid, ok := strings.CutPrefix(filepath.Base(pod), "pod") // the owner's testUID
	if !ok || filepath.Base(filepath.Dir(pod)) != "k8sm" || !exists(cgroupMarker(dir, uid)) {
		t.Fatalf("the container's process is in %s, its marker there: %v", pod, exists(cgroupMarker(dir, uid)))
	}
	if err := owner.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = owner.Wait()
	eventually(t, "the container's processes are gone", func() bool { return !alive(sh) && !alive(sleep) })
	eventually(t, "the watchdog removed the pod's cgroup and its marker", func() bool {
		return !exists(pod) && !exists(cgroupMarker(dir, uid))
	})
}

// sleepIn starts a process in a container cgroup of pod cgroup pc, and returns its pid.
func sleepIn(t *testing.T, pc *cgroup.Pod) int {
	t.Helper()
	cg, err := pc.Container("main", cgroup.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var pa syscall.ProcAttr
	pid, err := syscall.ForkExec("/bin/sleep", []string{"sleep", "300"}, &pa)
	if err != nil {
		t.Fatal(err)
	}
	go func() { var ws syscall.WaitStatus; _, _ = syscall.Wait4(pid, &ws, 0, nil) }()
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if err := cg.Join(pid); err != nil {
		t.Fatal(err)
	}
	if pids, _ := cg.Pids(); !slices.Contains(pids, pid) {
		t.Fatalf("%d is not in %s: %v", pid, cg.Path(), pids)
	}
	return pid
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// cgroupV2 says whether process pid is in no v1 memory hierarchy: its cgroups are v2.
func cgroupV2(t *testing.T, pid int) bool {
	_, ok := procCgroup(t, pid)["memory"]
	return !ok
}

// procCgroup reads /proc/<pid>/cgroup: each v1 controller's path, and the v2 path as "".
func procCgroup(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" {
			out[""] = f[2]
		}
		for _, c := range strings.Split(f[1], ",") {
			out[c] = f[2]
		}
	}
	return out
}

// cgroupDir is the directory of process pid's cgroup of controller c (v2: its only one),
// by the mounts of /proc/self/mountinfo.
func cgroupDir(t *testing.T, pid int, c string) string {
	t.Helper()
	paths := procCgroup(t, pid)
	p, v1 := paths[c]
	if !v1 {
		p = paths[""]
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mi), "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if sep < 0 || sep+3 >= len(f) {
			continue
		}
		root, point, fstype, opts := f[3], f[4], f[sep+1], strings.Split(f[sep+3], ",")
		if (v1 && fstype == "cgroup" && slices.Contains(opts, c)) || (!v1 && fstype == "cgroup2") {
			if rel, ok := strings.CutPrefix(p, strings.TrimSuffix(root, "/")); ok {
				return filepath.Join(point, rel)
			}
		}
	}
	t.Fatalf("no mount shows %s cgroup %s of %d", c, p, pid)
	return ""
}
