package kubelet

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/k8sm/k8sm/executor"
	"github.com/k8sm/k8sm/internal/podtask"
	"github.com/k8sm/k8sm/internal/testkubelet"
)

// TestWithARealKubelet runs a pod through a real kubelet and containerd: it reaches
// Running with its container statuses (its node selector, which k8sm placed it by,
// not held against the kubelet's Node), and on KILL is torn down with no container left.
func TestWithARealKubelet(t *testing.T) {
	// The authenticated port, as on most agents (the read-only port is often off), with
	// the kubelet's own certificate; it also serves /runningpods/ to see the teardown.
	env, client := startRealKubelet(t)
	rt := &Runtime{ManifestDir: env.ManifestDir, URL: env.SecureURL, Client: client, PollInterval: 250 * time.Millisecond, Log: testr.New(t), Done: t.Context().Done()}
	grace := int64(5)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sleeper", Namespace: "default", UID: "5e1f0000-0000-4000-8000-000000000001"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			// Placed by an agent attribute on the agent's Node, which the kubelet's own
			// Node does not have: the kubelet must not reject the pod for it.
			NodeSelector: map[string]string{"rack": "r1"},
			Containers: []corev1.Container{{Name: "main", Image: testkubelet.Image, ImagePullPolicy: corev1.PullNever,
				// Ends at once, and well, on SIGTERM: the kill reports the kubelet's
				// exit code 0, which makes a deleted pod Succeeded.
				Command: []string{"sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}},
					PeriodSeconds: 1}}},
		},
	}
	var got reports
	h, err := rt.Start(pod, sandboxDir(t), got.add)
	if err != nil {
		t.Fatal(err)
	}
	running := got.waitFor(t, 90*time.Second, "Running and Ready", func(r executor.Report) bool {
		return r.Status.Phase == corev1.PodRunning && podtask.PodReady(&r.Status)
	}, env.Logs)
	if cs := running.Status.ContainerStatuses; len(cs) != 1 || cs[0].State.Running == nil || !cs[0].Ready {
		t.Errorf("container statuses = %+v, want main running and ready", cs)
	}
	if running.Status.PodIP == "" {
		t.Error("no pod IP")
	}
	if ids, err := env.RunningContainers(); err != nil || len(ids) == 0 {
		t.Fatalf("no running container seen while the pod runs: %v (%v)", ids, err)
	}

	h.Kill(time.Duration(grace) * time.Second)
	killed := got.waitFor(t, 60*time.Second, "Killed", func(r executor.Report) bool { return r.Killed }, env.Logs)
	if _, err := os.Stat(filepath.Join(env.ManifestDir, ManifestFile(pod.UID))); !os.IsNotExist(err) {
		t.Errorf("the manifest is still there (%v)", err)
	}
	if ids, err := env.RunningContainers(); err != nil || len(ids) != 0 {
		t.Errorf("containers still running after the kill: %v (%v)\n%s", ids, err, env.Logs())
	}
	if cs := killed.Status.ContainerStatuses; len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].State.Terminated.ExitCode != 0 {
		t.Errorf("killed with container statuses %+v, want main terminated with exit code 0", cs)
	}
}

func (r *reports) waitFor(t *testing.T, d time.Duration, what string, ok func(executor.Report) bool, logs func() string) executor.Report {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for _, rep := range r.all {
			if ok(rep) {
				r.mu.Unlock()
				return rep
			}
		}
		r.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Fatalf("no report %s within %s; got %+v\n%s", what, d, r.all, logs())
	return executor.Report{}
}

