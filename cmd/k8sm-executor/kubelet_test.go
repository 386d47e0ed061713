package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sm/k8sm/executor"
	"github.com/k8sm/k8sm/executor/kubelet"
)

// tokenKubelet serves /pods to one bearer token at a time, listing a static pod with the
// phase the test sets.
type tokenKubelet struct {
	mu    sync.Mutex
	token string
	phase corev1.PodPhase
}

func (k *tokenKubelet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+k.token {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	if r.URL.Path != "/pods" {
		http.NotFound(w, r)
		return
	}
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p-node", Namespace: "ns", UID: "static",
		Annotations: map[string]string{kubelet.AnnotationPodUID: "u1", "kubernetes.io/config.source": "file"}},
		Status: corev1.PodStatus{Phase: k.phase}}
	_ = json.NewEncoder(w).Encode(corev1.PodList{Items: []corev1.Pod{p}})
}

func (k *tokenKubelet) set(token string, phase corev1.PodPhase) {
	k.mu.Lock()
	k.token, k.phase = token, phase
	k.mu.Unlock()
}

// --kubelet-token-file is read again, as client-go reads token files: a token rotated
// in the file (a projected service account token, renewed before it expires) is taken
// up once the kubelet refuses the old one, and the pods' statuses keep coming.
func TestTheKubeletTokenFileIsReadAgain(t *testing.T) {
	k := &tokenKubelet{}
	k.set("first", corev1.PodPending)
	srv := httptest.NewServer(k)
	defer srv.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kc := kubeletFlags{manifestDir: t.TempDir(), url: srv.URL, tokenFile: tokenFile}
	rt, err := kc.runtime(logr.Discard(), config.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rt.PollInterval = 5 * time.Millisecond
	phases := make(chan corev1.PodPhase, 100)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	h, err := rt.Start(pod, "", func(r executor.Report) { phases <- r.Status.Phase })
	if err != nil {
		t.Fatal(err)
	}
	defer h.Kill(0)
	waitPhase := func(want corev1.PodPhase) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case got := <-phases:
				if got == want {
					return
				}
			case <-timeout:
				t.Fatalf("no %s status reported", want)
			}
		}
	}
	waitPhase(corev1.PodPending)

	if err := os.WriteFile(tokenFile, []byte("second\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k.set("second", corev1.PodRunning)
	waitPhase(corev1.PodRunning)
}

// The executor of the kubelet runtime is SIGKILLed (its process only): its watchdog
// removes the static pod manifests it wrote, and the kubelet stops their pods, whose
// tasks the agent reports failed with the executor.
func TestAKilledExecutorLeavesNoStaticPod(t *testing.T) {
	kl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(corev1.PodList{}) // the pod has not shown yet
	}))
	defer kl.Close()
	manifests := t.TempDir()
	launch := shTask(t, filepath.Join(t.TempDir(), "pids"))
	var pod corev1.Pod
	if err := json.Unmarshal(launch.Data, &pod); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(manifests, kubelet.ManifestFile(pod.UID))
	other := filepath.Join(manifests, "etcd.yaml") // not the executor's
	if err := os.WriteFile(other, []byte("kind: Pod"), 0o644); err != nil {
		t.Fatal(err)
	}
	runs := filepath.Join(t.TempDir(), "frameworks", "fw", "executors", "ex", "runs")
	a := newAgent(t, launch)
	x := startExecutor(t, a, filepath.Join(runs, "1"), "--runtime=kubelet", "--kubelet-manifest-dir="+manifests, "--kubelet-url="+kl.URL)
	eventually(t, "the executor wrote the pod's manifest", func() bool { _, err := os.Stat(manifest); return err == nil })
	if err := x.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the watchdog removed the manifest", func() bool { _, err := os.Stat(manifest); return os.IsNotExist(err) })
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a manifest not the executor's was removed: %v", err)
	}
}
