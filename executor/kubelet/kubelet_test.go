package kubelet

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sm/k8sm/executor"
)

func apiPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "uid-1", Labels: map[string]string{"app": "web"},
			Annotations: map[string]string{"a": "b"}, ResourceVersion: "42", OwnerReferences: []metav1.OwnerReference{{Name: "rs"}}},
		Spec: corev1.PodSpec{NodeName: "mesos-c-host", SchedulerName: "mesos", ServiceAccountName: "default",
			Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"}}}},
	}
}

// manifestPod is the static pod of pod's manifest, as the kubelet reads it.
func manifestPod(t *testing.T, pod *corev1.Pod) corev1.Pod {
	t.Helper()
	b, err := Manifest(pod)
	if err != nil {
		t.Fatal(err)
	}
	var static corev1.Pod
	if err := json.Unmarshal(b, &static); err != nil {
		t.Fatal(err)
	}
	return static
}

func TestManifest(t *testing.T) {
	got := manifestPod(t, apiPod())
	switch {
	case got.Kind != "Pod" || got.APIVersion != "v1":
		t.Errorf("type = %s/%s", got.APIVersion, got.Kind)
	case got.Name != "web" || got.Namespace != "shop" || got.Labels["app"] != "web":
		t.Errorf("metadata = %+v", got.ObjectMeta)
	case got.Annotations[AnnotationPodUID] != "uid-1" || got.Annotations["a"] != "b":
		t.Errorf("annotations = %v", got.Annotations)
	case got.UID != staticPodUID("uid-1", "") || got.ResourceVersion != "" || len(got.OwnerReferences) != 0:
		t.Errorf("API-only metadata kept: %+v", got.ObjectMeta)
	case got.Spec.NodeName != "" || got.Spec.SchedulerName != "" || got.Spec.ServiceAccountName != "":
		t.Errorf("spec keeps node, scheduler or service account: %+v", got.Spec)
	case got.Spec.AutomountServiceAccountToken == nil || *got.Spec.AutomountServiceAccountToken:
		t.Error("the service account token is not turned off")
	case len(got.Spec.Containers) != 1 || got.Spec.Containers[0].Command[0] != "sleep":
		t.Errorf("containers = %+v", got.Spec.Containers)
	}
}

func TestManifestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.Pod)
		want   string
	}{
		{"secret volume", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}}}
		}, "spec.volumes[0] (creds): a static pod cannot use secret volumes"},
		{"claim", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}}}
		}, "spec.volumes[0] (data): a static pod cannot use persistentVolumeClaim volumes"},
		{"env from a secret", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "k"}}}}
		}, "spec.containers[0].env[1] (PASSWORD): a static pod cannot refer to ConfigMaps or Secrets"},
		{"envFrom a config map in an init container", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "i", EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{}}}}}
		}, "spec.initContainers[0].envFrom[0]"},
		{"image pull secrets", func(p *corev1.Pod) {
			p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "reg"}}
		}, "spec.imagePullSecrets"},
		{"no uid", func(p *corev1.Pod) { p.UID = "" }, "metadata.uid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := apiPod()
			tc.mutate(p)
			if _, err := Manifest(p); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	ok := apiPod()
	ok.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data"}}}}
	if _, err := Manifest(ok); err != nil {
		t.Errorf("emptyDir and hostPath refused: %v", err)
	}
}

func TestKilledStatus(t *testing.T) {
	last := corev1.PodStatus{Phase: corev1.PodRunning,
		Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}
	st := killedStatus(last)
	if st.Phase != corev1.PodFailed || st.Conditions[0].Status != corev1.ConditionFalse {
		t.Errorf("status = %+v", st)
	}
	if cs := st.ContainerStatuses[0]; cs.Ready || cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 137 {
		t.Errorf("container = %+v", cs)
	}
	if last.ContainerStatuses[0].State.Running == nil {
		t.Error("the last status was changed in place")
	}
}

