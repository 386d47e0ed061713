package main

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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

// The kubelet runtime sends its token only where it can tell who receives it: not over
// http, nor over https to a kubelet whose certificate it does not verify, where whatever
// listens on the port (a process that took it while the kubelet restarts, say) would get
// a token that holds nodes/proxy on the kubelet's Node. Both are refused at start, with
// the flags named; without a token, both still work.
func TestTheKubeletTokenGoesOnlyToAVerifiedKubelet(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	caFile := caFileOf(t, srv)
	for _, tc := range []struct {
		name    string
		flags   kubeletFlags
		wantErr []string // what the error says; nil: accepted
	}{
		{name: "a token over http", flags: kubeletFlags{url: "http://127.0.0.1:10255", tokenFile: tokenFile},
			wantErr: []string{"--kubelet-token-file", "http://", "https://"}},
		{name: "a token to an unverified kubelet", flags: kubeletFlags{url: "https://127.0.0.1:10250", tokenFile: tokenFile, insecure: true},
			wantErr: []string{"--kubelet-token-file", "--kubelet-insecure-skip-tls-verify", "--kubelet-ca-file"}},
		{name: "a token to a verified kubelet", flags: kubeletFlags{url: srv.URL, tokenFile: tokenFile, caFile: caFile}},
		{name: "the read-only port without a token", flags: kubeletFlags{url: "http://127.0.0.1:10255"}},
		{name: "an unverified kubelet without a token", flags: kubeletFlags{url: "https://127.0.0.1:10250", insecure: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.flags.manifestDir = dir
			_, err := tc.flags.runtime(logr.Discard(), config.Config{})
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error %q does not say %q", err, want)
				}
			}
		})
	}
}

// caFileOf writes the certificate of a test server into a file for --kubelet-ca-file.
func caFileOf(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile
}

// --kubelet-token-file is read again, as client-go reads token files: a token rotated
// in the file (a projected service account token, renewed before it expires) is taken
// up once the kubelet refuses the old one, and the pods' statuses keep coming.
func TestTheKubeletTokenFileIsReadAgain(t *testing.T) {
	k := &tokenKubelet{}
	k.set("first", corev1.PodPending)
	srv := httptest.NewTLSServer(k)
	defer srv.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kc := kubeletFlags{manifestDir: t.TempDir(), url: srv.URL, tokenFile: tokenFile, caFile: caFileOf(t, srv)}
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

// The manifest directory is taken for tmpfs (emptied by a reboot) only where it is one.
func TestOnTmpfs(t *testing.T) {
	for dir, want := range map[string]bool{"/dev/shm": true, "/proc": false} {
		got, err := onTmpfs(dir)
		if err != nil {
			t.Skipf("statfs %s: %v", dir, err)
		}
		if dir == "/dev/shm" && !got {
			t.Skip("/dev/shm is not a tmpfs here")
		}
		if got != want {
			t.Errorf("onTmpfs(%s) = %v, want %v", dir, got, want)
		}
	}
}
