package process

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/executor"
)

// The executor side of a pod, in a copy of the test binary that a test SIGKILLs: with
// envOwner set (to the executor's sandbox) it claims the sandbox as an executor does,
// runs a pod whose container is `sh -c 'sleep 300 & wait'` with the runtime, writes
// "<sh pid> <sleep pid>" to envOwnerPIDs, and waits to be killed. envOwnerWatchdog=off
// runs it without the watchdog.
const (
	envOwner         = "K8SM_TEST_PROCESS_OWNER"
	envOwnerPIDs     = "K8SM_TEST_PROCESS_OWNER_PIDS"
	envOwnerWatchdog = "K8SM_TEST_PROCESS_OWNER_WATCHDOG"
)

// testModes are what a copy of the test binary does, by the variable set in its
// environment, instead of running the tests.
var testModes = map[string]func() int{}

func TestMain(m *testing.M) {
	Init() // a watchdog or helper copy of this binary runs as one here
	if dir := os.Getenv(envOwner); dir != "" {
		os.Exit(runOwner(dir, os.Getenv(envOwnerPIDs)))
	}
	for env, mode := range testModes {
		if os.Getenv(env) != "" {
			os.Exit(mode())
		}
	}
	os.Exit(m.Run())
}

func runOwner(dir, pidFile string) int {
	if os.Getenv(envOwnerWatchdog) == "off" {
		orphanWatchdog.Disable()
	}
	if _, err := executor.Claim(dir); err != nil {
		return 2
	}
	rt := &Runtime{Sandbox: dir, BackoffBase: time.Minute}
	// $$$$ is the shell's $$: a command's $$ is a literal $, as Kubernetes expands it.
	p := shPod(corev1.RestartPolicyNever, `sleep 300 & echo $$$$ $! > "$0.tmp" && mv "$0.tmp" "$0"; wait`)
	p.Spec.Containers[0].Args = []string{pidFile}
	if _, err := rt.Start(p, filepath.Join(dir, "pods", "t1"), func(executor.Report) {}); err != nil {
		return 3
	}
	select {}
}

// startOwner starts the executor side of a pod and returns it with the pids of the
// container's shell and of its child.
func startOwner(t *testing.T, dir string, watchdog bool) (owner *exec.Cmd, sh, sleep int) {
	t.Helper()
	pidFile := filepath.Join(sharedDir(t), "pids")
	owner = exec.Command(os.Args[0], "-test.run=^$")
	owner.Env = append(os.Environ(), envOwner+"="+dir, envOwnerPIDs+"="+pidFile)
	if !watchdog {
		owner.Env = append(owner.Env, envOwnerWatchdog+"=off")
	}
	owner.Stdout, owner.Stderr = os.Stderr, os.Stderr
	if err := owner.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = owner.Process.Kill(); _ = owner.Wait() })
	eventually(t, "the container started its child", func() bool {
		b, _ := os.ReadFile(pidFile)
		f := strings.Fields(string(b))
		if len(f) == 2 {
			sh, sleep = atoi(f[0]), atoi(f[1])
		}
		return sh > 0 && sleep > 0
	})
	t.Cleanup(func() { killIfSleep(sh); killIfSleep(sleep) })
	// The executor records the container once its start returns, which may be after the
	// shell has written the pids.
	eventually(t, "the container is recorded", func() bool { return !noRecords(dir)() })
	// The container runs as nobody, as pods do by default: its processes are still found.
	if os.Geteuid() == 0 && (procUID(sh) != "65534" || procUID(sleep) != "65534") {
		t.Fatalf("the container's processes run as %s and %s, not nobody", procUID(sh), procUID(sleep))
	}
	return owner, sh, sleep
}

// procUID is a process's real uid, from /proc/<pid>/status.
func procUID(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
			return f[1]
		}
	}
	return ""
}

// killIfSleep kills what is left of a test's container processes (and nothing that
// took their pid since).
func killIfSleep(pid int) {
	cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if alive(pid) && strings.Contains(string(cmdline), "300") {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20s for: %s", what)
		}
	}
}

func noRecords(dir string) func() bool {
	return func() bool {
		recs, _ := readRecords(filepath.Join(dir, recordsDir))
		return len(recs) == 0
	}
}

// An executor that is SIGKILLed leaves no container process: the shell dies with it
// (parent-death signal) and the watchdog kills the shell's child.
func TestNoContainerProcessOutlivesAKilledExecutor(t *testing.T) {
	dir := t.TempDir()
	owner, sh, sleep := startOwner(t, dir, true)
	if noRecords(dir)() {
		t.Fatal("the running container is not recorded")
	}
	if err := owner.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = owner.Wait()
	eventually(t, "the container's processes are gone", func() bool { return !alive(sh) && !alive(sleep) })
	eventually(t, "the watchdog removed the records", noRecords(dir))
	eventually(t, "the watchdog removed the pod's cgroup", func() bool {
		entries, _ := os.ReadDir(filepath.Join(dir, cgroupsDir))
		return len(entries) == 0
	})
}

