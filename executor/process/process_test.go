package process

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/k8sm/k8sm/executor"
)

// recorder keeps a pod's reports.
type recorder struct {
	mu      sync.Mutex
	reports []executor.Report
	ch      chan executor.Report
	ended   chan struct{} // closed on the first report of the pod's end
}

func newRecorder() *recorder {
	return &recorder{ch: make(chan executor.Report, 1000), ended: make(chan struct{})}
}

func (r *recorder) report(rep executor.Report) {
	r.mu.Lock()
	r.reports = append(r.reports, rep)
	if ended(rep) {
		select {
		case <-r.ended:
		default:
			close(r.ended)
		}
	}
	r.mu.Unlock()
	r.ch <- rep
}

// until waits for a report that satisfies ok.
func (r *recorder) until(t *testing.T, what string, ok func(executor.Report) bool) executor.Report {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case rep := <-r.ch:
			if ok(rep) {
				return rep
			}
		case <-deadline:
			t.Fatalf("no report where %s", what)
		}
	}
}

func ended(rep executor.Report) bool {
	return rep.Killed || rep.Status.Phase == corev1.PodSucceeded || rep.Status.Phase == corev1.PodFailed
}

// testUID is the UID of the test pods of this process: pods of one UID share a cgroup
// (k8sm/pod<uid>), and test binaries of other packages run pods at the same time.
var testUID = types.UID(fmt.Sprintf("u1-%d", os.Getpid()))

func shPod(policy corev1.RestartPolicy, scripts ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: testUID, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{RestartPolicy: policy, NodeName: "node-1"}}
	for i, s := range scripts {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "c" + string(rune('0'+i)), Command: []string{"sh", "-c", s}})
	}
	return p
}

// sharedDir is a directory every user may write to: containers run as nobody by default.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "k8sm-process-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

func start(t *testing.T, p *corev1.Pod) (executor.Handle, *recorder, string) {
	t.Helper()
	return startWith(t, &Runtime{}, p)
}

// startWith starts a pod with rt in a sandbox its containers can reach (as the
// executor's are: 0755), and kills it as the test ends. The cleanup waits for the pod's
// end to be reported, not only for Kill to return: Kill returns once the containers'
// processes exited, and what they left behind (a daemon in their cgroup) is killed and
// its cgroup removed after that; the sandbox is removed once nothing runs in it.
func startWith(t *testing.T, rt *Runtime, p *corev1.Pod) (executor.Handle, *recorder, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h, rec := startIn(t, rt, p, dir)
	return h, rec, dir
}

// startIn starts a pod with rt in the sandbox dir, and kills it as the test ends.
func startIn(t *testing.T, rt *Runtime, p *corev1.Pod, dir string) (executor.Handle, *recorder) {
	t.Helper()
	// Set once: a runtime started again runs pods that read them.
	if rt.BackoffBase == 0 && rt.BackoffMax == 0 {
		rt.BackoffBase, rt.BackoffMax = 20*time.Millisecond, 100*time.Millisecond
	}
	if rt.HostIP == "" {
		rt.HostIP = "127.0.0.1"
	}
	rec := newRecorder()
	h, err := rt.Start(p, dir, rec.report)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Kill(time.Second)
		select {
		case <-rec.ended:
		case <-time.After(20 * time.Second):
			t.Errorf("pod %s did not end within 20 s of its kill", p.Name)
		}
	})
	return h, rec
}

func TestPodEnds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		policy  corev1.RestartPolicy
		scripts []string
		phase   corev1.PodPhase
		msg     string
	}{
		{"exit 0, never restarted", corev1.RestartPolicyNever, []string{"exit 0"}, corev1.PodSucceeded, ""},
		{"exit 3, never restarted", corev1.RestartPolicyNever, []string{"exit 3"}, corev1.PodFailed, "container c0 exited with code 3"},
		{"one of two fails", corev1.RestartPolicyNever, []string{"exit 0", "exit 1"}, corev1.PodFailed, "container c1 exited with code 1"},
		{"killed by a signal: 128 + the signal", corev1.RestartPolicyNever, []string{"kill -KILL $$$$"}, corev1.PodFailed, "container c0 exited with code 137"},
		{"OnFailure ends once it succeeds", corev1.RestartPolicyOnFailure, []string{"exit 0"}, corev1.PodSucceeded, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, rec, _ := start(t, shPod(tc.policy, tc.scripts...))
			rep := rec.until(t, "the pod ended", ended)
			if rep.Status.Phase != tc.phase || rep.Message != tc.msg {
				t.Fatalf("phase %s message %q, want %s %q", rep.Status.Phase, rep.Message, tc.phase, tc.msg)
			}
		})
	}
}

