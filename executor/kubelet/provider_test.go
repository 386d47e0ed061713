package kubelet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
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
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	utilexec "k8s.io/utils/exec"
	"k8s.io/utils/ptr"

	"github.com/k8sm/k8sm/executor"
	"github.com/k8sm/k8sm/executor/kubeletapi"
	"github.com/k8sm/k8sm/internal/testio"
)

// apiKubelet is a kubelet's API as the provider uses it: /pods, /containerLogs,
// /stats/summary, and /exec, /attach and /portForward served by the CRI streaming
// server code, over TLS with a bearer token. The pod "web" of namespace "shop" is its
// static pod "web-node", UID "static-uid".
type apiKubelet struct {
	token string

	mu       sync.Mutex
	pods     []corev1.Pod
	requests []string // the paths and queries asked, streams' included
	streams  []string // what the streaming calls were given
	forward  func(port int32, stream io.ReadWriteCloser) error
	// refuse, when set, is the reason a forwarding fails before its data stream is
	// answered.
	refuse string
}

func (k *apiKubelet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+k.token {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	k.mu.Lock()
	k.requests = append(k.requests, r.URL.RequestURI())
	pods := k.pods
	k.mu.Unlock()
	switch p := r.URL.Path; {
	case p == "/pods":
		_ = json.NewEncoder(w).Encode(corev1.PodList{Items: pods})
	case p == "/containerLogs/shop/web-node/c":
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "hello\n")
		if r.URL.Query().Get("follow") == "true" {
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	case p == "/containerLogs/shop/web-node/waiting":
		// As the kubelet words it, with its name for the pod.
		http.Error(w, `container "waiting" in pod "web-node" is waiting to start: ContainerCreating`, http.StatusBadRequest)
	case strings.HasPrefix(p, "/containerLogs/"):
		http.Error(w, "pod does not exist", http.StatusNotFound)
	case p == "/stats/summary":
		_, _ = io.WriteString(w, summaryJSON)
	case p == "/exec/shop/web-node/static-uid/c":
		opts, err := remotecommand.NewOptions(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		remotecommand.ServeExec(w, r, k, "shop/web-node", "static-uid", "c", r.URL.Query()["command"], opts, time.Minute, 10*time.Second, remotecommand.SupportedStreamingProtocols)
	case p == "/attach/shop/web-node/static-uid/c":
		opts, err := remotecommand.NewOptions(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		q := r.URL.Query()
		k.record("attach asked tty=%q error=%q", q.Get("tty"), q.Get("error"))
		// The kubelet attaches with the container's terminal (spec.tty: true here).
		opts.TTY, opts.Stderr = true, false
		remotecommand.ServeAttach(w, r, k, "shop/web-node", "static-uid", "c", opts, time.Minute, 10*time.Second, remotecommand.SupportedStreamingProtocols)
	case p == "/portForward/shop/web-node/static-uid" && k.refused() != "":
		refusePortForward(w, r, k.refused())
	case p == "/portForward/shop/web-node/static-uid":
		portforward.ServePortForward(w, r, k, "shop/web-node", "static-uid", &portforward.V4Options{}, time.Minute, 10*time.Second, portforward.SupportedProtocols)
	default:
		http.NotFound(w, r)
	}
}

func (k *apiKubelet) refused() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.refuse
}

// refusePortForward answers a port forwarding as the kubelet does when forwarding
// fails before its data stream is answered (the kubelet starts forwarding once both
// streams came, and resets them on failure): msg on the error stream, the data stream
// reset unanswered.
func refusePortForward(w http.ResponseWriter, r *http.Request, msg string) {
	if _, err := httpstream.Handshake(r, w, []string{portforward.ProtocolV1Name}); err != nil {
		return
	}
	errStreams := make(chan httpstream.Stream, 1)
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(s httpstream.Stream, replied <-chan struct{}) error {
		if s.Headers().Get(corev1.StreamType) == corev1.StreamTypeError {
			go func() { <-replied; errStreams <- s }()
			return nil
		}
		es := <-errStreams
		_, _ = io.WriteString(es, msg)
		_ = es.Close()
		return errors.New(msg)
	})
	if conn == nil {
		return
	}
	defer func() { _ = conn.Close() }()
	<-conn.CloseChan()
}

// asked returns the requests of the paths starting with prefix.
func (k *apiKubelet) asked(prefix string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for _, r := range k.requests {
		if strings.HasPrefix(r, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// streamed returns what the streaming calls were given.
func (k *apiKubelet) streamed() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.streams...)
}

func (k *apiKubelet) record(format string, args ...any) {
	k.mu.Lock()
	k.streams = append(k.streams, fmt.Sprintf(format, args...))
	k.mu.Unlock()
}

// ExecInContainer echoes the command and stdin, and exits with the code "exit N" asks.
func (k *apiKubelet) ExecInContainer(_ context.Context, name, uid, container string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, _ <-chan remotecommand.TerminalSize, _ time.Duration) error {
	k.record("exec %s %s %s %q tty=%v stdin=%v stderr=%v", name, uid, container, cmd, tty, in != nil, errw != nil)
	_, _ = fmt.Fprintf(out, "ran %s\n", strings.Join(cmd, " "))
	if in != nil {
		_, _ = io.Copy(out, in)
	}
	if errw != nil {
		_, _ = io.WriteString(errw, "to stderr\n")
	}
	var code int
	if _, err := fmt.Sscanf(strings.Join(cmd, " "), "exit %d", &code); err == nil && code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("error executing command %q, exit code %d", cmd, code), Code: code}
	}
	return nil
}

