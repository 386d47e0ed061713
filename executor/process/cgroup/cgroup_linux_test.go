package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// These tests make real cgroups below the test's own, in a cgroup of their own
// (k8sm-test-<pid>-<n>) that each removes at its end, pass or fail. They need root
// and a hierarchy the test can make cgroups in, and skip, saying why, without.

// The test binary run again as a container's process: with envHog set it joins the
// cgroups envJoin lists (cgroup.procs files, one a line) itself, as the runtime's
// helper does before it execs a container's command, then uses memory ("mem:<MiB>",
// each page touched) or CPU ("spin:<ms>" of busy loop), and exits 0.
const (
	envHog  = "K8SM_CGROUP_TEST_HOG"
	envJoin = "K8SM_CGROUP_TEST_JOIN"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envHog); mode != "" {
		os.Exit(hog(mode, os.Getenv(envJoin)))
	}
	os.Exit(m.Run())
}

func hog(mode, join string) int {
	if join != "" {
		if err := JoinSelf(strings.Split(join, "\n")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
	}
	kind, arg, _ := strings.Cut(mode, ":")
	n, _ := strconv.Atoi(arg)
	switch kind {
	case "mem":
		b := make([]byte, n<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		runtime.KeepAlive(b)
	case "spin":
		for end := time.Now().Add(time.Duration(n) * time.Millisecond); time.Now().Before(end); {
		}
	}
	return 0
}

// runHog runs the hog in cgroup c to its end; it returns its exit code (128+signal
// when a signal killed it, as the runtime reports it) and what it wrote to stderr.
func runHog(t *testing.T, c *Cgroup, mode string) (int32, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHog+"="+mode, envJoin+"="+strings.Join(c.ProcsFiles(), "\n"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	return exitCode(cmd.Run()), stderr.String()
}

func exitCode(err error) int32 {
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return 0
	}
	if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int32(ws.Signal())
	}
	return int32(exitErr.ExitCode())
}

var managers atomic.Int32

// testManager detects the cgroups as Detect does, with the pods' cgroups below a
// cgroup of the test's, which it removes at the end with whatever is left in it.
func testManager(t *testing.T, controllers ...string) *Manager {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test makes cgroups below its own")
	}
	name := fmt.Sprintf("k8sm-test-%d-%d", os.Getpid(), managers.Add(1))
	m, err := detect(options{proc: "/proc/self", name: name})
	if err != nil {
		t.Skipf("no usable cgroup hierarchy here: %v", err)
	}
	t.Cleanup(func() { removeManager(t, m) })
	t.Logf("%s", m)
	for _, c := range controllers {
		if !m.has(c) {
			t.Skipf("no %s controller here: %s", c, m.unusable[c])
		}
	}
	return m
}

func removeManager(t *testing.T, m *Manager) {
	base := Cgroup{m: m}
	for _, h := range m.hiers {
		base.dirs = append(base.dirs, h.base)
	}
	if err := base.Remove(); err != nil {
		t.Errorf("removing the test's cgroups: %v", err)
	}
	if m.version == V2 {
		undoEvacuate(t, filepath.Dir(m.hiers[0].base))
	}
}

// undoEvacuate puts the test's processes back into its own v2 cgroup, from which
// Detect moved them.
func undoEvacuate(t *testing.T, own string) {
	leaf := filepath.Join(own, executorLeaf)
	if !exists(leaf) {
		return
	}
	for _, c := range v2Controllers {
		_ = write(filepath.Join(own, "cgroup.subtree_control"), "-"+c)
	}
	pids, _ := readPids(filepath.Join(leaf, "cgroup.procs"))
	for _, pid := range pids {
		_ = write(filepath.Join(own, "cgroup.procs"), strconv.Itoa(pid))
	}
	if err := os.Remove(leaf); err != nil {
		t.Errorf("moving the test back to its cgroup: %v", err)
	}
}