func TestRestartsCountWithBackoff(t *testing.T) {
	_, rec, _ := start(t, shPod(corev1.RestartPolicyAlways, "exit 1"))
	rep := rec.until(t, "restartCount reached 3", func(r executor.Report) bool {
		return len(r.Status.ContainerStatuses) == 1 && r.Status.ContainerStatuses[0].RestartCount >= 3
	})
	cs := rep.Status.ContainerStatuses[0]
	if rep.Status.Phase != corev1.PodRunning || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 {
		t.Fatalf("status %+v", rep.Status)
	}
}

// A container's restarts wait as the kubelet's (doBackOff, with its crashLoopBackOff):
// its first exit restarts it at once, each later one after twice the wait before, 10 s
// to 5 min, counted from the exit; an exit more than 10 minutes after its last restart
// starts its back-off over.
func TestRestartDelayIsTheKubelets(t *testing.T) {
	const s, m = time.Second, time.Minute
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		rt   *Runtime
		// ran is how long each run lasted, from its start to its exit; the delay
		// before each restart is wanted.
		ran  []time.Duration
		want []time.Duration
	}{
		{"crashing at once", &Runtime{}, []time.Duration{0, 0, 0, 0, 0, 0, 0, 0, 0},
			[]time.Duration{0, 10 * s, 20 * s, 40 * s, 80 * s, 160 * s, 5 * m, 5 * m, 5 * m}},
		{"a run of more than 10 minutes starts it over", &Runtime{}, []time.Duration{0, 0, 0, 0, 0, 0, 0, 10*m + s, 0, 0},
			[]time.Duration{0, 10 * s, 20 * s, 40 * s, 80 * s, 160 * s, 5 * m, 0, 10 * s, 20 * s}},
		{"a run of 10 minutes exactly does not", &Runtime{}, []time.Duration{0, 0, 10 * m, 0},
			[]time.Duration{0, 10 * s, 20 * s, 40 * s}},
		{"a run of a minute does not", &Runtime{}, []time.Duration{0, 0, m, 0},
			[]time.Duration{0, 10 * s, 20 * s, 40 * s}},
		{"a base over the max is the max", &Runtime{BackoffBase: m, BackoffMax: 30 * s}, []time.Duration{0, 0, 0},
			[]time.Duration{0, 30 * s, 30 * s}},
		{"the reset is the runtime's", &Runtime{BackoffReset: time.Minute}, []time.Duration{0, 0, 0, m + s, 0},
			[]time.Duration{0, 10 * s, 20 * s, 0, 10 * s}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b backoff
			now := t0
			var got []time.Duration
			for _, ran := range tc.ran {
				now = now.Add(ran) // it exits now
				d := tc.rt.restartDelay(&b, now, now)
				got = append(got, d)
				now = now.Add(d) // and starts again
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("waits %v, want %v", got, tc.want)
			}
		})
	}
}

// A container that ran longer than BackoffReset since its last restart is restarted at
// once, as its first exit was, however long its back-off had grown; its next quick
// exit waits BackoffBase again.
func TestALongRunStartsTheBackoffOver(t *testing.T) {
	count := filepath.Join(sharedDir(t), "count")
	// The first run exits at once, the second after the reset, the third at once.
	p := shPod(corev1.RestartPolicyAlways, `n=$(($(cat `+count+` 2>/dev/null || echo 0) + 1)); echo $n > `+count+`
		if [ $n = 2 ]; then sleep 1.5; fi; exit 1`)
	rt := &Runtime{BackoffBase: time.Hour, BackoffMax: time.Hour, BackoffReset: time.Second}
	_, rec, _ := startWith(t, rt, p)
	rep := rec.until(t, "the container waits to restart", func(r executor.Report) bool {
		cs := r.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CrashLoopBackOff"
	})
	b, _ := os.ReadFile(count)
	// Three runs are two restarts: the count says the restarts done, as the kubelet's,
	// not the one the back-off waits for.
	if cs := rep.Status.ContainerStatuses[0]; cs.RestartCount != 2 || strings.TrimSpace(string(b)) != "3" {
		t.Fatalf("in CrashLoopBackOff after %s runs, restart count %d; want it after the third, the first two restarted at once (2 restarts)", strings.TrimSpace(string(b)), cs.RestartCount)
	}
	if cs := rep.Status.ContainerStatuses[0]; cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 {
		t.Errorf("in CrashLoopBackOff, last termination %+v; want the third run's exit 1", cs.LastTerminationState)
	}
}