func (k *apiKubelet) AttachContainer(_ context.Context, name, uid, container string, in io.Reader, out, errw io.WriteCloser, tty bool, _ <-chan remotecommand.TerminalSize) error {
	k.record("attach %s %s %s stdin=%v", name, uid, container, in != nil)
	_, _ = io.WriteString(out, "attached\n")
	return nil
}

func (k *apiKubelet) PortForward(_ context.Context, name, uid string, port int32, stream io.ReadWriteCloser) error {
	k.record("portforward %s %s %d", name, uid, port)
	k.mu.Lock()
	forward := k.forward
	k.mu.Unlock()
	return forward(port, stream)
}

const summaryJSON = `{
 "node": {"nodeName": "node", "startTime": "2026-01-02T03:04:05Z",
  "cpu": {"time": "2026-01-02T04:00:00Z", "usageCoreNanoSeconds": 9000},
  "memory": {"time": "2026-01-02T04:00:00Z", "workingSetBytes": 8000}},
 "pods": [
  {"podRef": {"name": "web-node", "namespace": "shop", "uid": "static-uid"}, "startTime": "2026-01-02T03:05:00Z",
   "cpu": {"time": "2026-01-02T04:00:01Z", "usageCoreNanoSeconds": 700},
   "memory": {"time": "2026-01-02T04:00:01Z", "workingSetBytes": 600},
   "containers": [{"name": "c", "startTime": "2026-01-02T03:05:01Z",
     "cpu": {"time": "2026-01-02T04:00:01Z", "usageCoreNanoSeconds": 500},
     "memory": {"time": "2026-01-02T04:00:01Z", "workingSetBytes": 400}}]},
  {"podRef": {"name": "kube-proxy-node", "namespace": "kube-system", "uid": "proxy-uid"}, "startTime": "2026-01-02T03:05:00Z",
   "cpu": {"time": "2026-01-02T04:00:01Z", "usageCoreNanoSeconds": 1},
   "memory": {"time": "2026-01-02T04:00:01Z", "workingSetBytes": 1}},
  {"podRef": {"name": "web-node", "namespace": "other", "uid": "other-uid"}, "startTime": "2026-01-02T03:05:00Z"}
 ]}`

// kubeletPods are the kubelet's pods: "web" as its static pod, and two not the
// runtime's: one of the API server (the kubelet's config source "api"), and another
// executor's static pod.
func kubeletPods(state corev1.ContainerState, tty bool) []corev1.Pod {
	web := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-node", Namespace: "shop", UID: "static-uid",
			Annotations: map[string]string{AnnotationPodUID: "uid-1", AnnotationTaskID: "task-1", annotationConfigSource: configSourceFile}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", TTY: tty}, {Name: "waiting"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
			{Name: "c", State: state},
			{Name: "waiting", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}},
	}
	proxy := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy-node", Namespace: "kube-system", UID: "proxy-uid",
		Annotations: map[string]string{annotationConfigSource: "api"}}}
	other := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-node", Namespace: "other", UID: "other-uid",
		Annotations: map[string]string{AnnotationPodUID: "uid-of-another-executor", annotationConfigSource: configSourceFile}}}
	return []corev1.Pod{web, proxy, other}
}