// A KILL's grace reaches the kubelet: a container that ignores SIGTERM is killed when
// the KILL's grace ends, not when its terminationGracePeriodSeconds does.
func TestARealKubeletKillsWithTheKillsGrace(t *testing.T) {
	env, client := startRealKubelet(t)
	rt := &Runtime{ManifestDir: env.ManifestDir, URL: env.SecureURL, Client: client, PollInterval: 250 * time.Millisecond, Log: testr.New(t), Done: t.Context().Done()}
	long := int64(300)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "stubborn", Namespace: "default", UID: "5e1f0000-0000-4000-8000-000000000003"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &long,
			Containers: []corev1.Container{{Name: "main", Image: testkubelet.Image, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sh", "-c", "trap '' TERM; while true; do sleep 1; done"}}},
		},
	}
	var got reports
	h, err := rt.Start(pod, sandboxDir(t), got.add)
	if err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, 90*time.Second, "Running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning }, env.Logs)
	h.Kill(2 * time.Second)
	got.waitFor(t, 40*time.Second, "Killed", func(r executor.Report) bool { return r.Killed }, env.Logs)
	if ids, err := env.RunningContainers(); err != nil || len(ids) != 0 {
		t.Errorf("containers still running after the kill: %v (%v)", ids, err)
	}
	if _, err := os.Stat(filepath.Join(env.ManifestDir, ManifestFile(pod.UID))); !os.IsNotExist(err) {
		t.Errorf("the manifest is still there (%v)", err)
	}
}

// The kubelet fails a pod whose activeDeadlineSeconds passed (DeadlineExceeded) before
// it kills its containers with their grace: the pod is reported failed only once no
// container of it runs, and not ready, still running, meanwhile.
func TestARealKubeletsDeadlineExceededPodIsReportedOnceStopped(t *testing.T) {
	env, client := startRealKubelet(t)
	rt := &Runtime{ManifestDir: env.ManifestDir, URL: env.SecureURL, Client: client, PollInterval: 250 * time.Millisecond, Log: testr.New(t), Done: t.Context().Done()}
	grace, deadline := int64(8), int64(3)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "overdue", Namespace: "default", UID: "5e1f0000-0000-4000-8000-000000000004"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			ActiveDeadlineSeconds:         &deadline,
			Containers: []corev1.Container{{Name: "main", Image: testkubelet.Image, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sh", "-c", "trap '' TERM; while true; do sleep 1; done"}}},
		},
	}
	var got reports
	var left []string // the containers running when the pod was reported failed
	_, err := rt.Start(pod, sandboxDir(t), func(r executor.Report) {
		if r.Status.Phase == corev1.PodFailed {
			var err error
			if left, err = env.RunningContainers(); err != nil {
				t.Error(err)
			}
		}
		got.add(r)
	})
	if err != nil {
		t.Fatal(err)
	}
	failed := got.waitFor(t, 90*time.Second, "Failed", func(r executor.Report) bool { return r.Status.Phase == corev1.PodFailed }, env.Logs)
	if failed.Status.Reason != "DeadlineExceeded" {
		t.Errorf("failed with reason %q, want DeadlineExceeded", failed.Status.Reason)
	}
	if len(left) != 0 {
		t.Errorf("reported failed while containers still ran: %v", left)
	}
	got.mu.Lock()
	defer got.mu.Unlock()
	ending := false // reported running and not ready, with the kubelet's reason, before Failed
	for _, r := range got.all {
		if r.Status.Phase == corev1.PodFailed {
			break
		}
		ending = ending || (r.Status.Phase == corev1.PodRunning && !podtask.PodReady(&r.Status) && r.Status.Reason == "DeadlineExceeded")
	}
	if !ending {
		t.Errorf("not reported not ready while its containers stopped; reports: %+v", got.all)
	}
}