func TestInitContainersRunFirstInOrder(t *testing.T) {
	p := shPod(corev1.RestartPolicyNever, `cat "$OUT"/order > "$OUT"/seen`)
	out := sharedDir(t)
	env := []corev1.EnvVar{{Name: "OUT", Value: out}}
	p.Spec.Containers[0].Env = env
	p.Spec.InitContainers = []corev1.Container{
		{Name: "i1", Command: []string{"sh", "-c", `echo one >> "$OUT"/order`}, Env: env},
		{Name: "i2", Command: []string{"sh", "-c", `echo two >> "$OUT"/order`}, Env: env},
	}
	_, rec, _ := start(t, p)
	if rep := rec.until(t, "the pod ended", ended); rep.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("%+v", rep)
	}
	seen, _ := os.ReadFile(filepath.Join(out, "seen"))
	if string(seen) != "one\ntwo\n" {
		t.Fatalf("main container saw %q", seen)
	}
}

func TestEnvWorkingDirAndLogs(t *testing.T) {
	p := shPod(corev1.RestartPolicyNever, `echo "$POD $NS $NODE $APP $GREETING"; pwd; echo oops >&2`)
	p.Spec.Containers[0].Env = []corev1.EnvVar{
		{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "NS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
		{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
		{Name: "GREETING", Value: "hello $(POD)"},
	}
	wd := sharedDir(t)
	p.Spec.Containers[0].WorkingDir = wd
	_, rec, dir := start(t, p)
	rec.until(t, "the pod ended", ended)
	stdout, stderr := output(dir, "c0", corev1.LogStreamStdout), output(dir, "c0", corev1.LogStreamStderr)
	if stdout != "p ns node-1 web hello p\n"+wd+"\n" || stderr != "oops\n" {
		t.Fatalf("stdout %q stderr %q", stdout, stderr)
	}
}

func TestKillStopsTheWholeProcessGroup(t *testing.T) {
	pidFile := filepath.Join(sharedDir(t), "child")
	// The container ignores SIGTERM and starts a child: both must be gone after the grace period.
	h, rec, _ := start(t, shPod(corev1.RestartPolicyAlways, `trap "" TERM; sleep 300 & echo $! > `+pidFile+`; wait`))
	rec.until(t, "the container runs", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
	var child int
	for deadline := time.Now().Add(10 * time.Second); child == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(pidFile)
		child = atoi(strings.TrimSpace(string(b)))
	}
	begin := time.Now()
	h.Kill(300 * time.Millisecond)
	if took := time.Since(begin); took < 300*time.Millisecond {
		t.Fatalf("SIGKILL came before the grace period: %v", took)
	}
	rep := rec.until(t, "the pod was killed", ended)
	if !rep.Killed {
		t.Fatalf("%+v", rep)
	}
	for deadline := time.Now().Add(5 * time.Second); alive(child); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d of the container is still alive", child)
		}
	}
}

// alive says whether a process exists and is not a zombie waiting for its new parent.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) == 0 || fields[0] != "Z"
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func TestReadinessProbeFlipsReady(t *testing.T) {
	flag := filepath.Join(sharedDir(t), "ready")
	p := shPod(corev1.RestartPolicyAlways, "sleep 300")
	p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: 1, FailureThreshold: 1,
		ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-f", flag}}}}
	_, rec, _ := start(t, p)
	rec.until(t, "running, not ready", func(r executor.Report) bool {
		return r.Status.Phase == corev1.PodRunning && !r.Status.ContainerStatuses[0].Ready
	})
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rec.until(t, "ready", func(r executor.Report) bool {
		return r.Status.ContainerStatuses[0].Ready && r.Status.Conditions[2].Status == corev1.ConditionTrue
	})
}