// read reads a control file of controller c of cgroup g.
func read(t *testing.T, g *Cgroup, c, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(g.dirs[g.m.hierarchyOf(c)], file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestLimitsAreWritten(t *testing.T) {
	m := testManager(t, "memory", "cpu", "pids")
	podLim := Limits{MemoryBytes: 64 << 20, CPUMilli: 1500, CPUSharesMilli: 300, Pids: 64}
	ctrLim := Limits{MemoryBytes: 16 << 20, CPUMilli: 500, CPUSharesMilli: 100}
	if u := m.Unenforced(podLim); len(u) > 0 {
		t.Errorf("Unenforced = %v with every controller", u)
	}
	p, err := m.NewPod("uid-limits", podLim)
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Container("main", ctrLim)
	if err != nil {
		t.Fatal(err)
	}
	type file struct {
		g                   *Cgroup
		controller, f, want string
	}
	files := []file{
		{&p.Cgroup, "memory", "memory.limit_in_bytes", "67108864"}, {c, "memory", "memory.limit_in_bytes", "16777216"},
		{&p.Cgroup, "cpu", "cpu.cfs_quota_us", "150000"}, {c, "cpu", "cpu.cfs_quota_us", "50000"},
		{&p.Cgroup, "cpu", "cpu.cfs_period_us", "100000"}, {c, "cpu", "cpu.shares", "102"},
		{&p.Cgroup, "cpu", "cpu.shares", "307"}, {&p.Cgroup, "pids", "pids.max", "64"},
	}
	if exists(filepath.Join(c.dirs[m.hierarchyOf("memory")], "memory.memsw.limit_in_bytes")) {
		files = append(files, file{c, "memory", "memory.memsw.limit_in_bytes", "16777216"})
	}
	if m.version == V2 {
		files = []file{
			{&p.Cgroup, "memory", "memory.max", "67108864"}, {c, "memory", "memory.max", "16777216"},
			{&p.Cgroup, "cpu", "cpu.max", "150000 100000"}, {c, "cpu", "cpu.max", "50000 100000"},
			{&p.Cgroup, "cpu", "cpu.weight", "12"}, {c, "cpu", "cpu.weight", "4"},
			{&p.Cgroup, "pids", "pids.max", "64"}, {c, "memory", "memory.oom.group", "1"},
		}
	}
	for _, f := range files {
		if got := read(t, f.g, f.controller, f.f); got != f.want {
			t.Errorf("%s/%s = %s, want %s", f.g.dirs[m.hierarchyOf(f.controller)], f.f, got, f.want)
		}
	}
}

func TestOOMKill(t *testing.T) {
	m := testManager(t, "memory")
	p, err := m.NewPod("uid-oom", Limits{MemoryBytes: 128 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("over its limit", func(t *testing.T) {
		c, err := p.Container("small", Limits{MemoryBytes: 16 << 20})
		if err != nil {
			t.Fatal(err)
		}
		before, _ := c.OOM()
		code, stderr := runHog(t, c, "mem:64")
		after, err := c.OOM()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("exit code %d, OOM before %+v, after %+v", code, before, after)
		if code != 137 {
			t.Fatalf("a container touching 64 MiB with a 16 MiB limit exited %d, not 137 (SIGKILL) %s", code, stderr)
		}
		if !OOMKilled(before, after, code) {
			t.Errorf("OOMKilled(%+v, %+v, %d) is false", before, after, code)
		}
		if st, err := c.Stats(); err != nil || st.MemoryPeak < 8<<20 || st.MemoryPeak > 17<<20 {
			t.Errorf("Stats = %+v, %v: its peak should be near its 16 MiB limit", st, err)
		}
	})
	t.Run("within its limit", func(t *testing.T) {
		// The same hog, 64 MiB under a 96 MiB limit: it is the limit that kills.
		c, err := p.Container("big", Limits{MemoryBytes: 96 << 20})
		if err != nil {
			t.Fatal(err)
		}
		before, _ := c.OOM()
		code, stderr := runHog(t, c, "mem:64")
		after, _ := c.OOM()
		if code != 0 || OOMKilled(before, after, code) {
			t.Errorf("a container touching 64 MiB with a 96 MiB limit exited %d (OOM %+v → %+v) %s", code, before, after, stderr)
		}
	})
}

func TestCPUQuota(t *testing.T) {
	m := testManager(t, "cpu")
	if m.version == V1 && !m.has("cpuacct") {
		t.Skipf("no cpuacct controller here to measure CPU time: %s", m.unusable["cpuacct"])
	}
	p, err := m.NewPod("uid-cpu", Limits{CPUMilli: 100})
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Container("spin", Limits{CPUMilli: 100, CPUSharesMilli: 100})
	if err != nil {
		t.Fatal(err)
	}
	if code, stderr := runHog(t, c, "spin:1000"); code != 0 {
		t.Fatalf("spinning hog exited %d: %s", code, stderr)
	}
	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	// 1 s of busy loop under a tenth of a CPU: about 100 ms of CPU, some of the first
	// period's burst aside. Unlimited, it would take about 1 s of it.
	t.Logf("CPU time of 1 s of busy loop under a 100m limit: %v", time.Duration(st.CPUNanos))
	if st.CPUNanos < uint64(20*time.Millisecond) || st.CPUNanos > uint64(400*time.Millisecond) {
		t.Errorf("the hog used %v of CPU in 1 s with a 100m limit", time.Duration(st.CPUNanos))
	}
}

// startSh starts `sh -c script` in cgroup c: joined by the test once started, before
// the script runs (it waits for a line on stdin), so its children are born there.
// The channel is closed once the shell is reaped, its exit status then in *status.
func startSh(t *testing.T, c *Cgroup, script string) (cmd *exec.Cmd, done <-chan struct{}, status *error) {
	t.Helper()
	cmd = exec.Command("sh", "-c", "read x; "+script)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited, status := make(chan struct{}), new(error)
	go func() { *status = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	if err := c.Join(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	return cmd, exited, status
}

// waitPids waits until cgroup c holds n processes, and returns them.
func waitPids(t *testing.T, c *Cgroup, n int) []int {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		pids, err := c.Pids()
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) == n {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("cgroup %s holds %v, not %d processes", c.Path(), pids, n)
		}
	}
}

// gone: the process exited (a zombie nobody reaped yet counts).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'Z'
}

func waitGone(t *testing.T, pids []int) {
	t.Helper()
	for _, pid := range pids {
		for deadline := time.Now().Add(5 * time.Second); !gone(pid); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d is still running", pid)
			}
		}
	}
}

func TestRemoveKillsAndRemoves(t *testing.T) {
	m := testManager(t)
	p, err := m.NewPod("uid-remove", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Container("sh", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	cmd, done, status := startSh(t, c, "sleep 300 & sleep 300")
	pids := waitPids(t, c, 3) // the shell and its two sleeps, born in the cgroup
	if !slices.Contains(pids, cmd.Process.Pid) {
		t.Fatalf("the shell %d is not among %v", cmd.Process.Pid, pids)
	}
	if err := p.Remove(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		if code := exitCode(*status); code != 137 {
			t.Errorf("the shell exited %d, not killed", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the shell is still running after Remove")
	}
	waitGone(t, pids)
	for _, d := range append(slices.Clone(p.dirs), c.dirs...) {
		if exists(d) {
			t.Errorf("%s is still there after Remove", d)
		}
	}
	if err := p.Remove(); err != nil {
		t.Errorf("Remove again: %v", err)
	}
}

func TestSweep(t *testing.T) {
	m := testManager(t)
	pods := map[string]*Pod{}
	for _, uid := range []string{"uid-a", "uid-b", "uid-c"} {
		p, err := m.NewPod(uid, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Container("main", Limits{}); err != nil {
			t.Fatal(err)
		}
		pods[uid] = p
	}
	a, _ := pods["uid-a"].Container("main", Limits{})
	_, done, _ := startSh(t, a, "sleep 300")
	pids := waitPids(t, a, 2)
	removed, err := m.Sweep(func(uid string) bool { return uid == "uid-b" })
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"uid-a", "uid-c"}; !slices.Equal(removed, want) {
		t.Errorf("Sweep removed %v, want %v", removed, want)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the swept pod's shell is still running")
	}
	waitGone(t, pids)
	for uid, p := range pods {
		if got, want := exists(p.Path()), uid == "uid-b"; got != want {
			t.Errorf("pod %s's cgroup there after Sweep: %v, want %v", uid, got, want)
		}
	}
}

// TestV2 makes the executor's cgroup a child of the test's own v2 cgroup, with a
// process in it standing for the executor, and checks setupV2's layout, a process
// started into a container's cgroup (CLONE_INTO_CGROUP), Remove through cgroup.kill
// and Sweep, with whatever controllers the hierarchy offers (on a hybrid host, none).
func TestV2(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test makes cgroups below its own")
	}
	own, ok := ownV2(t)
	if !ok {
		t.Skip("no cgroup2 mount shows the test's own v2 cgroup")
	}
	exe := filepath.Join(own, fmt.Sprintf("k8sm-test-v2-%d", os.Getpid()))
	if err := mkdir(exe); err != nil {
		t.Skipf("cannot make a v2 cgroup here: %v", err)
	}
	t.Cleanup(func() {
		if err := (&Cgroup{m: &Manager{version: V2}, dirs: []string{exe}}).Remove(); err != nil {
			t.Errorf("removing %s: %v", exe, err)
		}
	})
	executor := exec.Command("sleep", "300")
	if err := executor.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = executor.Process.Kill(); _ = executor.Wait() })
	if err := write(filepath.Join(exe, "cgroup.procs"), strconv.Itoa(executor.Process.Pid)); err != nil {
		t.Fatal(err)
	}
	m, err := setupV2(exe, DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s; unused: %v", m, m.unusable)
	if pids, _ := readPids(filepath.Join(exe, "cgroup.procs")); len(pids) != 0 {
		t.Errorf("the executor's cgroup still holds %v", pids)
	}
	if pids, _ := readPids(filepath.Join(exe, executorLeaf, "cgroup.procs")); !slices.Equal(pids, []int{executor.Process.Pid}) {
		t.Errorf("%s holds %v, not the executor %d", executorLeaf, pids, executor.Process.Pid)
	}
	testV2Pods(t, m)
}

func testV2Pods(t *testing.T, m *Manager) {
	lim := Limits{MemoryBytes: 16 << 20, CPUMilli: 100, Pids: 10}
	if got, want := len(m.Unenforced(lim)), 3-len(m.Controllers()); got != want {
		t.Errorf("Unenforced = %v with controllers %v", m.Unenforced(lim), m.Controllers())
	}
	p, err := m.NewPod("uid-v2", lim)
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Container("main", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.Open(c.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = dir.Close() }()
	cmd := exec.Command("sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting a process into %s: %v", c.Path(), err)
	}
	done, status := make(chan struct{}), new(error)
	go func() { *status = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	if pids := waitPids(t, c, 1); pids[0] != cmd.Process.Pid {
		t.Errorf("%s holds %v, not %d", c.Path(), pids, cmd.Process.Pid)
	}
	q, err := m.NewPod("uid-v2-stale", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if removed, err := m.Sweep(func(uid string) bool { return uid == "uid-v2" }); err != nil || !slices.Equal(removed, []string{"uid-v2-stale"}) || exists(q.Path()) {
		t.Errorf("Sweep = %v, %v; %s there: %v", removed, err, q.Path(), exists(q.Path()))
	}
	if err := p.Remove(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		if code := exitCode(*status); code != 137 {
			t.Errorf("the container's process exited %d, not killed", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the container's process is still running after Remove")
	}
	if exists(p.Path()) {
		t.Errorf("%s is still there after Remove", p.Path())
	}
}

// ownV2 is the directory of the test's own v2 cgroup.
func ownV2(t *testing.T) (string, bool) {
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	p, ok := parseProcCgroup(string(cg))[""]
	if !ok {
		return "", false
	}
	dir, _, ok := v2Dir(parseMountinfo(string(mi)), p)
	return dir, ok
}