// A pod deleted and created again under its name on the agent, its new task launched
// while the old one is being killed: the old is killed with its KILL's grace and
// reported killed as its containers go, though a pod of its name runs again; the new
// one runs as soon as the old one stopped, and reports its own containers only.
func TestARealKubeletRunsAPodRecreatedWithTheSameName(t *testing.T) {
	env, client := startRealKubelet(t)
	rt := &Runtime{ManifestDir: env.ManifestDir, URL: env.SecureURL, Client: client, PollInterval: 250 * time.Millisecond, Log: testr.New(t), Done: t.Context().Done()}
	grace := int64(5)
	podOf := func(uid, task string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "again", Namespace: "default", UID: types.UID(uid), Annotations: map[string]string{AnnotationTaskID: task}},
			Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: &grace,
				Containers: []corev1.Container{{Name: "main", Image: testkubelet.Image, ImagePullPolicy: corev1.PullNever,
					Command: []string{"sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"}}},
			},
		}
	}
	isRunning := func(r executor.Report) bool {
		cs := r.Status.ContainerStatuses
		return r.Status.Phase == corev1.PodRunning && len(cs) == 1 && cs[0].State.Running != nil && cs[0].ContainerID != ""
	}
	var old, recreated reports
	var left []string // the containers running when the old pod was reported killed
	hOld, err := rt.Start(podOf("5e1f0000-0000-4000-8000-000000000005", "again-1"), sandboxDir(t), func(r executor.Report) {
		if r.Killed {
			var err error
			if left, err = env.RunningContainers(); err != nil {
				t.Error(err)
			}
		}
		old.add(r)
	})
	if err != nil {
		t.Fatal(err)
	}
	oldID := old.waitFor(t, 90*time.Second, "old Running", isRunning, env.Logs).Status.ContainerStatuses[0].ContainerID

	hOld.Kill(time.Duration(grace) * time.Second)
	hNew, err := rt.Start(podOf("5e1f0000-0000-4000-8000-000000000006", "again-2"), sandboxDir(t), recreated.add)
	if err != nil {
		t.Fatal(err)
	}
	killed := old.waitFor(t, 20*time.Second, "old Killed", func(r executor.Report) bool { return r.Killed }, env.Logs)
	if killed.Message != "" {
		t.Errorf("the old pod was reported killed with %q, want no word of a deadline", killed.Message)
	}
	if id := strings.TrimPrefix(oldID, "containerd://"); slices.Contains(left, id) {
		t.Errorf("the old pod was reported killed while its container %s ran", id)
	}
	running := recreated.waitFor(t, 30*time.Second, "new Running", isRunning, env.Logs)
	if id := running.Status.ContainerStatuses[0].ContainerID; id == oldID {
		t.Errorf("the new pod reported the old one's container %s", id)
	}
	if r, ok := recreated.first(func(r executor.Report) bool {
		return r.Killed || r.Status.Phase == corev1.PodFailed || r.Status.Phase == corev1.PodSucceeded ||
			(len(r.Status.ContainerStatuses) > 0 && r.Status.ContainerStatuses[0].ContainerID == oldID)
	}); ok {
		t.Errorf("the new pod reported %+v: an end, or the old one's container", r)
	}
	ids, err := env.RunningContainers()
	if err != nil {
		t.Fatal(err)
	}
	if id := strings.TrimPrefix(oldID, "containerd://"); slices.Contains(ids, id) {
		t.Errorf("the old pod's container %s runs on: %v", id, ids)
	}
	if id := strings.TrimPrefix(running.Status.ContainerStatuses[0].ContainerID, "containerd://"); !slices.Contains(ids, id) {
		t.Errorf("the new pod's container %s is not running: %v", id, ids)
	}
	// The kubelet (--v 2) logs each pod its config removes: the old one alone, never
	// the new one, as it would when the old one's manifest went while the new one's
	// held the name, to add it again at its next look at the directory.
	if n := syncLoops(t, env, "REMOVE", "default/again-"+env.NodeName); n != 1 {
		t.Errorf("the kubelet's config removed a pod named again %d times before the new one was killed, want once (the old one)", n)
	}
	hNew.Kill(time.Duration(grace) * time.Second)
	recreated.waitFor(t, 40*time.Second, "new Killed", func(r executor.Report) bool { return r.Killed }, env.Logs)
}

// syncLoops counts the kubelet's log lines of its sync loop's op (ADD, REMOVE, ...)
// that name the pod namespace/name.
func syncLoops(t *testing.T, env *testkubelet.Env, op, pod string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.Dir, "kubelet.log"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, `"SyncLoop `+op+`"`) && strings.Contains(l, `"`+pod+`"`) {
			n++
		}
	}
	return n
}

// sandboxDir is a pod's sandbox for a test with a real kubelet. The runtime may still be
// keeping an ended pod's container logs there as the test ends (saveLogs), which
// t.TempDir's removal raced with ("directory not empty"): its removal is tried again for
// a while.
func sandboxDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "k8sm-sandbox-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			err := os.RemoveAll(dir)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("removing the sandbox: %v", err)
				return
			}
		}
	})
	return dir
}