func TestRefusesWhatItCannotRun(t *testing.T) {
	rt := &Runtime{}
	noCmd := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}}}
	if _, err := rt.Start(noCmd, t.TempDir(), func(executor.Report) {}); err == nil || !strings.Contains(err.Error(), "spec.containers[0].command") {
		t.Fatalf("a container without a command: %v", err)
	}
	secretEnv := shPod(corev1.RestartPolicyNever, "true")
	secretEnv.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "pw"}}}}
	if _, err := rt.Start(secretEnv, t.TempDir(), func(executor.Report) {}); err == nil || !strings.Contains(err.Error(), "spec.containers[0].env: PW") {
		t.Fatalf("env from a Secret: %v", err)
	}
	grpc := shPod(corev1.RestartPolicyNever, "true")
	grpc.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9000}}}
	if _, err := rt.Start(grpc, t.TempDir(), func(executor.Report) {}); err == nil || !strings.Contains(err.Error(), "spec.containers[0].livenessProbe.grpc") {
		t.Fatalf("a gRPC probe: %v", err)
	}
	if _, err := executor.DecodePod([]byte(`{"spec":{"containers":[{"name":"c"}],"volumes":[{"name":"data","hostPath":{"path":"/x"}}]}}`), rt.Supports); err == nil ||
		!strings.Contains(err.Error(), "spec.volumes[0] (data): this runtime cannot provide hostPath volumes") {
		t.Fatalf("hostPath volume: %v", err)
	}
	if _, err := executor.DecodePod([]byte(`not json`), rt.Supports); err == nil || !strings.Contains(err.Error(), "not a pod") {
		t.Fatalf("garbage: %v", err)
	}
}

func TestRefusesEnvItCannotProvide(t *testing.T) {
	secret := &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "pw"}}
	configMap := &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Key: "k"}}
	resource := &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}
	envFrom := []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{}}}
	for _, tc := range []struct {
		name    string
		init    bool
		env     []corev1.EnvVar
		envFrom []corev1.EnvFromSource
		want    string
	}{
		{"init container, Secret key", true, []corev1.EnvVar{{Name: "A", Value: "a"}, {Name: "PW", ValueFrom: secret}}, nil, "spec.initContainers[0].env: PW"},
		{"init container, ConfigMap key", true, []corev1.EnvVar{{Name: "K", ValueFrom: configMap}}, nil, "spec.initContainers[0].env: K"},
		{"init container, resource field", true, []corev1.EnvVar{{Name: "CPU", ValueFrom: resource}}, nil, "spec.initContainers[0].env: CPU"},
		{"init container, envFrom", true, nil, envFrom, "spec.initContainers[0].env: envFrom"},
		{"container, ConfigMap key", false, []corev1.EnvVar{{Name: "K", ValueFrom: configMap}}, nil, "spec.containers[0].env: K"},
		{"container, envFrom", false, nil, envFrom, "spec.containers[0].env: envFrom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := shPod(corev1.RestartPolicyNever, "true")
			c := &p.Spec.Containers[0]
			if tc.init {
				p.Spec.InitContainers = []corev1.Container{{Name: "i", Command: []string{"true"}}}
				c = &p.Spec.InitContainers[0]
			}
			c.Env, c.EnvFrom = tc.env, tc.envFrom
			h, err := (&Runtime{}).Start(p, t.TempDir(), func(executor.Report) {})
			if err == nil {
				h.Kill(time.Second)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestInitContainerGetsItsEnv(t *testing.T) {
	out := sharedDir(t)
	p := shPod(corev1.RestartPolicyNever, "true")
	p.Spec.InitContainers = []corev1.Container{{Name: "i", Command: []string{"sh", "-c", `echo "$GREETING $POD" > ` + out + `/env; test -n "$PATH"`},
		Env: []corev1.EnvVar{{Name: "GREETING", Value: "hi"},
			{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}}
	_, rec, _ := start(t, p)
	if rep := rec.until(t, "the pod ended", ended); rep.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("%+v", rep)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "env")); string(b) != "hi p\n" {
		t.Fatalf("the init container saw %q", b)
	}
}

// A container whose environment cannot be made (Start refuses such pods; this is the
// runtime's second line) does not start without one: it ends StartError, saying why.
func TestEnvErrorIsAStartError(t *testing.T) {
	p := shPod(corev1.RestartPolicyNever, "true")
	p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "pw"}}}}
	id := currentIdentity()
	rec := newRecorder()
	rt := &Runtime{}
	pd := &pod{rt: rt, pod: p, sandbox: t.TempDir(), report: rec.report, kill: make(chan struct{}), limits: rt.limitsFor(p)}
	c := &container{spec: p.Spec.Containers[0], sec: resolved{settings: settings{UID: id.UID, GID: id.GID}}}
	code, err := pd.runOnce(c)
	term := c.status.State.Terminated
	if code != 128 || err == nil || term == nil || term.Reason != "StartError" || !strings.Contains(term.Message, "env: PW") {
		t.Fatalf("code %d, err %v, state %+v", code, err, c.status.State)
	}
}

