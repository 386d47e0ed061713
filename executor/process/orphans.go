package process

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/uuid"

	"github.com/k8sm/k8sm/executor/watchdog"
)

// No orphans from a dead executor.
//
// A container's process leads a process group of its own (so a kill reaches what it
// starts) in the executor's session, and nothing in the kernel ties that group to the
// executor's life: an executor that is SIGKILLed, OOM-killed or restarted would leave it
// running, reparented to init. The Mesos agent, when an executor ends, destroys its
// container: with cgroups isolation the whole cgroup, with the POSIX launcher every
// process in the executor's session and process group (os::killtree) — which is why the
// containers stay in the executor's session. The runtime does not count on that alone
// (an executor may run outside Mesos's containerizer, or the agent may be down), and
// takes three steps of its own, each covering what the one before cannot:
//
//  1. Each container process, and each exec probe, gets PR_SET_PDEATHSIG = SIGKILL: the
//     kernel kills it as its parent dies. The kernel means the thread that forked it,
//     not the process (prctl(2); golang/go#27505), and Go ends a thread when a goroutine
//     locked to it returns, so every child is started from one goroutine locked to its
//     thread that never returns (startProcess, Linux only). A change of user clears the
//     setting, so the helper that starts a container as its user sets it again
//     (helper_linux.go); a setuid program clears it too, and it does not pass to the
//     container's own children.
//  2. For those children (a shell's `sleep 300 &`), a watchdog (package
//     executor/watchdog): the executor runs its own binary again (Init) as a small
//     process that waits for EOF on a pipe whose write end only the executor holds,
//     which comes when the executor's process ends, however it ends; it then kills what
//     the records below name, and exits. The child
//     subreaper (PR_SET_CHILD_SUBREAPER) does not do this job: orphans reparent to a
//     subreaper only while it lives, go to init with it, and would oblige the executor
//     to reap adopted processes without stealing os/exec's exit statuses.
//  3. A record per running container, under the executor's sandbox
//     (.k8sm-processes/<cookie>.json, removed once the container's group is gone):
//     its process group, the leader's start time, the boot and the PID namespace, and
//     a cookie: a random value set in the container's environment (EnvCookie), which
//     its children inherit. An executor that starts sweeps the records of the ended runs
//     of its framework on the agent (Sweep), in case the watchdog died with the executor.
//
// Process ids are reused (pid_max may be 32768), so a record is never trusted by its
// number alone: a process is killed when it carries a recorded cookie, or when it is the
// recorded group leader itself, alive with the recorded start time (and then with its
// whole group, whose id cannot be reused while it lives). Nothing else is touched; a
// process that dropped the cookie from its environment and whose leader is gone is left
// to the agent's container destroy.

// EnvCookie is set in the environment of every container process: a random value per
// container start, recorded with the container's process group, by which a watchdog or
// a later executor finds the container's processes, children included, once the
// executor that started them is gone (as Jenkins's ProcessTreeKiller finds a build's
// processes by a cookie in their environment).
const EnvCookie = "K8SM_PROCESS_COOKIE"

const (
	// recordsDir is where, under the executor's sandbox, running containers are recorded.
	recordsDir = ".k8sm-processes"
	// watchdogEnv makes the executor's binary a watchdog (Init); its value is the
	// records directory to clear when the executor dies.
	watchdogEnv = "K8SM_PROCESS_WATCHDOG"
)

// record is what the runtime keeps about a running container's process group so that
// a watchdog or a later executor can kill it once its executor is gone.
type record struct {
	Pod       string `json:"pod"`
	Container string `json:"container"`
	// PGID is the container process's pid, which leads its process group.
	PGID int `json:"pgid"`
	// StartTime is the leader's start, in clock ticks after boot (/proc/<pid>/stat).
	StartTime uint64 `json:"startTime"`
	// BootID and PIDNamespace are where PGID and StartTime mean something.
	BootID       string `json:"bootID"`
	PIDNamespace string `json:"pidNamespace"`
	// Cookie is the container's EnvCookie.
	Cookie string `json:"cookie"`
}

// newCookie makes a container start's EnvCookie value.
func newCookie() string { return uuid.NewString() }

