package kubelet

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/k8sm/k8sm/executor"
)

// taskOf is apiPod with another UID, run by task: a pod deleted and created again under
// the same name is the same name with another UID, and another task.
func taskOf(uid, task string) *corev1.Pod {
	p := apiPod()
	p.UID = types.UID(uid)
	p.Annotations[executor.AnnotationTaskID] = task
	return p
}

// kubeletPodOf is the kubelet's static pod of p's manifest, running with ip: named
// <name>-<node>, with the manifest's UID (the kubelet keeps a manifest's UID) and
// annotations and the config source of its manifest directory.
func kubeletPodOf(t *testing.T, p *corev1.Pod, ip string) corev1.Pod {
	t.Helper()
	m := manifestPod(t, p)
	a := map[string]string{annotationConfigSource: configSourceFile}
	for k, v := range m.Annotations {
		a[k] = v
	}
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: m.Name + "-node", Namespace: m.Namespace, UID: m.UID, Annotations: a},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip,
			Conditions:        []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}}
}

// watchNames watches dir as the kubelet's file source reads it, until the test ends,
// and reports every time two of its manifests (files not hidden) hold pods of the same
// namespace and name. The kubelet keys its static pods by namespace and name
// (pkg/kubelet/config/file.go: an UndeltaStore keyed by MetaNamespaceKeyFunc, and
// filterInvalidPods drops duplicate names): of two such manifests it runs one, and the
// removal of either file removes whichever pod holds the name, the other's too.
func watchNames(t *testing.T, dir string) (clashes func() []string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			entries, _ := os.ReadDir(dir)
			byName := map[string]string{}
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".") {
					continue
				}
				b, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err != nil {
					continue
				}
				var p metav1.PartialObjectMetadata
				if json.Unmarshal(b, &p) != nil {
					continue
				}
				key := p.Namespace + "/" + p.Name
				if other, ok := byName[key]; ok {
					mu.Lock()
					seen = append(seen, other+" and "+e.Name()+" both hold "+key)
					mu.Unlock()
				}
				byName[key] = e.Name()
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

func waitExists(t *testing.T, file string, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(file); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not written within %s", file, d)
		}
	}
}