// fakeKubelet serves /pods from a list the test changes, and checks the bearer token.
// /runningpods/ is not served (404) unless running is set: then it answers running's
// status, with runningPods when that is 200. asked are the times each path was asked.
type fakeKubelet struct {
	mu          sync.Mutex
	pods        []corev1.Pod
	token       string
	running     int
	runningPods []corev1.Pod
	asked       map[string][]time.Time
}

func (k *fakeKubelet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if k.token != "" && r.Header.Get("Authorization") != "Bearer "+k.token {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.asked == nil {
		k.asked = map[string][]time.Time{}
	}
	k.asked[r.URL.Path] = append(k.asked[r.URL.Path], time.Now())
	if r.URL.Path == "/runningpods/" && k.running != 0 {
		if k.running != http.StatusOK {
			http.Error(w, "the container runtime did not answer", k.running)
			return
		}
		_ = json.NewEncoder(w).Encode(corev1.PodList{Items: k.runningPods})
		return
	}
	if r.URL.Path != "/pods" {
		http.NotFound(w, r)
		return
	}
	_ = json.NewEncoder(w).Encode(corev1.PodList{Items: k.pods})
}

func (k *fakeKubelet) set(pods ...corev1.Pod) {
	k.mu.Lock()
	k.pods = pods
	k.mu.Unlock()
}

func (k *fakeKubelet) setRunning(pods ...corev1.Pod) {
	k.mu.Lock()
	k.runningPods = pods
	k.mu.Unlock()
}

// askedSince counts the requests for path after t.
func (k *fakeKubelet) askedSince(path string, after time.Time) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, at := range k.asked[path] {
		if at.After(after) {
			n++
		}
	}
	return n
}

// runningPod is the kubelet's pod as /runningpods/ lists it: no annotations, no status.
func runningPod(p corev1.Pod) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID}}
}

// staticPod is the kubelet's static pod of apiPod, with the config source the kubelet
// gives the pods of its manifest directory.
func staticPod(phase corev1.PodPhase) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-node", Namespace: "shop", UID: "static-uid",
		Annotations: map[string]string{AnnotationPodUID: "uid-1", annotationConfigSource: configSourceFile}},
		Status: corev1.PodStatus{Phase: phase, PodIP: "10.0.0.5",
			ContainerStatuses: []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}}
}

type reports struct {
	mu  sync.Mutex
	all []executor.Report
}

func (r *reports) add(rep executor.Report) {
	r.mu.Lock()
	r.all = append(r.all, rep)
	r.mu.Unlock()
}

// first returns the first report that is ok.
func (r *reports) first(ok func(executor.Report) bool) (executor.Report, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rep := range r.all {
		if ok(rep) {
			return rep, true
		}
	}
	return executor.Report{}, false
}

func (r *reports) wait(t *testing.T, what string, ok func(executor.Report) bool) executor.Report {
	t.Helper()
	return r.waitFor(t, 10*time.Second, what, ok, func() string { return "" })
}