// remember records a started container process under the runtime's sandbox; forget
// removes the record once the container's process group is gone. Without a sandbox
// nothing is recorded.
func (r *Runtime) remember(pod, container string, cmd *exec.Cmd, cookie string) (forget func()) {
	if r.Sandbox == "" {
		return func() {}
	}
	pid := cmd.Process.Pid
	rec := record{Pod: pod, Container: container, PGID: pid, StartTime: procStart(pid),
		BootID: bootID(), PIDNamespace: pidNamespace(), Cookie: cookie}
	dir := filepath.Join(r.Sandbox, recordsDir)
	file := filepath.Join(dir, cookie+".json")
	data, _ := json.Marshal(rec)
	tmp := file + ".tmp"
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		err = os.WriteFile(tmp, data, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, file)
	}
	if err != nil {
		r.Log.Info("Cannot record a container's process group; a dead executor may leave it running", "pod", pod, "container", container, "error", err.Error())
	}
	return func() { _ = os.Remove(file) }
}

// readRecords reads the records in a directory, with their files.
func readRecords(dir string) ([]record, []string) {
	entries, _ := os.ReadDir(dir)
	var recs []record
	var files []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		file := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(file)
		var rec record
		if err != nil || json.Unmarshal(data, &rec) != nil || rec.PGID <= 1 {
			continue
		}
		recs, files = append(recs, rec), append(files, file)
	}
	return recs, files
}

// clearRecords kills what the records in dir name and removes them; it returns how
// many processes it killed.
func clearRecords(dir string) int {
	recs, files := readRecords(dir)
	if len(recs) == 0 {
		return 0
	}
	n := killLeftovers(recs)
	for _, f := range files {
		_ = os.Remove(f)
	}
	return n
}

// killByCookie kills what is left of an ended container run that had no cgroup to
// remove: every process that carries its cookie, those that left its process group
// (setsid) included. Without it they would outlive the container, its pod and the
// executor: its record goes with it, so neither the watchdog nor a Sweep finds them.
func killByCookie(cookie string) int {
	return killLeftovers([]record{{Cookie: cookie, BootID: bootID(), PIDNamespace: pidNamespace()}})
}

// Sweep kills what the ended executor runs among runs left running: the containers
// their records name, and what is in the pod cgroups they name (sweepCgroups), which
// it removes (executor.Sweeper).
func (r *Runtime) Sweep(runs []string, ended func(string) bool) {
	for _, run := range runs {
		dir := filepath.Join(run, recordsDir)
		if recs, _ := readRecords(dir); len(recs) == 0 || !ended(run) {
			continue
		}
		n := clearRecords(dir)
		r.Log.Info("Swept the containers an ended executor left", "sandbox", run, "killed", n)
	}
	r.sweepCgroups(runs, ended)
}

// orphanWatchdog is the runtime's watchdog: its value is the records directory to
// clear when the executor dies.
var orphanWatchdog = &watchdog.Watchdog{Env: watchdogEnv, Watch: watchRecords, Leaves: "container processes"}

// Init must be called first thing in main of a program that runs the process runtime
// (and in TestMain of tests that do). The runtime runs the program again for two jobs,
// and in those copies Init does the job and never returns: with K8SM_PROCESS_HELPER set
// it is the helper that starts a container's process as its securityContext says
// (launch.go; it execs the container's command), with K8SM_PROCESS_WATCHDOG set the
// watchdog of a runtime with a Sandbox. Anywhere else it returns at once and lets
// runtimes start containers and watchdogs; without it they start neither.
func Init() {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper())
	}
	orphanWatchdog.Init(supported)
	helpers.Store(true)
}

// watchRecords readies the watchdog of the records in dir: once the executor is gone,
// it kills what they name, and removes the pod cgroups the run made (removeRunCgroups).
func watchRecords(dir string) (func() int, error) {
	return func() int {
		if n := clearRecords(dir); n > 0 {
			fmt.Fprintf(os.Stderr, "k8sm-executor watchdog: the executor is gone; killed %d processes of its containers\n", n)
		}
		if err := removeRunCgroups(filepath.Dir(dir)); err != nil {
			fmt.Fprintf(os.Stderr, "k8sm-executor watchdog: the executor is gone; its pods' cgroups: %v\n", err)
		}
		return 0
	}, nil
}

// ensureWatchdog starts the runtime's watchdog the first time it is needed; the
// watchdog package keeps one running.
func (r *Runtime) ensureWatchdog() {
	r.watchdogOnce.Do(func() {
		if r.Sandbox == "" {
			return
		}
		r.keepAlive = orphanWatchdog.Start(filepath.Join(r.Sandbox, recordsDir), r.Log)
	})
}