var running = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}

// startAPIPod starts the pod "web" (uid-1, task-1) against a fake kubelet that runs it.
// The runtime's token is in a file, as --kubelet-token-file gives it: every request,
// streams included, carries it.
func startAPIPod(t *testing.T) (*Runtime, *apiKubelet, string) {
	t.Helper()
	k := &apiKubelet{token: "t0ken", pods: kubeletPods(running, false)}
	srv := httptest.NewTLSServer(k)
	t.Cleanup(srv.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rt := &Runtime{ManifestDir: t.TempDir(), URL: srv.URL, TokenFile: tokenFile, Client: srv.Client(), PollInterval: 5 * time.Millisecond, GoneAfter: 20 * time.Millisecond, Log: logr.Discard(), Done: t.Context().Done()}
	p := apiPod()
	p.Annotations[AnnotationTaskID] = "task-1"
	sandbox := t.TempDir() + "/sandbox"
	var got reports
	if _, err := rt.Start(p, sandbox, got.add); err != nil {
		t.Fatal(err)
	}
	got.wait(t, "Running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
	return rt, k, sandbox
}

func TestProviderPodsAreTheAPIServersPods(t *testing.T) {
	rt, _, sandbox := startAPIPod(t)
	pods := rt.Pods()
	if len(pods) != 1 || pods[0].Namespace != "shop" || pods[0].Name != "web" || pods[0].UID != "uid-1" {
		t.Fatalf("Pods() = %v, want shop/web", names(pods))
	}
	if pods[0].Status.Phase != corev1.PodRunning || len(pods[0].Status.ContainerStatuses) != 2 {
		t.Errorf("status = %+v, want the kubelet's", pods[0].Status)
	}
	// An ended pod stays listed while the executor keeps its sandbox, as with the
	// process runtime.
	rec := rt.pods.lookup("shop", "web")
	rec.update(executor.Report{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}})
	if pods := rt.Pods(); len(pods) != 1 || pods[0].Status.Phase != corev1.PodSucceeded {
		t.Errorf("Pods() of an ended pod = %+v", pods)
	}
	if err := os.RemoveAll(sandbox); err != nil {
		t.Fatal(err)
	}
	if pods := rt.Pods(); len(pods) != 0 {
		t.Errorf("Pods() once the sandbox was pruned = %v, want none", names(pods))
	}
}

func TestProviderContainerLogs(t *testing.T) {
	rt, k, _ := startAPIPod(t)
	ctx := testContext(t)
	since := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	var out bytes.Buffer
	opts := &corev1.PodLogOptions{TailLines: ptr.To[int64](2), Timestamps: true, Previous: true, SinceTime: &since,
		LimitBytes: ptr.To[int64](100), Stream: ptr.To(corev1.LogStreamAll)}
	if err := rt.ContainerLogs(ctx, "shop", "web", "c", opts, &out); err != nil || out.String() != "hello\n" {
		t.Fatalf("logs: %q, %v", out.String(), err)
	}
	want := "/containerLogs/shop/web-node/c?limitBytes=100&previous=true&sinceTime=2026-01-02T03%3A04%3A05Z&stream=All&tailLines=2&timestamps=true"
	if asked := k.asked("/containerLogs/"); fmt.Sprint(asked) != fmt.Sprint([]string{want}) {
		t.Errorf("asked the kubelet %q, want %q", asked, want)
	}

	t.Run("followed until the context ends", func(t *testing.T) {
		fctx, stop := context.WithCancel(ctx)
		var out testio.SyncBuffer
		done := make(chan error, 1)
		go func() { done <- rt.ContainerLogs(fctx, "shop", "web", "c", &corev1.PodLogOptions{Follow: true}, &out) }()
		poll(t, 10*time.Second, "the log", func() bool { return out.String() == "hello\n" }, out.String)
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("err = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("following did not end with its context")
		}
	})

	for _, tc := range []struct {
		name, namespace, pod, container string
		code                            int
		msg                             string
	}{
		{"the kubelet's refusal, renamed", "shop", "web", "waiting", http.StatusBadRequest,
			`container "waiting" in pod "web" is waiting to start: ContainerCreating`},
		{"a pod the runtime has not", "shop", "nosuch", "c", http.StatusNotFound, `pod "nosuch" does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := rt.ContainerLogs(ctx, tc.namespace, tc.pod, tc.container, &corev1.PodLogOptions{}, io.Discard)
			var se *kubeletapi.StatusError
			if !errors.As(err, &se) || se.Code != tc.code || se.Message != tc.msg {
				t.Errorf("err = %#v, want %d %q", err, tc.code, tc.msg)
			}
		})
	}

	t.Run("a pod the kubelet does not show", func(t *testing.T) {
		k.mu.Lock()
		k.pods = k.pods[1:]
		k.mu.Unlock()
		err := rt.ContainerLogs(ctx, "shop", "web", "c", &corev1.PodLogOptions{}, io.Discard)
		var se *kubeletapi.StatusError
		if !errors.As(err, &se) || se.Code != http.StatusNotFound {
			t.Errorf("err = %v, want a 404", err)
		}
	})
}

func TestProviderCheckStream(t *testing.T) {
	rt, k, _ := startAPIPod(t)
	ctx := testContext(t)
	// A pod the kubelet has never shown (a pod it stops showing has ended, which its
	// follower reports within a poll: not a state a test can hold).
	late := apiPod()
	late.Name, late.UID = "late", "uid-2"
	late.Annotations[AnnotationTaskID] = "task-2"
	var lateReports reports
	if _, err := rt.Start(late, t.TempDir()+"/late", lateReports.add); err != nil {
		t.Fatal(err)
	}
	exec := kubeletapi.StreamRequest{Verb: kubeletapi.VerbExec, Namespace: "shop", Pod: "web", Container: "c", Command: []string{"ls"}, Stdout: true}
	if err := rt.CheckStream(ctx, exec); err != nil {
		t.Errorf("exec in a running container: %v", err)
	}
	for _, tc := range []struct {
		name  string
		pods  []corev1.Pod
		req   func(r *kubeletapi.StreamRequest)
		code  int
		words string
	}{
		{"no such container", nil, func(r *kubeletapi.StreamRequest) { r.Container = "nosuch" }, http.StatusNotFound, `container not found ("nosuch")`},
		{"exec in a waiting container", nil, func(r *kubeletapi.StreamRequest) { r.Container = "waiting" }, http.StatusBadRequest, `container "waiting" in pod "web" is not running`},
		{"attach to a waiting container", nil, func(r *kubeletapi.StreamRequest) { r.Verb, r.Container = kubeletapi.VerbAttach, "waiting" },
			http.StatusInternalServerError, "container waiting not found in pod web_shop"},
		{"attach asking stderr of a terminal", kubeletPods(running, true), func(r *kubeletapi.StreamRequest) { r.Verb, r.Stderr = kubeletapi.VerbAttach, true },
			http.StatusInternalServerError, "tty and stderr cannot both be true"},
		{"a pod the kubelet does not show yet", nil, func(r *kubeletapi.StreamRequest) { r.Pod = "late" }, http.StatusNotFound, `pod "late" is not in the kubelet yet`},
		{"port-forward to a pod the kubelet does not show yet", nil,
			func(r *kubeletapi.StreamRequest) { r.Verb, r.Pod, r.Container = kubeletapi.VerbPortForward, "late", "" }, http.StatusNotFound, `pod "late" is not in the kubelet yet`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k.mu.Lock()
			k.pods = kubeletPods(running, false)
			if tc.pods != nil {
				k.pods = tc.pods
			}
			k.mu.Unlock()
			req := exec
			tc.req(&req)
			err := rt.CheckStream(ctx, req)
			var se *kubeletapi.StatusError
			if !errors.As(err, &se) || se.Code != tc.code || se.Message != tc.words {
				t.Errorf("err = %v, want %d %q", err, tc.code, tc.words)
			}
		})
	}
	t.Run("a pod the kubelet stopped showing", func(t *testing.T) {
		k.mu.Lock()
		k.pods = kubeletPods(running, false)[1:]
		k.mu.Unlock()
		deadline := time.Now().Add(10 * time.Second)
		for !rt.pods.lookup("shop", "web").isEnded() {
			if time.Now().After(deadline) {
				t.Fatal("the runtime never took the pod for ended")
			}
			time.Sleep(5 * time.Millisecond)
		}
		err := rt.CheckStream(ctx, exec)
		want := `pod "web" has ended: the kubelet removed it, and its containers with their logs, and no log of it was kept`
		var se *kubeletapi.StatusError
		if !errors.As(err, &se) || se.Code != http.StatusNotFound || se.Message != want {
			t.Errorf("err = %v, want 404 %q", err, want)
		}
	})
}

func TestProviderExecAndAttach(t *testing.T) {
	rt, k, _ := startAPIPod(t)
	ctx := testContext(t)
	var stdout, stderr bytes.Buffer
	err := rt.Exec(ctx, "shop", "web", "c", []string{"exit", "7"}, strings.NewReader("input\n"), nopCloser{&stdout}, nopCloser{&stderr}, false, nil)
	var exit utilexec.ExitError
	if !errors.As(err, &exit) || !exit.Exited() || exit.ExitStatus() != 7 {
		t.Errorf("err = %v (%T), want exit code 7", err, err)
	} else if err.Error() != "command 'exit 7' exited with 7" {
		t.Errorf("err = %q", err)
	}
	if stdout.String() != "ran exit 7\ninput\n" || stderr.String() != "to stderr\n" {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
	stdout.Reset()
	if err := rt.Exec(ctx, "shop", "web", "c", []string{"true"}, nil, nopCloser{&stdout}, nil, false, nil); err != nil || stdout.String() != "ran true\n" {
		t.Errorf("exec: %q, %v", stdout.String(), err)
	}

	// Attach with the container's terminal, though the client asked none and gave
	// stderr: the kubelet would give no stderr stream.
	k.mu.Lock()
	k.pods = kubeletPods(running, true)
	k.mu.Unlock()
	stdout.Reset()
	if err := rt.Attach(ctx, "shop", "web", "c", nil, nopCloser{&stdout}, nopCloser{&stderr}, false, nil); err != nil || stdout.String() != "attached\n" {
		t.Errorf("attach: %q, %v", stdout.String(), err)
	}
	want := []string{
		`exec shop/web-node static-uid c ["exit" "7"] tty=false stdin=true stderr=true`,
		`exec shop/web-node static-uid c ["true"] tty=false stdin=false stderr=false`,
		`attach asked tty="1" error=""`,
		`attach shop/web-node static-uid c stdin=false`,
	}
	if got := k.streamed(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the kubelet streamed\n%q\nwant\n%q", got, want)
	}
}

func TestProviderPortForward(t *testing.T) {
	rt, k, _ := startAPIPod(t)
	ctx := testContext(t)
	k.mu.Lock()
	k.forward = func(port int32, stream io.ReadWriteCloser) error {
		if port != 8080 {
			return fmt.Errorf("failed to connect to localhost:%d inside namespace of pod web-node: connection refused", port)
		}
		b, err := io.ReadAll(stream)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stream, "got %s", b)
		return err
	}
	k.mu.Unlock()
	client, server := tcpPair(t)
	done := make(chan error, 1)
	go func() { done <- rt.PortForward(ctx, "shop", "web", 8080, server) }()
	if _, err := io.WriteString(client, "ping"); err != nil {
		t.Fatal(err)
	}
	// The client is done sending; the answer still comes.
	_ = client.CloseWrite()
	back, err := io.ReadAll(client)
	if err != nil || string(back) != "got ping" {
		t.Errorf("back: %q, %v", back, err)
	}
	_ = client.Close()
	if err := <-done; err != nil {
		t.Errorf("port-forward: %v", err)
	}

	// A port the kubelet cannot reach: its error, named as the client knows the pod.
	client, server = tcpPair(t)
	go func() { done <- rt.PortForward(ctx, "shop", "web", 9090, server) }()
	_, _ = io.ReadAll(client)
	_ = client.Close()
	err = <-done
	if err == nil || !strings.Contains(err.Error(), "localhost:9090 inside namespace of pod web: connection refused") {
		t.Errorf("err = %v", err)
	}
	if want := []string{"portforward shop/web-node static-uid 8080", "portforward shop/web-node static-uid 9090"}; fmt.Sprint(k.streamed()) != fmt.Sprint(want) {
		t.Errorf("the kubelet forwarded %q, want %q", k.streamed(), want)
	}
}

// A forwarding that fails before the kubelet answers its data stream still ends with
// the kubelet's reason, not "Stream reset".
func TestProviderPortForwardRefusedAtOnce(t *testing.T) {
	rt, k, _ := startAPIPod(t)
	k.mu.Lock()
	k.refuse = "error forwarding port 9090 to pod shop/web-node, uid static-uid: connection refused"
	k.mu.Unlock()
	client, server := tcpPair(t)
	defer func() { _ = client.Close() }()
	err := rt.PortForward(testContext(t), "shop", "web", 9090, server)
	if want := "error forwarding port 9090 to pod shop/web, uid static-uid: connection refused"; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}

func TestProviderStats(t *testing.T) {
	rt, _, _ := startAPIPod(t)
	st, err := rt.Stats(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time { tm, _ := time.Parse(time.RFC3339, s); return tm }
	want := kubeletapi.Stats{
		Node: kubeletapi.NodeStats{StartTime: at("2026-01-02T03:04:05Z"),
			Usage: kubeletapi.Usage{Time: at("2026-01-02T04:00:00Z"), CPUUsageNanoSeconds: 9000, MemoryWorkingSetBytes: 8000}},
		Pods: []kubeletapi.PodStats{{Namespace: "shop", Name: "web", UID: "uid-1", StartTime: at("2026-01-02T03:05:00Z"),
			Usage: kubeletapi.Usage{Time: at("2026-01-02T04:00:01Z"), CPUUsageNanoSeconds: 700, MemoryWorkingSetBytes: 600},
			Containers: []kubeletapi.ContainerStats{{Name: "c", StartTime: at("2026-01-02T03:05:01Z"),
				Usage: kubeletapi.Usage{Time: at("2026-01-02T04:00:01Z"), CPUUsageNanoSeconds: 500, MemoryWorkingSetBytes: 400}}}}},
	}
	if fmt.Sprintf("%+v", st) != fmt.Sprintf("%+v", want) {
		t.Errorf("stats\n%+v\nwant\n%+v", st, want)
	}
}

// tcpPair returns the two ends of a loopback TCP connection, which can be half-closed.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("no connection accepted")
	}
	deadline := time.Now().Add(10 * time.Second)
	_ = c.SetDeadline(deadline)
	_ = s.SetDeadline(deadline)
	t.Cleanup(func() {
		_ = c.Close()
		_ = s.Close()
	})
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// testContext bounds a test's calls: a stream that hangs fails the test.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A pod that ended leaves the kubelet with its containers' logs once its manifest goes;
// the logs were kept in its sandbox first, and kubectl logs of the ended pod reads them.
func TestProviderKeepsTheLogsOfAnEndedPod(t *testing.T) {
	rt, k, sandbox := startAPIPod(t)
	done := endPodKeepingItsLog(t, k, sandbox)
	k.mu.Lock()
	k.pods = done[1:] // the kubelet removed it, and its containers with their logs
	k.mu.Unlock()
	poll(t, 10*time.Second, "the pod's end", func() bool { return rt.pods.lookup("shop", "web").isEnded() }, func() string { return "" })
	var out bytes.Buffer
	if err := rt.ContainerLogs(testContext(t), "shop", "web", "c", &corev1.PodLogOptions{}, &out); err != nil || out.String() != "hello\n" {
		t.Fatalf("logs of the ended pod: %q, %v", out.String(), err)
	}
	if asked := k.asked("/containerLogs/"); len(asked) != 1 || !strings.Contains(asked[0], "timestamps=true") {
		t.Errorf("asked the kubelet %q, want the log with timestamps once", asked)
	}
}