// The runtime restarts a container as the pod's restartPolicy says, a sidecar always:
// a container's own restartPolicy that says otherwise, and restartPolicyRules anywhere,
// it refuses by name rather than ignoring them. One that says what the pod's does it
// takes.
func TestRefusesRestartPoliciesItDoesNotFollow(t *testing.T) {
	policy := func(p corev1.ContainerRestartPolicy) *corev1.ContainerRestartPolicy { return &p }
	rules := []corev1.ContainerRestartRule{{Action: corev1.ContainerRestartRuleActionRestart,
		ExitCodes: &corev1.ContainerRestartRuleOnExitCodes{Operator: corev1.ContainerRestartRuleOnExitCodesOpIn, Values: []int32{42}}}}
	for _, tc := range []struct {
		name      string
		podPolicy corev1.RestartPolicy
		init      bool
		policy    *corev1.ContainerRestartPolicy
		rules     []corev1.ContainerRestartRule
		want      string // "": runs
	}{
		{"Never in an Always pod", corev1.RestartPolicyAlways, false, policy(corev1.ContainerRestartPolicyNever), nil, "spec.containers[0].restartPolicy"},
		{"OnFailure in a pod of the default", "", false, policy(corev1.ContainerRestartPolicyOnFailure), nil, "spec.containers[0].restartPolicy"},
		{"Always in a Never pod", corev1.RestartPolicyNever, false, policy(corev1.ContainerRestartPolicyAlways), nil, "spec.containers[0].restartPolicy"},
		{"the pod's own", corev1.RestartPolicyNever, false, policy(corev1.ContainerRestartPolicyNever), nil, ""},
		{"rules", corev1.RestartPolicyNever, false, policy(corev1.ContainerRestartPolicyNever), rules, "spec.containers[0].restartPolicyRules"},
		{"init container, Never in an OnFailure pod", corev1.RestartPolicyOnFailure, true, policy(corev1.ContainerRestartPolicyNever), nil, "spec.initContainers[0].restartPolicy"},
		{"init container, OnFailure in a Never pod", corev1.RestartPolicyNever, true, policy(corev1.ContainerRestartPolicyOnFailure), nil, "spec.initContainers[0].restartPolicy"},
		{"init container, OnFailure in an Always pod", corev1.RestartPolicyAlways, true, policy(corev1.ContainerRestartPolicyOnFailure), nil, ""},
		{"sidecar", corev1.RestartPolicyNever, true, policy(corev1.ContainerRestartPolicyAlways), nil, ""},
		{"sidecar with rules", corev1.RestartPolicyNever, true, policy(corev1.ContainerRestartPolicyAlways), rules, "spec.initContainers[0].restartPolicyRules"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := shPod(tc.podPolicy, "true")
			c := &p.Spec.Containers[0]
			if tc.init {
				p.Spec.InitContainers = []corev1.Container{{Name: "i", Command: []string{"true"}}}
				c = &p.Spec.InitContainers[0]
			}
			c.RestartPolicy, c.RestartPolicyRules = tc.policy, tc.rules
			err := CheckPod(p)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want+": ") {
				t.Fatalf("got %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// Each start of a container gets an empty working directory (its rootfs), as a kubelet's
// container gets a fresh writable layer: what the instance before left there is gone.
func TestARestartedContainerStartsInAnEmptyWorkingDirectory(t *testing.T) {
	dir := sharedDir(t)
	log, count := filepath.Join(dir, "log"), filepath.Join(dir, "count")
	p := shPod(corev1.RestartPolicyOnFailure, `n=$(cat `+count+` 2>/dev/null || echo 0); echo $((n+1)) > `+count+`
if [ -f mark ]; then echo kept >> `+log+`; else echo fresh >> `+log+`; fi
touch mark; [ "$n" -ge 1 ] && exit 0; exit 1`)
	_, rec, _ := start(t, p)
	rep := rec.until(t, "the pod ended", ended)
	if rep.Status.Phase != corev1.PodSucceeded || rep.Status.ContainerStatuses[0].RestartCount != 1 {
		t.Fatalf("phase %s, container %+v: want one restart, then success", rep.Status.Phase, rep.Status.ContainerStatuses[0])
	}
	if b, _ := os.ReadFile(log); string(b) != "fresh\nfresh\n" {
		t.Fatalf("log %q: want each start in an empty working directory", b)
	}
}
