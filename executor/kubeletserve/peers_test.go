package kubeletserve

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	crremotecommand "k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/k8sm/k8sm/executor"
	"github.com/k8sm/k8sm/executor/kubeletapi"
	"github.com/k8sm/k8sm/internal/agentmsg"
)

// peerRuntime is an executor's runtime whose pods say which executor runs them.
type peerRuntime struct {
	podsOnly
	executor string
	pods     map[string]corev1.PodPhase // name → phase, in namespace "ns"
}

func newPeerRuntime(executor string, pods map[string]corev1.PodPhase) *peerRuntime {
	r := &peerRuntime{executor: executor, pods: pods}
	r.podsOnly.pods = func() []corev1.Pod {
		var out []corev1.Pod
		for name, phase := range r.pods {
			out = append(out, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name)},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}, Status: corev1.PodStatus{Phase: phase}})
		}
		return out
	}
	return r
}

func (r *peerRuntime) ContainerLogs(_ context.Context, _, pod, _ string, _ *corev1.PodLogOptions, w io.Writer) error {
	_, err := fmt.Fprintf(w, "log of %s from %s\n", pod, r.executor)
	return err
}

func (r *peerRuntime) CheckStream(context.Context, kubeletapi.StreamRequest) error { return nil }

func (r *peerRuntime) Exec(_ context.Context, _, pod, _ string, cmd []string, _ io.Reader, stdout, _ io.WriteCloser, _ bool, _ <-chan crremotecommand.TerminalSize) error {
	_, err := fmt.Fprintf(stdout, "%s in %s on %s\n", strings.Join(cmd, " "), pod, r.executor)
	return err
}

func (r *peerRuntime) Stats(context.Context) (kubeletapi.Stats, error) {
	st := kubeletapi.Stats{Node: kubeletapi.NodeStats{StartTime: time.Unix(1, 0)}}
	for name := range r.pods {
		st.Pods = append(st.Pods, kubeletapi.PodStats{Namespace: "ns", Name: name, UID: "uid-" + name})
	}
	return st, nil
}

// mesosSandboxes makes claimed sandboxes of runs of the executors named, in the Mesos
// layout, each deeper than a Unix socket's path can be.
func mesosSandboxes(t *testing.T, executors ...string) []string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "slaves", strings.Repeat("s", 40), "frameworks", strings.Repeat("f", 40), "executors")
	var out []string
	for _, e := range executors {
		dir := filepath.Join(root, e, "runs", strings.Repeat("r", 36))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		release, err := executor.Claim(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(release)
		out = append(out, dir)
	}
	return out
}

// After a change of the executor, the old and the new executor of a cluster run on one
// agent; the one holding the port serves both's pods, the other's through its socket,
// behind its own authentication.
func TestServesThePodsOfTheOtherExecutors(t *testing.T) {
	sandboxes := mesosSandboxes(t, "k8sm-executor-c-old", "k8sm-executor-c-new")
	port := freePort(t)
	old := newPeerRuntime("old", map[string]corev1.PodPhase{"old-pod": corev1.PodRunning, "moved": corev1.PodSucceeded})
	newer := newPeerRuntime("new", map[string]corev1.PodPhase{"new-pod": corev1.PodRunning, "moved": corev1.PodRunning})
	holder, _ := startServerIn(t, old, "127.0.0.1", "127.0.0.1", sandboxes[0])
	holder.Subscribed(mesos.AgentInfo{Hostname: "agent-1"})
	configure(t, holder, agentmsg.Config{NodeName: "mesos-c-agent-1", Port: port})
	eventually(t, "the old executor does not serve", func() bool { code, _ := get(client(t, nil, ""), port, "/pods"); return code == http.StatusUnauthorized })
	other, of := startServerIn(t, newer, "127.0.0.1", "127.0.0.1", sandboxes[1])
	other.Subscribed(mesos.AgentInfo{Hostname: "agent-1"})
	configure(t, other, agentmsg.Config{NodeName: "mesos-c-agent-1", Port: port})

	for _, s := range sandboxes {
		eventually(t, "no peer socket in "+s, func() bool { _, err := os.Stat(filepath.Join(s, peerDir, peerSocket)); return err == nil })
		if st, err := os.Stat(filepath.Join(s, peerDir)); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("the socket's directory: %v, %v; want mode 0700", st, err)
		}
	}
	// The port is held by an executor of the cluster, which serves the other's pods:
	// nothing for the Node's events.
	hellos := of.kinds()[agentmsg.KindHello]
	other.Subscribed(mesos.AgentInfo{Hostname: "agent-1"})
	eventually(t, "no Hello", func() bool { return of.kinds()[agentmsg.KindHello] > hellos })
	if h := of.lastHello(); h.PortTaken != nil {
		t.Errorf("the Hello says the port is taken (%+v) while an executor of the cluster holds it", *h.PortTaken)
	}
	c := client(t, nil, "")
	auth := []string{"Authorization", "Bearer good"}
	code, body := get(c, port, "/pods", auth...)
	for _, name := range []string{`"old-pod"`, `"new-pod"`} {
		if code != http.StatusOK || !strings.Contains(body, name) {
			t.Errorf("/pods = %d %s, want %s listed", code, body, name)
		}
	}
	for path, want := range map[string]string{
		"/containerLogs/ns/old-pod/c": "log of old-pod from old\n",
		"/containerLogs/ns/new-pod/c": "log of new-pod from new\n",
		// Ended here, running there: the running one.
		"/containerLogs/ns/moved/c": "log of moved from new\n",
	} {
		if code, body := get(c, port, path, auth...); code != http.StatusOK || body != want {
			t.Errorf("%s = %d %q, want %q", path, code, body, want)
		}
	}
	if code, body := get(c, port, "/containerLogs/ns/nowhere/c", auth...); code != http.StatusNotFound {
		t.Errorf("logs of a pod no executor runs: %d %s", code, body)
	}
	// Every path naming a pod goes to the executor that runs it: a port forwarding
	// without its upgrade is refused there, not found here.
	for _, path := range []string{"/portForward/ns/new-pod", "/portForward/ns/new-pod/uid-new-pod"} {
		if code, body := get(c, port, path, auth...); code == http.StatusNotFound {
			t.Errorf("%s = %d %s: not passed to the executor that runs the pod", path, code, body)
		}
	}
	if code, body := get(c, port, "/portForward/ns/new-pod/other-uid", auth...); code != http.StatusNotFound {
		t.Errorf("a port forwarding to another UID of the pod: %d %s", code, body)
	}
	if code, body := get(c, port, "/stats/summary", auth...); code != http.StatusOK || !strings.Contains(body, `"name":"new-pod"`) || !strings.Contains(body, `"name":"old-pod"`) {
		t.Errorf("/stats/summary = %d %s, want both executors' pods", code, body)
	}
	// The other executor's pods are behind the holder's authentication.
	if code, body := get(c, port, "/containerLogs/ns/new-pod/c"); code != http.StatusUnauthorized {
		t.Errorf("an anonymous request for the other executor's pod: %d %s", code, body)
	}

	// A streaming request (an upgraded connection) passes too.
	u, _ := url.Parse(fmt.Sprintf("https://127.0.0.1:%d/exec/ns/new-pod/uid-new-pod/c?command=echo&command=hi&output=1", port))
	ex, err := remotecommand.NewSPDYExecutor(&rest.Config{BearerToken: "good", TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, http.MethodPost, u)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out}); err != nil || out.String() != "echo hi in new-pod on new\n" {
		t.Errorf("exec in the other executor's pod: %q, %v", out.String(), err)
	}
}
