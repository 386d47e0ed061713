package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/recordio"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// envAsExecutor makes the test binary the k8sm executor: main, with its arguments. Its
// watchdog, a copy of the binary with this environment, comes to main too.
const envAsExecutor = "K8SM_TEST_AS_EXECUTOR"

func TestMain(m *testing.M) {
	if os.Getenv(envAsExecutor) != "" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// agent is a Mesos agent's executor API, enough for one executor at a time: SUBSCRIBE
// gets SUBSCRIBED and, for the first executor, a LAUNCH of launch; updates are taken.
type agent struct {
	srv    *httptest.Server
	launch mesos.TaskInfo
	mu     sync.Mutex
	subs   int
}

func newAgent(t *testing.T, launch mesos.TaskInfo) *agent {
	a := &agent{launch: launch}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *agent) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var call mexec.Call
	if err := call.Unmarshal(body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if call.GetType() != mexec.Call_SUBSCRIBE {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	a.mu.Lock()
	a.subs++
	first := a.subs == 1
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
	out := recordio.NewWriter(w)
	events := []*mexec.Event{{Type: mexec.Event_SUBSCRIBED, Subscribed: &mexec.Event_Subscribed{AgentInfo: mesos.AgentInfo{Hostname: "agent-1"}}}}
	if first {
		events = append(events, &mexec.Event{Type: mexec.Event_LAUNCH, Launch: &mexec.Event_Launch{Task: a.launch}})
	}
	for _, e := range events {
		b, _ := e.Marshal()
		if out.WriteFrame(b) != nil {
			return
		}
	}
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

func (a *agent) subscriptions() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.subs
}

// shTask is a task whose pod's container is `sh -c 'sleep 300 & wait'`, writing the
// shell's and the sleep's pids to pidFile ($$$$ is the shell's $$: a command's $$ is a
// literal $, as Kubernetes expands it).
func shTask(t *testing.T, pidFile string) mesos.TaskInfo {
	// A UID of this process's: pods of one UID share a cgroup (k8sm/pod<uid>), and test
	// binaries of other packages run pods at the same time.
	uid := types.UID(fmt.Sprintf("u1-%d", os.Getpid()))
	pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: uid},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c",
			Command: []string{"sh", "-c", `sleep 300 & echo $$$$ $! > "$0.tmp" && mv "$0.tmp" "$0"; wait`, pidFile}}}}}
	data, err := json.Marshal(&pod)
	if err != nil {
		t.Fatal(err)
	}
	return mesos.TaskInfo{Name: "p", TaskID: mesos.TaskID{Value: "t1"}, AgentID: mesos.AgentID{Value: "a1"}, Data: data}
}

// startExecutor runs the executor in sandbox, in a process group of its own (as an
// agent starts it), with the MESOS_* environment and args (default --runtime=process).
func startExecutor(t *testing.T, a *agent, sandbox string, args ...string) *exec.Cmd {
	t.Helper()
	if err := os.MkdirAll(sandbox, 0o755); err != nil {
		t.Fatal(err)
	}
	if len(args) == 0 {
		args = []string{"--runtime=process"}
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), envAsExecutor+"=1",
		"MESOS_FRAMEWORK_ID=fw", "MESOS_EXECUTOR_ID=ex", "MESOS_DIRECTORY="+sandbox, "MESOS_SANDBOX="+sandbox,
		"MESOS_AGENT_ENDPOINT="+strings.TrimPrefix(a.srv.URL, "http://"), "MESOS_CHECKPOINT=0",
		"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=1secs")
	cmd.Dir, cmd.Stdout, cmd.Stderr = sandbox, os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	return cmd
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20s for: %s", what)
		}
	}
}

// containerPIDs waits for the container's pids, and kills what is left of them when the
// test ends.
func containerPIDs(t *testing.T, file string) (sh, sleep int) {
	t.Helper()
	eventually(t, "the container started its child", func() bool {
		b, _ := os.ReadFile(file)
		if f := strings.Fields(string(b)); len(f) == 2 {
			sh, _ = strconv.Atoi(f[0])
			sleep, _ = strconv.Atoi(f[1])
		}
		return sh > 0 && sleep > 0
	})
	t.Cleanup(func() {
		for _, pid := range []int{sh, sleep} {
			if cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); running(pid) && strings.Contains(string(cmdline), "300") {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return sh, sleep
}

// running says whether a process exists and is not a zombie.
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// The executor is SIGKILLed (its process only): its watchdog kills the container's
// processes, the shell's child included.
func TestAKilledExecutorLeavesNoContainerProcess(t *testing.T) {
	runs := filepath.Join(t.TempDir(), "frameworks", "fw", "executors", "ex", "runs")
	pidFile := filepath.Join(writableDir(t), "pids")
	a := newAgent(t, shTask(t, pidFile))
	x := startExecutor(t, a, filepath.Join(runs, "1"))
	sh, sleep := containerPIDs(t, pidFile)
	if err := x.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	eventually(t, "no container process is left", func() bool { return !running(sh) && !running(sleep) })
	t.Logf("no container process left %v after the kill", time.Since(killed).Round(time.Millisecond))
	eventually(t, "the watchdog removed the pod's cgroup", noCgroupMarks(filepath.Join(runs, "1")))
}

// noCgroupMarks: the run's sandbox names no pod cgroup left to remove (an executor that
// makes none, without cgroups, names none either).
func noCgroupMarks(sandbox string) func() bool {
	return func() bool {
		entries, _ := os.ReadDir(filepath.Join(sandbox, ".k8sm-cgroups"))
		return len(entries) == 0
	}
}

// The executor and its watchdog are SIGKILLed together: the shell's child is left, and
// the next executor of the framework on the agent kills it as it starts.
func TestARestartedExecutorSweepsWhatTheKilledOneLeft(t *testing.T) {
	runs := filepath.Join(t.TempDir(), "frameworks", "fw", "executors", "ex", "runs")
	pidFile := filepath.Join(writableDir(t), "pids")
	a := newAgent(t, shTask(t, pidFile))
	x := startExecutor(t, a, filepath.Join(runs, "1"))
	sh, sleep := containerPIDs(t, pidFile)
	if err := syscall.Kill(-x.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the shell died with its executor", func() bool { return !running(sh) })
	if !running(sleep) {
		t.Fatal("the shell's child died with the executor and its watchdog: this test no longer shows the sweep")
	}

	startExecutor(t, a, filepath.Join(runs, "2"))
	eventually(t, "the new executor swept the shell's child", func() bool { return !running(sleep) })
	eventually(t, "the new executor removed the killed one's pod cgroup", noCgroupMarks(filepath.Join(runs, "1")))
	if n := a.subscriptions(); n > 2 {
		t.Errorf("%d subscriptions", n)
	}
}

// writableDir is a directory the pod's container may write to: it runs as nobody when
// the executor is root.
func writableDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "k8sm-executor-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}