// A pod deleted and created again with the same name on the same agent while the old
// one is being killed: the kubelet runs one static pod of a namespace and name, and
// drops the pod of the name when either manifest goes, so the new pod's manifest is
// written only once the old one's is gone, and then at once. The old is killed with
// its KILL's grace and reported killed once its containers are gone, though a pod of
// its name runs again; the new one reports its own statuses only.
func TestAPodRecreatedWithTheSameNameWaitsForTheOldsManifest(t *testing.T) {
	k := &fakeKubelet{running: http.StatusOK}
	rt := runtimeOf(t, k)
	clashes := watchNames(t, rt.ManifestDir)
	oldPod, newPod := taskOf("uid-1", "t1"), taskOf("uid-2", "t2")
	oldFile, newFile := filepath.Join(rt.ManifestDir, ManifestFile(oldPod.UID)), filepath.Join(rt.ManifestDir, ManifestFile(newPod.UID))
	oldKP, newKP := kubeletPodOf(t, oldPod, "10.0.0.5"), kubeletPodOf(t, newPod, "10.0.0.6")

	var old, recreated reports
	hOld, err := rt.Start(oldPod, "", old.add)
	if err != nil {
		t.Fatal(err)
	}
	k.set(oldKP)
	k.setRunning(runningPod(oldKP))
	old.wait(t, "old Running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })

	hOld.Kill(time.Second)
	if _, err := rt.Start(newPod, "", recreated.add); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // polls of both
	if _, err := os.Stat(newFile); err == nil {
		t.Error("the new pod's manifest was written beside the old one's, which holds the same name")
	}
	k.set(marked(oldKP, readManifest(t, oldFile))) // the kubelet took the marks
	waitGone(t, oldFile)
	waitExists(t, newFile, 2*time.Second)
	// The kubelet drops the old pod from /pods, and runs the new one once the old one's
	// containers are gone.
	k.set(newKP)
	k.setRunning(runningPod(newKP))
	running := recreated.wait(t, "new Running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
	if running.Status.PodIP != "10.0.0.6" {
		t.Errorf("the new pod reported %q, want its own pod's IP", running.Status.PodIP)
	}
	killed := old.waitFor(t, 10*time.Second, "old Killed", func(r executor.Report) bool { return r.Killed }, func() string { return "" })
	if killed.Message != "" {
		t.Errorf("the old pod was reported killed with %q, want no word of a deadline", killed.Message)
	}
	if r, ok := recreated.first(func(r executor.Report) bool {
		return r.Status.PodIP == "10.0.0.5" || r.Killed || r.Status.Phase == corev1.PodFailed
	}); ok {
		t.Errorf("the new pod reported %+v, the old one's or an end", r)
	}
	if c := clashes(); len(c) > 0 {
		t.Errorf("two manifests held the same pod name: %v", c[0])
	}
	if _, err := os.Stat(newFile); err != nil {
		t.Errorf("the new pod's manifest is gone: %v", err)
	}
}

// A pod created again under the name of one that still runs (a KILL of the old one not
// come yet) waits for it: it never replaces the old one in the kubelet, which would kill
// it without its KILL. Killed while it waits, it is reported killed at once, its
// manifest never written.
func TestAPodRecreatedWithTheSameNameWaitsForTheOldsKill(t *testing.T) {
	k := &fakeKubelet{running: http.StatusOK}
	rt := runtimeOf(t, k)
	clashes := watchNames(t, rt.ManifestDir)
	oldPod := taskOf("uid-1", "t1")
	oldKP := kubeletPodOf(t, oldPod, "10.0.0.5")
	var old, second, third reports
	hOld, err := rt.Start(oldPod, "", old.add)
	if err != nil {
		t.Fatal(err)
	}
	k.set(oldKP)
	k.setRunning(runningPod(oldKP))
	old.wait(t, "old Running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })

	hSecond, err := rt.Start(taskOf("uid-2", "t2"), "", second.add)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Start(taskOf("uid-3", "t3"), "", third.add); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	for _, uid := range []types.UID{"uid-2", "uid-3"} {
		if _, err := os.Stat(filepath.Join(rt.ManifestDir, ManifestFile(uid))); err == nil {
			t.Errorf("%s's manifest was written while a pod of its name runs", uid)
		}
	}
	hSecond.Kill(time.Minute)
	if r := second.wait(t, "second Killed", func(r executor.Report) bool { return r.Killed }); r.Message != "" {
		t.Errorf("killed with %q", r.Message)
	}

	hOld.Kill(0)
	k.set(marked(oldKP, readManifest(t, filepath.Join(rt.ManifestDir, ManifestFile("uid-1")))))
	waitGone(t, filepath.Join(rt.ManifestDir, ManifestFile("uid-1")))
	waitExists(t, filepath.Join(rt.ManifestDir, ManifestFile("uid-3")), 2*time.Second)
	if _, err := os.Stat(filepath.Join(rt.ManifestDir, ManifestFile("uid-2"))); err == nil {
		t.Error("the manifest of the pod killed while it waited was written")
	}
	if c := clashes(); len(c) > 0 {
		t.Errorf("two manifests held the same pod name: %v", c[0])
	}
}

// A pod the kubelet never listed is known to /runningpods/ by the UID of its manifest,
// which the kubelet keeps: a KILL of pod web is not held up by the containers of pod
// web-1, whose static pod, web-1-<node>, begins with web's name and a dash.
func TestAKillIsNotHeldByAPodWhoseNameExtendsItsName(t *testing.T) {
	other := kubeletPodOf(t, taskOf("uid-9", "t9"), "10.0.0.9")
	other.Name = "web-1-node"
	k := &fakeKubelet{running: http.StatusOK, runningPods: []corev1.Pod{runningPod(other)}}
	rt := runtimeOf(t, k)
	var got reports
	h, err := rt.Start(taskOf("uid-1", "t1"), "", got.add)
	if err != nil {
		t.Fatal(err)
	}
	h.Kill(0)
	killed := got.waitFor(t, 10*time.Second, "Killed", func(r executor.Report) bool { return r.Killed }, func() string { return "" })
	if killed.Message != "" {
		t.Errorf("killed with %q, want no word of a deadline", killed.Message)
	}
}

// A pod whose name another manifest holds for longer than the kubelet is given to show
// a pod fails, saying which manifest holds it, and never writes its own.
func TestAPodWhoseNameStaysHeldFails(t *testing.T) {
	k := &fakeKubelet{}
	rt := runtimeOf(t, k)
	rt.AppearTimeout = 50 * time.Millisecond
	holder := writeManifest(t, rt.ManifestDir, "uid-0", owner("fw2", "ex", "/runs/other")) // another framework's pod of the name
	var got reports
	if _, err := rt.Start(taskOf("uid-1", "t1"), "", got.add); err != nil {
		t.Fatal(err)
	}
	failed := got.wait(t, "Failed", func(r executor.Report) bool { return r.Status.Phase == corev1.PodFailed })
	if !strings.Contains(failed.Message, holder) {
		t.Errorf("failed with %q, want it to name %s", failed.Message, holder)
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(rt.ManifestDir, ManifestFile("uid-1"))); err == nil {
		t.Error("the manifest was written")
	}
	if _, err := os.Stat(holder); err != nil {
		t.Errorf("the other manifest was touched: %v", err)
	}
}

// A static pod of the agent's own (a YAML file of the kubelet's directory, not k8sm's)
// that has the pod's namespace and name is never taken over: the kubelet keeps one pod
// of a name, the one of the file it read last, so the k8sm manifest would have it stop
// the agent's pod. The pod fails to start, naming the file; a file of another name, a
// hidden one, or one that is no v1 pod, changes nothing.
func TestAPodNamedAsTheAgentsOwnStaticPodFails(t *testing.T) {
	for _, tc := range []struct {
		file, content string
		fails         bool
	}{
		{"web.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  containers: []\n", true},
		{"web.json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"shop"}}`, true},
		{"web-default.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n", false},
		{"other.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: other\n  namespace: shop\n", false},
		{".web.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: shop\n", false},
		{"notes.txt", "not a pod: name: web", false},
		{"web-v2.yaml", "apiVersion: v2\nkind: Pod\nmetadata:\n  name: web\n  namespace: shop\n", false},
		{"k8sm-web.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: shop\n", true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			k := &fakeKubelet{}
			rt := runtimeOf(t, k)
			own := filepath.Join(rt.ManifestDir, tc.file)
			if err := os.WriteFile(own, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			var got reports
			_, err := rt.Start(apiPod(), "", got.add)
			manifest := filepath.Join(rt.ManifestDir, ManifestFile("uid-1"))
			switch {
			case tc.fails && (err == nil || !strings.Contains(err.Error(), own)):
				t.Errorf("Start: %v, want it to fail naming %s", err, own)
			case !tc.fails && err != nil:
				t.Fatal(err)
			case !tc.fails:
				for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
					if _, err := os.Stat(manifest); err == nil {
						return
					}
					if r, ok := got.first(func(r executor.Report) bool { return r.Status.Phase == corev1.PodFailed }); ok || time.Now().After(deadline) {
						t.Fatalf("the manifest was not written (%q)", r.Message)
					}
				}
			}
			if _, err := os.Stat(manifest); !os.IsNotExist(err) {
				t.Errorf("the manifest was written (%v)", err)
			}
			if _, err := os.Stat(own); err != nil {
				t.Errorf("the agent's own static pod is gone: %v", err)
			}
		})
	}
}

// A pod whose name a manifest being killed holds waits past the kubelet's time to show
// a pod, as long as that kill's grace (and killMargin): the manifest goes only once the
// old pod's containers stopped, and a StatefulSet's pod may have a long grace.
func TestAPodWaitsOutTheGraceOfTheKillThatHoldsItsName(t *testing.T) {
	k := &fakeKubelet{}
	rt := runtimeOf(t, k)
	rt.AppearTimeout = 50 * time.Millisecond
	holder := writeManifest(t, rt.ManifestDir, "uid-0", owner("fw2", "ex", "/runs/other"))
	m := readManifest(t, holder)
	ends := metav1.NewTime(time.Now().Add(time.Hour))
	grace := int64(3600)
	m.DeletionTimestamp, m.DeletionGracePeriodSeconds = &ends, &grace
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(holder, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var got reports
	if _, err := rt.Start(taskOf("uid-1", "t1"), "", got.add); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if r, ok := got.first(func(r executor.Report) bool { return r.Status.Phase == corev1.PodFailed }); ok {
			t.Fatalf("failed (%q) while the kill that holds its name has most of its grace left", r.Message)
		}
	}
	if err := os.Remove(holder); err != nil { // the old pod stopped
		t.Fatal(err)
	}
	waitWritten(t, filepath.Join(rt.ManifestDir, ManifestFile("uid-1")))
}

func waitWritten(t *testing.T, file string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(file); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not written", file)
		}
	}
}