// Without a watchdog (it died with the executor) the shell's child outlives the
// executor; the next executor run sweeps it once the killed run's claim has ended.
func TestAnExecutorSweepsWhatAnEndedRunLeft(t *testing.T) {
	dir := t.TempDir()
	owner, sh, sleep := startOwner(t, dir, false)
	if executor.Ended(dir) {
		t.Fatal("a live executor's run is taken for ended")
	}
	rt := &Runtime{}
	rt.Sweep([]string{dir}, executor.Ended) // a live run is left alone
	if !alive(sleep) || noRecords(dir)() {
		t.Fatalf("the sweep touched a live executor's containers: shell alive %v, its child alive %v, records left %v, owner's run ended %v",
			alive(sh), alive(sleep), !noRecords(dir)(), executor.Ended(dir))
	}

	if err := owner.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = owner.Wait()
	eventually(t, "the shell died with its executor", func() bool { return !alive(sh) })
	if !alive(sleep) {
		t.Fatal("the shell's child died without a watchdog: this test no longer shows the sweep")
	}
	if !executor.Ended(dir) {
		t.Fatal("the killed executor's run is not taken for ended")
	}
	rt.Sweep([]string{dir}, executor.Ended)
	eventually(t, "the sweep killed the shell's child", func() bool { return !alive(sleep) })
	if !noRecords(dir)() {
		t.Error("the swept records are still there")
	}
}

// A record is trusted by its cookie or by its leader's start time, never by its pid
// alone: pids are reused.
func TestTheSweepKillsOnlyWhatARecordProves(t *testing.T) {
	start := func(env ...string) *exec.Cmd {
		cmd := exec.Command("sleep", "300")
		cmd.Env = env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	stranger, leader, cookied := start(), start(), start(EnvCookie+"=c-cookied")
	rec := func(cmd *exec.Cmd, startTime uint64, cookie string) record {
		return record{PGID: cmd.Process.Pid, StartTime: startTime, BootID: bootID(), PIDNamespace: pidNamespace(), Cookie: cookie}
	}
	run := t.TempDir()
	for _, r := range []record{
		rec(stranger, procStart(stranger.Process.Pid)+1, "c-stranger"), // its pid, another start time
		rec(leader, procStart(leader.Process.Pid), "c-leader"),         // its pid and start time
		{PGID: cookied.Process.Pid + 100000, Cookie: "c-cookied", BootID: bootID(), PIDNamespace: pidNamespace()},
	} {
		writeRecord(t, run, r)
	}
	(&Runtime{}).Sweep([]string{run}, func(string) bool { return false })
	if !alive(leader.Process.Pid) || !alive(cookied.Process.Pid) {
		t.Fatal("the records of a run that has not ended were acted on")
	}
	(&Runtime{}).Sweep([]string{run}, func(string) bool { return true })
	if err := leader.Wait(); err == nil {
		t.Error("the recorded leader was not killed")
	}
	if err := cookied.Wait(); err == nil {
		t.Error("the process with a recorded cookie was not killed")
	}
	if !alive(stranger.Process.Pid) {
		t.Error("a process that only has a recorded pid was killed")
	}
}

func writeRecord(t *testing.T, run string, r record) {
	t.Helper()
	dir := filepath.Join(run, recordsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r)
	if err := os.WriteFile(filepath.Join(dir, r.Cookie+".json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A running container is recorded with the cookie its processes carry; the record goes
// when the container ends.
func TestARunningContainerIsRecordedUntilItEnds(t *testing.T) {
	dir := t.TempDir()
	rt := &Runtime{Sandbox: dir, BackoffBase: time.Minute}
	rec := newRecorder()
	h, err := rt.Start(shPod(corev1.RestartPolicyNever, `echo "$`+EnvCookie+`"; exec sleep 300`), filepath.Join(dir, "pods", "t1"), rec.report)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Kill(0) })
	rec.until(t, "the container runs", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
	var recs []record
	eventually(t, "the container's cookie is in its log", func() bool {
		recs, _ = readRecords(filepath.Join(dir, recordsDir))
		out := output(filepath.Join(dir, "pods", "t1"), "c0", corev1.LogStreamStdout)
		return len(recs) == 1 && strings.TrimSpace(out) == recs[0].Cookie
	})
	if r := recs[0]; r.Pod != "ns/p" || r.Container != "c0" || r.StartTime == 0 || r.StartTime != procStart(r.PGID) || r.BootID == "" {
		t.Errorf("record %+v", r)
	}
	// The recorded leader is the container's process (the helper exec'd it), as nobody.
	if uid := procUID(recs[0].PGID); os.Geteuid() == 0 && uid != "65534" {
		t.Errorf("the recorded process runs as uid %s", uid)
	}
	h.Kill(time.Second)
	rec.until(t, "the pod was killed", ended)
	if !noRecords(dir)() {
		t.Error("the record outlived the container")
	}
}
