package kubelet

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sm/k8sm/executor/watchdog"
)

// No static pod outlives its executor.
//
// The kubelet runs a static pod for as long as its manifest is there, and nothing ties
// the manifest to the executor's life: an executor that crashes, is OOM-killed or
// SIGKILLed would leave its pods running under the kubelet, while the agent reports
// their tasks failed, the pods are replaced elsewhere and Mesos offers their resources
// (and hostPorts) again. Sweep removes such manifests, but only when another executor
// of the framework starts on the agent. So, as the process runtime does for its
// processes (executor/process/orphans.go), the runtime keeps a watchdog (package
// executor/watchdog: its own binary run again, Init): once the executor's process ends,
// however it ends, it removes the manifests of the directory that name this executor
// run (its framework and its sandbox, as Start marks every manifest), whichever task
// wrote them, and exits. The agent's destroy of the executor's container ends it too:
// what it then leaves, the next executor's Sweep removes.

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

// manifestWatchdog is the runtime's watchdog.
var manifestWatchdog = &watchdog.Watchdog{Env: watchdogEnv, Watch: watchRun, Leaves: "static pods"}

// Init must be called before anything else in a program that runs the kubelet runtime
// (before flags are parsed: the watchdog is the program run again without them). In the
// copy of the program the runtime runs as its watchdog, it is the watchdog, and never
// returns; anywhere else it returns at once and lets runtimes start watchdogs, which
// they do not without it.
func Init() { manifestWatchdog.Init(true) }

// watchRun readies the watchdog of spec, a watchedRun in JSON: once the executor is
// gone, it removes the run's manifests.
func watchRun(spec string) (func() int, error) {
	var run watchedRun
	if err := json.Unmarshal([]byte(spec), &run); err != nil || run.Dir == "" || run.FrameworkID == "" || run.Sandbox == "" {
		return nil, fmt.Errorf("%s=%q names no executor run", watchdogEnv, spec)
	}
	return func() int {
		removed, failed := removeRunManifests(run)
		if removed > 0 {
			fmt.Fprintf(os.Stderr, "k8sm-executor watchdog: the executor is gone; removed %d static pod manifests of it\n", removed)
		}
		for _, err := range failed {
			fmt.Fprintf(os.Stderr, "k8sm-executor watchdog: the executor is gone; %v\n", err)
		}
		return 0
	}, nil
}

// removeRunManifests removes the manifests of run, and the temporary files of those it
// was writing (the kubelet ignores them, but they hold pods' specs); it returns how
// many manifests, and what it could not remove.
func removeRunManifests(run watchedRun) (removed int, failed []error) {
	ours := func(a map[string]string) bool {
		return a[AnnotationFrameworkID] == run.FrameworkID && a[AnnotationExecutorSandbox] == run.Sandbox
	}
	remove := func(file string) bool {
		if err := os.Remove(file); err != nil && !os.IsNotExist(err) {
			failed = append(failed, err)
			return false
		}
		return true
	}
	_ = eachManifest(run.Dir, func(file string, a map[string]string) {
		if ours(a) && remove(file) {
			removed++
		}
	})
	_ = eachTempManifest(run.Dir, func(file string, m *metav1.PartialObjectMetadata, _ time.Time) {
		if m != nil && ours(m.Annotations) {
			remove(file)
		}
	})
	return removed, failed
}

// ensureWatchdog starts the runtime's watchdog the first time it is needed; the
// watchdog package keeps one running.
func (r *Runtime) ensureWatchdog() {
	r.watchdogOnce.Do(func() {
		if r.FrameworkID == "" || r.Sandbox == "" {
			return
		}
		spec, _ := json.Marshal(watchedRun{Dir: r.ManifestDir, FrameworkID: r.FrameworkID, Sandbox: r.Sandbox})
		r.keepAlive = manifestWatchdog.Start(string(spec), r.Log)
	})
}
