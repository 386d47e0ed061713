package kubelet

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	ossignal "os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// No static pod outlives its executor.
//
// The kubelet runs a static pod for as long as its manifest is there, and nothing ties
// the manifest to the executor's life: an executor that crashes, is OOM-killed or
// SIGKILLed would leave its pods running under the kubelet, while the agent reports
// their tasks failed, the pods are replaced elsewhere and Mesos offers their resources
// (and hostPorts) again. Sweep removes such manifests, but only when another executor
// of the framework starts on the agent. So, as the process runtime does for its
// processes (executor/process/orphans.go), the runtime runs its own binary again as a
// watchdog (Init): a small process that waits for EOF on a pipe whose write end only
// the executor holds, which comes when the executor's process ends, however it ends;
// it then removes the manifests of the directory that name this executor run (its
// framework and its sandbox, as Start marks every manifest), whichever task wrote them,
// and exits. It stays in the executor's process group and session, so the agent's
// destroy of the executor's container ends it too: what it then leaves, the next
// executor's Sweep removes.

// watchdogEnv makes the executor's binary the kubelet runtime's watchdog (Init); its
// value is the run it watches, a watchedRun in JSON.
const watchdogEnv = "K8SM_KUBELET_WATCHDOG"

// watchedRun names the manifests a watchdog removes: those of Dir whose annotations
// name FrameworkID and Sandbox.
type watchedRun struct {
	Dir         string `json:"dir"`
	FrameworkID string `json:"frameworkID"`
	Sandbox     string `json:"sandbox"`
}

// watchdogs says whether this program can be its own watchdog: Init was called.
var watchdogs atomic.Bool

// Init must be called before anything else in a program that runs the kubelet runtime
// (before flags are parsed: the watchdog is the program run again without them). In the
// copy of the program the runtime runs as its watchdog, it is the watchdog, and never
// returns; anywhere else it returns at once and lets runtimes start watchdogs, which
// they do not without it.
func Init() {
	spec := os.Getenv(watchdogEnv)
	if spec == "" {
		watchdogs.Store(true)
		return
	}
	// Signals sent to the executor's process group (a terminal's ^C) are ignored: the
	// executor stops its pods itself then.
	ossignal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	os.Exit(watchdog(spec, os.NewFile(3, "executor-alive")))
}

// watchdog waits until alive, the read end of a pipe only the executor writes to,
// reads EOF, which comes when the executor's process has ended; then it removes the
// run's manifests.
func watchdog(spec string, alive io.Reader) int {
	var run watchedRun
	if err := json.Unmarshal([]byte(spec), &run); err != nil || run.Dir == "" || run.FrameworkID == "" || run.Sandbox == "" {
		fmt.Fprintf(os.Stderr, "k8sm-executor watchdog: %s=%q names no executor run\n", watchdogEnv, spec)
		return 2
	}
	_, _ = io.Copy(io.Discard, alive)
	removed, failed := removeRunManifests(run)
	if removed > 0 {
		fmt.Fprintf(os.Stderr, "k8sm-executor watchdog: the executor is gone; removed %d static pod manifests of it\n", removed)
	}
	for _, err := range failed {
		fmt.Fprintf(os.Stderr, "k8sm-executor watchdog: the executor is gone; %v\n", err)
	}
	return 0
}

// removeRunManifests removes the manifests of run; it returns how many, and what it
// could not remove.
func removeRunManifests(run watchedRun) (removed int, failed []error) {
	_ = eachManifest(run.Dir, func(file string, a map[string]string) {
		if a[AnnotationFrameworkID] != run.FrameworkID || a[AnnotationExecutorSandbox] != run.Sandbox {
			return
		}
		if err := os.Remove(file); err != nil && !os.IsNotExist(err) {
			failed = append(failed, err)
			return
		}
		removed++
	})
	return removed, failed
}

// ensureWatchdog starts the runtime's watchdog the first time it is needed, and keeps
// one running: a watchdog that dies is started again.
func (r *Runtime) ensureWatchdog() {
	r.watchdogOnce.Do(func() {
		if r.FrameworkID == "" || r.Sandbox == "" || !watchdogs.Load() {
			return
		}
		spec, _ := json.Marshal(watchedRun{Dir: r.ManifestDir, FrameworkID: r.FrameworkID, Sandbox: r.Sandbox})
		alive, keep, err := os.Pipe()
		if err != nil {
			r.Log.Info("Cannot start the watchdog: a dead executor may leave static pods", "error", err.Error())
			return
		}
		// keep is never written to nor closed: the kernel closes it as the process ends.
		r.keepAlive = keep
		cmd, err := startWatchdog(string(spec), alive)
		if err != nil {
			r.Log.Info("Cannot start the watchdog: a dead executor may leave static pods", "error", err.Error())
			return
		}
		go r.superviseWatchdog(cmd, string(spec), alive)
	})
}

// startWatchdog runs this program as the watchdog of spec. It runs /proc/self/exe where
// there is one, which works even if the program's file was replaced or removed since it
// started.
func startWatchdog(spec string, alive *os.File) (*exec.Cmd, error) {
	exe := "/proc/self/exe"
	if _, err := os.Stat(exe); err != nil {
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(exe)
	cmd.Args = []string{os.Args[0]}
	cmd.Env = append(os.Environ(), watchdogEnv+"="+spec)
	cmd.ExtraFiles = []*os.File{alive}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// The executor's process group and session: the agent's container destroy reaches
	// it, and it outlives the executor by design.
	return cmd, cmd.Start()
}

// superviseWatchdog starts the watchdog again whenever it dies while the executor lives.
func (r *Runtime) superviseWatchdog(cmd *exec.Cmd, spec string, alive *os.File) {
	for {
		err := cmd.Wait()
		r.Log.Info("The watchdog ended; starting another", "error", fmt.Sprint(err))
		time.Sleep(time.Second)
		if cmd, err = startWatchdog(spec, alive); err != nil {
			r.Log.Info("Cannot start the watchdog: a dead executor may leave static pods", "error", err.Error())
			return
		}
	}
}
