package kubelet

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/client-go/rest"
	clientrc "k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/utils/exec"
	"k8s.io/utils/ptr"

	"github.com/k8sm/k8sm/executor"
	"github.com/k8sm/k8sm/executor/kubeletapi"
	"github.com/k8sm/k8sm/internal/testio"
	"github.com/k8sm/k8sm/internal/testkubelet"
)

// TestProviderWithARealKubelet serves the kubelet API for a pod the runtime gave a real
// kubelet: its logs (tail, follow), exec (output, stdin, exit code), port-forward (a TCP
// round trip to a server in the pod) and stats reach the static pod, and come back
// under the pod's own name; exec, logs and stats also through kubeletapi's handler, as
// the API server asks them.
func TestProviderWithARealKubelet(t *testing.T) {
	env, client := startRealKubelet(t)
	rt := &Runtime{ManifestDir: env.ManifestDir, URL: env.SecureURL, Client: client, PollInterval: 250 * time.Millisecond, Log: testr.New(t), Done: t.Context().Done()}
	grace := int64(1)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "talker", Namespace: "default", UID: "5e1f0000-0000-4000-8000-000000000002",
			Annotations: map[string]string{AnnotationTaskID: "talker-task"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{
				{Name: "main", Image: testkubelet.Image, ImagePullPolicy: corev1.PullNever,
					Command: []string{"sh", "-c", "echo line1; echo line2; echo line3; exec sleep 3600"}},
				// An echo server: each connection gets what it sends back.
				{Name: "echo", Image: testkubelet.Image, ImagePullPolicy: corev1.PullNever,
					Command: []string{"nc", "-ll", "-p", "8080", "-e", "cat"}},
			},
		},
	}
	var got reports
	h, err := rt.Start(pod, sandboxDir(t), got.add)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Kill(time.Second)
	got.waitFor(t, 90*time.Second, "Running with both containers", func(r executor.Report) bool {
		n := 0
		for _, cs := range r.Status.ContainerStatuses {
			if cs.State.Running != nil {
				n++
			}
		}
		return r.Status.Phase == corev1.PodRunning && n == 2
	}, env.Logs)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if pods := rt.Pods(); len(pods) != 1 || pods[0].Name != "talker" || pods[0].Namespace != "default" || pods[0].UID != pod.UID {
		t.Errorf("Pods() = %v, want default/talker", names(pods))
	}

	t.Run("logs with tail", func(t *testing.T) {
		var out string
		poll(t, 30*time.Second, "the last two lines", func() bool {
			var b bytes.Buffer
			err := rt.ContainerLogs(ctx, "default", "talker", "main", &corev1.PodLogOptions{TailLines: ptr.To[int64](2)}, &b)
			out = b.String()
			return err == nil && out == "line2\nline3\n"
		}, func() string { return fmt.Sprintf("got %q", out) })
	})

	t.Run("logs followed", func(t *testing.T) {
		fctx, stop := context.WithCancel(ctx)
		var out testio.SyncBuffer
		done := make(chan error, 1)
		go func() {
			done <- rt.ContainerLogs(fctx, "default", "talker", "main", &corev1.PodLogOptions{Follow: true, TailLines: ptr.To[int64](1)}, &out)
		}()
		poll(t, 30*time.Second, "the last line", func() bool { return out.String() == "line3\n" }, func() string { return fmt.Sprintf("got %q", out.String()) })
		// A line written now, by the container's own process, reaches the follower.
		if err := rt.Exec(ctx, "default", "talker", "main", []string{"sh", "-c", "echo late >/proc/1/fd/1"}, nil, nopCloser{io.Discard}, nopCloser{io.Discard}, false, nil); err != nil {
			t.Fatal(err)
		}
		poll(t, 30*time.Second, "the line written later", func() bool { return out.String() == "line3\nlate\n" }, func() string { return fmt.Sprintf("got %q", out.String()) })
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("following ended with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("following did not end with its context")
		}
	})

	t.Run("exec", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		err := rt.Exec(ctx, "default", "talker", "main", []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, nil, nopCloser{&stdout}, nopCloser{&stderr}, false, nil)
		var exit utilexec.ExitError
		if !errors.As(err, &exit) || !exit.Exited() || exit.ExitStatus() != 3 {
			t.Errorf("err = %v (%T), want exit code 3", err, err)
		}
		if stdout.String() != "out\n" || stderr.String() != "err\n" {
			t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
		}
		stdout.Reset()
		err = rt.Exec(ctx, "default", "talker", "main", []string{"cat"}, strings.NewReader("from stdin\n"), nopCloser{&stdout}, nil, false, nil)
		if err != nil || stdout.String() != "from stdin\n" {
			t.Errorf("cat: %q, %v", stdout.String(), err)
		}
	})

	t.Run("port-forward", func(t *testing.T) {
		var last error
		poll(t, 30*time.Second, "an echo through port 8080", func() bool {
			last = roundTrip(ctx, rt, 8080, "ping\n")
			return last == nil
		}, func() string { return fmt.Sprint(last) })
	})

	t.Run("stats", func(t *testing.T) {
		var st kubeletapi.Stats
		var err error
		poll(t, 60*time.Second, "the pod's usage", func() bool {
			st, err = rt.Stats(ctx)
			return err == nil && len(st.Pods) == 1 && !st.Pods[0].Time.IsZero()
		}, func() string { return fmt.Sprintf("%+v, %v", st, err) })
		p := st.Pods[0]
		if p.Namespace != "default" || p.Name != "talker" || p.UID != string(pod.UID) {
			t.Errorf("pod stats name %s/%s (%s), want default/talker (%s)", p.Namespace, p.Name, p.UID, pod.UID)
		}
		if st.Node.Time.IsZero() {
			t.Errorf("no node usage: %+v", st.Node)
		}
	})

	t.Run("through the handler", func(t *testing.T) {
		srv := serveKubeletAPI(t, rt)
		cfg := &rest.Config{Host: srv.URL, BearerToken: "apiserver"}
		u, _ := url.Parse(srv.URL + "/exec/default/talker/main?command=sh&command=-c&command=echo+hi%3B+exit+5&output=1")
		ex, err := clientrc.NewSPDYExecutor(cfg, http.MethodPost, u)
		if err != nil {
			t.Fatal(err)
		}
		var stdout bytes.Buffer
		err = ex.StreamWithContext(ctx, clientrc.StreamOptions{Stdout: &stdout})
		var exit utilexec.ExitError
		if !errors.As(err, &exit) || exit.ExitStatus() != 5 || stdout.String() != "hi\n" {
			t.Errorf("kubectl exec: %q, %v, want hi and exit code 5", stdout.String(), err)
		}

		body, code := get(t, srv.URL+"/containerLogs/default/talker/main?limitBytes=6")
		if code != http.StatusOK || body != "line1\n" {
			t.Errorf("kubectl logs --limit-bytes=6: %d %q", code, body)
		}
		body, code = get(t, srv.URL+"/stats/summary")
		var summary struct {
			Pods []struct {
				PodRef struct{ Name, Namespace string } `json:"podRef"`
			} `json:"pods"`
		}
		if err := json.Unmarshal([]byte(body), &summary); err != nil || code != http.StatusOK {
			t.Fatalf("/stats/summary: %d %q", code, body)
		}
		if len(summary.Pods) != 1 || summary.Pods[0].PodRef.Name != "talker" || summary.Pods[0].PodRef.Namespace != "default" {
			t.Errorf("/stats/summary pods = %+v, want default/talker", summary.Pods)
		}
	})
}