func TestFollowsTheStaticPod(t *testing.T) {
	k := &fakeKubelet{token: "t0ken"}
	rt := runtimeOf(t, k)
	rt.Token = "t0ken"
	dir := rt.ManifestDir
	var got reports
	h, err := rt.Start(apiPod(), "", got.add)
	if err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(dir, ManifestFile("uid-1"))
	if _, err := os.Stat(manifest); err != nil {
		t.Fatalf("no manifest written: %v", err)
	}
	k.set(staticPod(corev1.PodPending))
	got.wait(t, "Pending", func(r executor.Report) bool { return r.Status.Phase == corev1.PodPending })
	k.set(staticPod(corev1.PodRunning))
	run := got.wait(t, "Running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
	if run.Status.PodIP != "10.0.0.5" || len(run.Status.ContainerStatuses) != 1 {
		t.Errorf("running status = %+v, want the kubelet's", run.Status)
	}

	h.Kill(time.Second)
	waitGone(t, manifest)
	k.set() // the kubelet tore it down
	killed := got.wait(t, "Killed", func(r executor.Report) bool { return r.Killed })
	if killed.Status.ContainerStatuses[0].State.Terminated == nil {
		t.Errorf("killed status = %+v", killed.Status)
	}
}

// Closing Done stops following the pods: no more polls of the kubelet, which a test's
// end (its server closed, its token file removed) would otherwise face for ever.
func TestDoneStopsFollowing(t *testing.T) {
	k := &fakeKubelet{}
	rt := runtimeOf(t, k)
	done := make(chan struct{})
	rt.Done = done
	var got reports
	if _, err := rt.Start(apiPod(), "", got.add); err != nil {
		t.Fatal(err)
	}
	k.set(staticPod(corev1.PodRunning))
	got.wait(t, "Running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
	close(done)
	polls := func() int {
		k.mu.Lock()
		defer k.mu.Unlock()
		return len(k.asked["/pods"])
	}
	before := polls()
	time.Sleep(20 * rt.PollInterval)        // room for 20 polls that must not come
	if after := polls(); after > before+1 { // one may have been under way
		t.Errorf("%d polls of the kubelet after Done closed, want none", after-before)
	}
}

func TestAPodThatEndsRemovesItsManifest(t *testing.T) {
	k := &fakeKubelet{}
	rt := runtimeOf(t, k)
	dir := rt.ManifestDir
	var got reports
	if _, err := rt.Start(apiPod(), "", got.add); err != nil {
		t.Fatal(err)
	}
	k.set(endedPod(corev1.PodSucceeded, time.Now().Add(-time.Minute)))
	got.wait(t, "Succeeded", func(r executor.Report) bool { return r.Status.Phase == corev1.PodSucceeded })
	waitGone(t, filepath.Join(dir, ManifestFile("uid-1")))
}

func TestAPodTheKubeletNeverRunsFails(t *testing.T) {
	srv := httptest.NewServer(&fakeKubelet{})
	defer srv.Close()
	dir := t.TempDir()
	rt := &Runtime{ManifestDir: dir, URL: srv.URL, PollInterval: 5 * time.Millisecond, AppearTimeout: 50 * time.Millisecond, Log: logr.Discard(), Done: t.Context().Done()}
	var got reports
	if _, err := rt.Start(apiPod(), "", got.add); err != nil {
		t.Fatal(err)
	}
	failed := got.wait(t, "Failed", func(r executor.Report) bool { return r.Status.Phase == corev1.PodFailed })
	if !strings.Contains(failed.Message, "staticPodPath") {
		t.Errorf("message = %q, want it to point at the kubelet's staticPodPath", failed.Message)
	}
	waitGone(t, filepath.Join(dir, ManifestFile("uid-1")))
}

// A kubelet that does not answer at all is no reason to wait for ever: the pod fails as
// one the kubelet does not show does, saying why, and its manifest is removed so that
// the kubelet does not start it when it comes back.
func TestAPodFailsWhenTheKubeletNeverAnswers(t *testing.T) {
	srv := httptest.NewServer(&fakeKubelet{})
	srv.Close() // nothing listens there any more
	dir := t.TempDir()
	rt := &Runtime{ManifestDir: dir, URL: srv.URL, PollInterval: 5 * time.Millisecond, AppearTimeout: 50 * time.Millisecond, Log: logr.Discard(), Done: t.Context().Done()}
	var got reports
	if _, err := rt.Start(apiPod(), "", got.add); err != nil {
		t.Fatal(err)
	}
	failed := got.wait(t, "Failed", func(r executor.Report) bool { return r.Status.Phase == corev1.PodFailed })
	if !strings.Contains(failed.Message, srv.URL) || !strings.Contains(failed.Message, "connection refused") {
		t.Errorf("message = %q, want it to name the kubelet and its error", failed.Message)
	}
	waitGone(t, filepath.Join(dir, ManifestFile("uid-1")))
}

func TestStartRefusesWhatAStaticPodCannotDo(t *testing.T) {
	p := apiPod()
	p.Spec.Volumes = []corev1.Volume{{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}}}
	dir := t.TempDir()
	rt := &Runtime{ManifestDir: dir, URL: "http://127.0.0.1:1"}
	if _, err := rt.Start(p, "", func(executor.Report) {}); err == nil || !strings.Contains(err.Error(), "spec.volumes[0]") {
		t.Errorf("err = %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a manifest was written: %v", entries)
	}
}

func waitGone(t *testing.T, file string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(file); os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is still there", file)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runtimeOf serves k as the kubelet, and returns a Runtime that polls it every 5 ms,
// with its manifests in a directory of its own.
func runtimeOf(t *testing.T, k *fakeKubelet) *Runtime {
	t.Helper()
	srv := httptest.NewServer(k)
	t.Cleanup(srv.Close)
	return &Runtime{ManifestDir: t.TempDir(), URL: srv.URL, PollInterval: 5 * time.Millisecond, Log: logr.Discard(), Done: t.Context().Done()}
}

// killRunningPod runs a pod on k, kills it with grace, has k show the manifest's
// deletion marks and the pod's containers stopped and, once the manifest is gone, takes the pod out of k's /pods, as a
// kubelet drops a removed static pod before its containers stop. It returns the pod's
// reports.
func killRunningPod(t *testing.T, k *fakeKubelet, grace time.Duration) *reports {
	t.Helper()
	rt := runtimeOf(t, k)
	dir := rt.ManifestDir
	got := &reports{}
	h, err := rt.Start(apiPod(), "", got.add)
	if err != nil {
		t.Fatal(err)
	}
	k.set(staticPod(corev1.PodRunning))
	got.wait(t, "Running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
	h.Kill(grace)
	manifest := filepath.Join(dir, ManifestFile("uid-1"))
	k.set(stoppedPod(marked(staticPod(corev1.PodRunning), readManifest(t, manifest)), 143))
	waitGone(t, manifest)
	k.set()
	return got
}

// A kill is reported once the kubelet says it runs the pod no more. When /runningpods/
// fails for another reason than not being served, the pod may still run: it is not taken
// for stopped when the grace period ends, but asked about again.
func TestAKillWaitsForTheKubeletToAnswer(t *testing.T) {
	k := &fakeKubelet{running: http.StatusInternalServerError}
	got := killRunningPod(t, k, 20*time.Millisecond)
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		got.mu.Lock()
		for _, r := range got.all {
			if r.Killed {
				t.Fatal("reported killed while the kubelet could not say whether the pod still runs")
			}
		}
		got.mu.Unlock()
	}
	k.mu.Lock()
	k.running = http.StatusOK
	k.mu.Unlock()
	got.wait(t, "Killed", func(r executor.Report) bool { return r.Killed })
}

// /runningpods/ comes from the kubelet's runtime cache, up to 3 s old: a pod that left
// /pods is taken for stopped only by an answer asked long enough after /pods last listed
// it, or a pod killed right after it started would be reported killed while it runs.
func TestAKillWaitsOutTheKubeletsRuntimeCache(t *testing.T) {
	k := &fakeKubelet{running: http.StatusOK} // its cache does not have the pod yet
	got := killRunningPod(t, k, 0)
	gone := time.Now()
	killed := got.wait(t, "Killed", func(r executor.Report) bool { return r.Killed })
	if waited := time.Since(gone); waited < 3*time.Second {
		t.Errorf("reported killed %s after the pod left /pods, on an answer of a cache that may be 3 s old: %+v", waited, killed)
	}
}

// The kubelet may start a pod from its manifest before the follower first asks /pods: a
// KILL then is reported only once the kubelet's container runtime runs none of it,
// though /pods never listed it (by the UID its manifest names, which the kubelet keeps).
func TestAKillBeforeThePodWasSeenWaitsForItsContainers(t *testing.T) {
	running := staticPod(corev1.PodRunning)
	running.UID = manifestPod(t, apiPod()).UID
	k := &fakeKubelet{running: http.StatusOK, runningPods: []corev1.Pod{runningPod(running)}}
	rt := runtimeOf(t, k)
	var got reports
	h, err := rt.Start(apiPod(), "", got.add)
	if err != nil {
		t.Fatal(err)
	}
	h.Kill(0)
	// Asked after no cache could predate the kill, /runningpods/ still lists it.
	after := time.Now().Add(runningPodsAge)
	for deadline := time.Now().Add(10 * time.Second); k.askedSince("/runningpods/", after) < 2; time.Sleep(5 * time.Millisecond) {
		if r, ok := got.first(func(r executor.Report) bool { return r.Killed }); ok {
			t.Fatalf("reported killed (%q) while the kubelet runs the pod", r.Message)
		}
		if time.Now().After(deadline) {
			t.Fatal("the kubelet was not asked which pods it runs")
		}
	}
	if r, ok := got.first(func(r executor.Report) bool { return r.Killed }); ok {
		t.Fatalf("reported killed (%q) while the kubelet runs the pod", r.Message)
	}
	k.setRunning()
	killed := got.wait(t, "Killed", func(r executor.Report) bool { return r.Killed })
	if killed.Message != "" {
		t.Errorf("killed with %q, want no word of a deadline", killed.Message)
	}
}

// A kubelet that restarts answers /pods with no pods until its pod manager has read the
// manifests again, then lists them without a status of its own for a moment (the
// manifest's: Pending, or none), while their containers run on. The pod is neither
// failed nor stripped of its manifest (which would have the kubelet kill it), nor
// reported starting again; once the kubelet's container runtime runs none of it
// either, it has left the kubelet.
func TestAKubeletRestartLeavesItsPodsRunning(t *testing.T) {
	k := &fakeKubelet{running: http.StatusOK}
	srv := httptest.NewServer(k)
	defer srv.Close()
	dir := t.TempDir()
	manifest := filepath.Join(dir, ManifestFile("uid-1"))
	rt := &Runtime{ManifestDir: dir, URL: srv.URL, PollInterval: 5 * time.Millisecond, GoneAfter: 20 * time.Millisecond, Log: logr.Discard(), Done: t.Context().Done()}
	var got reports
	if _, err := rt.Start(apiPod(), "", got.add); err != nil {
		t.Fatal(err)
	}
	k.set(staticPod(corev1.PodRunning))
	got.wait(t, "Running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })

	failed := func(r executor.Report) bool { return r.Status.Phase == corev1.PodFailed }
	stillRunning := func(what string, path string, after time.Time) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); k.askedSince(path, after) < 2; time.Sleep(5 * time.Millisecond) {
			if r, ok := got.first(failed); ok {
				t.Fatalf("%s: the pod failed: %q", what, r.Message)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the kubelet was not asked for %s", what, path)
			}
		}
		if r, ok := got.first(failed); ok {
			t.Fatalf("%s: the pod failed: %q", what, r.Message)
		}
		got.mu.Lock()
		last := got.all[len(got.all)-1]
		got.mu.Unlock()
		if last.Status.Phase != corev1.PodRunning {
			t.Fatalf("%s: the last report is %s, want Running still", what, last.Status.Phase)
		}
		if _, err := os.Stat(manifest); err != nil {
			t.Fatalf("%s: the manifest was removed: %v", what, err)
		}
	}
	k.set() // restarted: no pods yet, though its container runtime runs this one
	k.setRunning(runningPod(staticPod(corev1.PodRunning)))
	stillRunning("no pods listed", "/runningpods/", time.Now().Add(runningPodsAge))
	unsynced := staticPod("")
	unsynced.Status = corev1.PodStatus{}
	k.set(unsynced) // listed again, with no status yet
	stillRunning("listed without a status", "/pods", time.Now())
	// As a real kubelet lists it: with the status of its manifest, which the kubelet
	// makes Pending as it reads it (pkg/kubelet/config/common.go: applyDefaults).
	unsynced.Status = corev1.PodStatus{Phase: corev1.PodPending}
	k.set(unsynced)
	stillRunning("listed with its manifest's Pending", "/pods", time.Now())
	k.set(staticPod(corev1.PodRunning))
	stillRunning("listed with its status", "/pods", time.Now())

	k.set() // its manifest was taken away, and the kubelet stopped it
	k.setRunning()
	left := got.wait(t, "Failed", failed)
	if !strings.Contains(left.Message, "left the kubelet") {
		t.Errorf("failed with %q, want it to say the pod left the kubelet", left.Message)
	}
}