// startRealKubelet starts containerd and a kubelet, or skips (fails in CI) where they
// cannot run, and returns a client of its authenticated port with its certificate.
func startRealKubelet(t *testing.T) (*testkubelet.Env, *http.Client) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts containerd and a kubelet")
	}
	testkubelet.Require(t)
	env, err := testkubelet.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Stop)
	ca, err := os.ReadFile(env.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	return env, &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: env.NodeName, MinVersion: tls.VersionTLS12}}}
}

// roundTrip sends msg to port of default/talker through the runtime's PortForward and
// expects it back.
func roundTrip(ctx context.Context, rt *Runtime, port int32, msg string) error {
	client, server := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- rt.PortForward(ctx, "default", "talker", port, server) }()
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	_, err := io.WriteString(client, msg)
	back := make([]byte, len(msg))
	if err == nil {
		_, err = io.ReadFull(client, back)
	}
	_ = client.Close()
	fwdErr := <-done
	switch {
	case err != nil:
		return fmt.Errorf("%v (port-forward: %v)", err, fwdErr)
	case string(back) != msg:
		return fmt.Errorf("got %q back, want %q", back, msg)
	}
	return nil
}

// serveKubeletAPI serves the kubelet API with rt as its Provider, to any bearer token.
func serveKubeletAPI(t *testing.T, rt *Runtime) *httptest.Server {
	t.Helper()
	h, err := kubeletapi.NewHandler(kubeletapi.Config{NodeName: "agent", Provider: rt, TokenReviewer: anyToken{},
		Authorizer: authorizerfactory.NewAlwaysAllowAuthorizer(), Log: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		_ = h.Close()
	})
	return srv
}

type anyToken struct{}

func (anyToken) Review(context.Context, string) (user.Info, bool, error) {
	return &user.DefaultInfo{Name: "kube-apiserver"}, true, nil
}

func get(t *testing.T, u string) (string, int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer apiserver")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

// poll calls ok until it says yes, failing the test past d.
func poll(t *testing.T, d time.Duration, what string, ok func() bool, detail func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s: %s", what, d, detail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func names(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Namespace+"/"+p.Name)
	}
	return out
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// A pod that completes (as a Job's) leaves the kubelet, which removes its containers
// with their logs: kubectl logs of it still answers, from what the runtime kept.
func TestTheLogsOfACompletedPodWithARealKubelet(t *testing.T) {
	env, client := startRealKubelet(t)
	rt := &Runtime{ManifestDir: env.ManifestDir, URL: env.SecureURL, Client: client, PollInterval: 250 * time.Millisecond, Log: testr.New(t), Done: t.Context().Done()}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "job", Namespace: "default", UID: "5e1f0000-0000-4000-8000-000000000003",
			Annotations: map[string]string{AnnotationTaskID: "job-task"}},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{
			{Name: "main", Image: testkubelet.Image, ImagePullPolicy: corev1.PullNever, Command: []string{"sh", "-c", "echo computed 42"}}}},
	}
	var got reports
	if _, err := rt.Start(pod, sandboxDir(t), got.add); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, 90*time.Second, "Succeeded", func(r executor.Report) bool { return r.Status.Phase == corev1.PodSucceeded }, env.Logs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(250 * time.Millisecond) {
		if kp, err := rt.find(string(pod.UID), "job-task"); err == nil && kp == nil {
			break // the kubelet removed it
		}
		if time.Now().After(deadline) {
			t.Fatalf("the kubelet still has the completed pod\n%s", env.Logs())
		}
	}
	var out bytes.Buffer
	if err := rt.ContainerLogs(ctx, "default", "job", "main", &corev1.PodLogOptions{}, &out); err != nil || out.String() != "computed 42\n" {
		t.Fatalf("logs of the completed pod: %q, %v", out.String(), err)
	}
}
