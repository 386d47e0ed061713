package process

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/rest"
	clientremotecommand "k8s.io/client-go/tools/remotecommand"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/utils/ptr"

	"github.com/k8sm/k8sm/executor"
	"github.com/k8sm/k8sm/executor/kubeletapi"
	"github.com/k8sm/k8sm/internal/testio"
)

// attachment is an attach session run as the streaming server runs it: in the
// background, until the container's output ends or the client goes (cancel).
type attachment struct {
	in       *io.PipeWriter     // the client's stdin, when it asked for it
	out, err *testio.SyncBuffer // err is nil when the client did not ask for stderr
	resize   chan remotecommand.TerminalSize
	cancel   context.CancelFunc
	done     chan error
}

// attachTo attaches a client to container c0 of pod ns/p, and returns once the session
// listens to the container's output.
func attachTo(t *testing.T, rt *Runtime, stdin, stderr, tty bool) *attachment {
	t.Helper()
	a := &attachment{out: &testio.SyncBuffer{}, resize: make(chan remotecommand.TerminalSize), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	var in io.Reader
	if stdin {
		r, w := io.Pipe()
		in, a.in = r, w
	}
	var errs io.WriteCloser
	if stderr {
		a.err = &testio.SyncBuffer{}
		errs = a.err
	}
	before := listeners(t, rt)
	go func() { a.done <- rt.Attach(ctx, "ns", "p", "c0", in, a.out, errs, tty, a.resize) }()
	eventually(t, "the client listens to the container's output", func() bool {
		select {
		case err := <-a.done:
			t.Fatalf("the session ended at once: %v", err)
		default:
		}
		return listeners(t, rt) > before
	})
	t.Cleanup(func() {
		cancel()
		if a.in != nil {
			_ = a.in.Close()
		}
		close(a.resize)
	})
	return a
}

// send writes to the client's stdin.
func (a *attachment) send(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(a.in, s); err != nil {
		t.Fatalf("sending %q: %v", s, err)
	}
}

// wait returns what the session returned once it ended.
func (a *attachment) wait(t *testing.T, what string) error {
	t.Helper()
	select {
	case err := <-a.done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("waited 20s for the session to end: %s", what)
		return nil
	}
}

// ongoing says whether the session still runs.
func (a *attachment) ongoing() bool {
	select {
	case err := <-a.done:
		a.done <- err
		return false
	default:
		return true
	}
}

// listeners counts the clients that listen to the stdout of c0's current instance.
func listeners(t *testing.T, rt *Runtime) int {
	t.Helper()
	p, c, err := rt.find("ns", "p", "c0")
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	cl := c.log
	p.mu.Unlock()
	if cl == nil {
		return 0
	}
	b := cl.attached[0]
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.ls)
}

func attachReq(stdin, stderr, tty bool) kubeletapi.StreamRequest {
	return kubeletapi.StreamRequest{Verb: kubeletapi.VerbAttach, Namespace: "ns", Pod: "p", Container: "c0",
		Stdin: stdin, Stdout: true, Stderr: stderr, TTY: tty}
}

// Attach copies what the container writes from then on, not before, to every client,
// stdout and stderr apart, while its log still gets it all; a client's stdin reaches
// the container's, and the container's stdin stays open when a client's ends (no
// stdinOnce). A client that asks a terminal of a container without one gets stdout
// and stderr apart, as from the kubelet, which attaches with the container's tty.
func TestAttachCopiesTheLiveOutputAndStdin(t *testing.T) {
	rt := &Runtime{}
	p := shPod(corev1.RestartPolicyNever, `echo before; echo early >&2; while read l; do echo "out $l"; echo "err $l" >&2; done`)
	p.Spec.Containers[0].Stdin = true
	_, rec, dir := startWith(t, rt, p)
	rec.until(t, "the container runs", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
	eventually(t, "the container wrote its first lines", func() bool {
		return output(dir, "c0", corev1.LogStreamStdout) == "before\n" && output(dir, "c0", corev1.LogStreamStderr) == "early\n"
	})
	if err := rt.CheckStream(context.Background(), attachReq(true, true, false)); err != nil {
		t.Fatalf("CheckStream: %v", err)
	}
	watcher := attachTo(t, rt, false, true, false)
	writer := attachTo(t, rt, true, true, false)
	writer.send(t, "one\n")
	for _, a := range []*attachment{watcher, writer} {
		eventually(t, "both clients get the output", func() bool {
			return a.out.String() == "out one\n" && a.err.String() == "err one\n"
		})
	}
	if out, errs := output(dir, "c0", corev1.LogStreamStdout), output(dir, "c0", corev1.LogStreamStderr); out != "before\nout one\n" || errs != "early\nerr one\n" {
		t.Errorf("the log has %q and %q, want the output before and during the sessions", out, errs)
	}

	// The writer's stdin ends: its session ends, the container's stdin stays open.
	_ = writer.in.Close()
	if err := writer.wait(t, "the client's stdin ended"); err != nil {
		t.Errorf("the session ended with %v", err)
	}
	other := attachTo(t, rt, true, true, true)
	other.send(t, "two\n")
	eventually(t, "the container reads the next client's stdin", func() bool {
		return watcher.out.String() == "out one\nout two\n" && watcher.err.String() == "err one\nerr two\n"
	})
	eventually(t, "a client asking a terminal gets stdout and stderr apart", func() bool {
		return other.out.String() == "out two\n" && other.err.String() == "err two\n"
	})
	if !watcher.ongoing() {
		t.Error("the watcher's session ended with another's")
	}
	watcher.cancel()
	if err := watcher.wait(t, "the client went"); err != nil {
		t.Errorf("the watcher's session ended with %v", err)
	}
}

// A client may ask stdin of a container without one: as from the kubelet, it is not
// refused, gets the output, and what it sends is dropped.
func TestAttachToAContainerWithoutStdin(t *testing.T) {
	rt := &Runtime{}
	p := shPod(corev1.RestartPolicyNever, `read l || echo "no stdin"; while :; do echo tick; sleep 0.05; done`)
	_, rec, dir := startWith(t, rt, p)
	rec.until(t, "the container runs", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
	eventually(t, "the container read EOF", func() bool {
		return strings.HasPrefix(output(dir, "c0", corev1.LogStreamStdout), "no stdin\n")
	})
	if err := rt.CheckStream(context.Background(), attachReq(true, true, false)); err != nil {
		t.Fatalf("CheckStream: %v", err)
	}
	a := attachTo(t, rt, true, true, false)
	a.send(t, "dropped\n")
	eventually(t, "the client gets the output from then on", func() bool { return strings.HasPrefix(a.out.String(), "tick\n") })
}

// With stdinOnce, the container's stdin is closed once the first client with stdin is
// done, as containerd does: when its stdin ends (the output stays attached until the
// container ends it), or when the client goes.
func TestAttachStdinOnce(t *testing.T) {
	script := `while read l; do echo "got $l"; done; echo "stdin closed"; exec sleep 300`
	run := func(t *testing.T) (*Runtime, string) {
		rt := &Runtime{}
		p := shPod(corev1.RestartPolicyNever, script)
		p.Spec.Containers[0].Stdin, p.Spec.Containers[0].StdinOnce = true, true
		_, rec, dir := startWith(t, rt, p)
		rec.until(t, "the container runs", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
		return rt, dir
	}
	t.Run("the client's stdin ends", func(t *testing.T) {
		rt, dir := run(t)
		a := attachTo(t, rt, true, false, false)
		a.send(t, "a\n")
		eventually(t, "the container reads the client's stdin", func() bool { return a.out.String() == "got a\n" })
		_ = a.in.Close()
		eventually(t, "the container's stdin is closed, its output still attached", func() bool {
			return a.out.String() == "got a\nstdin closed\n"
		})
		if !a.ongoing() {
			t.Error("the session ended with the client's stdin")
		}
		if out := output(dir, "c0", corev1.LogStreamStdout); out != "got a\nstdin closed\n" {
			t.Errorf("the log has %q", out)
		}
		// Later clients attach to the output; stdin they send is dropped.
		b := attachTo(t, rt, true, false, false)
		b.send(t, "b\n")
		b.cancel()
		if err := b.wait(t, "the later client went"); err != nil {
			t.Errorf("the later session ended with %v", err)
		}
	})
	t.Run("the client goes", func(t *testing.T) {
		rt, dir := run(t)
		a := attachTo(t, rt, true, false, false)
		a.send(t, "a\n")
		eventually(t, "the container reads the client's stdin", func() bool { return a.out.String() == "got a\n" })
		a.cancel()
		if err := a.wait(t, "the client went"); err != nil {
			t.Errorf("the session ended with %v", err)
		}
		eventually(t, "the container's stdin is closed", func() bool {
			return output(dir, "c0", corev1.LogStreamStdout) == "got a\nstdin closed\n"
		})
	})
}

// A container with tty runs on a terminal: a client gets its one output (terminal line
// ends included) and types into it, resize sets its size; the log has that output as
// stdout, its lines without the terminal's "\r". A client cannot ask stderr of it (the
// kubelet's 500). stdinOnce does not close a terminal: the next client types into it.
func TestAttachToATerminal(t *testing.T) {
	rt := &Runtime{}
	p := shPod(corev1.RestartPolicyNever, `test -t 0 && test -t 1 && test -t 2 && echo "on a terminal"; while read l; do echo "got $l"; stty size; done`)
	p.Spec.Containers[0].Stdin, p.Spec.Containers[0].StdinOnce, p.Spec.Containers[0].TTY = true, true, true
	_, rec, dir := startWith(t, rt, p)
	rec.until(t, "the container runs", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
	eventually(t, "the container wrote its first line", func() bool {
		return output(dir, "c0", corev1.LogStreamStdout) == "on a terminal\n"
	})
	ctx := context.Background()
	if err := rt.CheckStream(ctx, attachReq(true, true, false)); statusCode(err) != 500 || err.Error() != "tty and stderr cannot both be true" {
		t.Errorf("CheckStream with stderr: %v, want the kubelet's 500", err)
	}
	if err := rt.CheckStream(ctx, attachReq(true, false, true)); err != nil {
		t.Errorf("CheckStream: %v", err)
	}
	a := attachTo(t, rt, true, true, true)
	a.resize <- remotecommand.TerminalSize{Width: 100, Height: 40}
	// The size is set as the session gets it, apart from stdin: type until the
	// container sees it.
	eventually(t, "the container sees the client's size", func() bool {
		a.send(t, "x\n")
		return strings.Contains(a.out.String(), "got x\r\n40 100\r\n")
	})
	if out := a.out.String(); strings.Contains(out, "on a terminal") || a.err.String() != "" {
		t.Errorf("the client got %q and stderr %q, want the output from its attach on, on stdout", out, a.err.String())
	}
	eventually(t, "the log has the output as stdout lines", func() bool {
		return strings.Contains(output(dir, "c0", corev1.LogStreamStdout), "got x\n40 100\n")
	})
	if out, errs := output(dir, "c0", corev1.LogStreamStdout), output(dir, "c0", corev1.LogStreamStderr); !strings.HasPrefix(out, "on a terminal\n") || strings.Contains(out, "\r") || errs != "" {
		t.Errorf("the log has %q and stderr %q", out, errs)
	}

	// The client's stdin ends: so does its session; the terminal stays open.
	_ = a.in.Close()
	if err := a.wait(t, "the client's stdin ended"); err != nil {
		t.Errorf("the session ended with %v", err)
	}
	b := attachTo(t, rt, true, false, true)
	b.send(t, "y\n")
	eventually(t, "the next client types into the terminal", func() bool { return strings.Contains(b.out.String(), "got y\r\n") })
}

// A session ends with the container's instance; a container that is not running is
// answered as the kubelet answers it: not found, a 500.
func TestAttachEndsWithTheContainer(t *testing.T) {
	rt := &Runtime{}
	p := shPod(corev1.RestartPolicyNever, `read l; echo "bye $l"`)
	p.Spec.Containers[0].Stdin = true
	_, rec, dir := startWith(t, rt, p)
	rec.until(t, "the container runs", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
	a := attachTo(t, rt, true, true, false)
	a.send(t, "now\n")
	if err := a.wait(t, "the container ended"); err != nil || a.out.String() != "bye now\n" {
		t.Errorf("the session: %q, %v; want the output, then the end; log %q", a.out.String(), err, output(dir, "c0", corev1.LogStreamStdout))
	}
	rec.until(t, "the pod ended", ended)
	const notFound = "container c0 not found in pod p_ns"
	if err := rt.CheckStream(context.Background(), attachReq(false, true, false)); statusCode(err) != 500 || err.Error() != notFound {
		t.Errorf("CheckStream: %v, want the kubelet's 500", err)
	}
	if err := rt.Attach(context.Background(), "ns", "p", "c0", nil, &closingBuffer{}, nil, false, nil); statusCode(err) != 500 || err.Error() != notFound {
		t.Errorf("Attach: %v, want the kubelet's 500", err)
	}
}

// stuckWriter is a client that takes nothing until released.
type stuckWriter struct{ release chan struct{} }

func (w stuckWriter) Write(p []byte) (int, error) {
	<-w.release
	return 0, errors.New("gone")
}

func (stuckWriter) Close() error { return nil }

// A client that does not keep up holds back neither the container nor its log: it is
// dropped, and told so.
func TestASlowClientDoesNotHoldTheContainerBack(t *testing.T) {
	defer func(n int) { attachBacklog = n }(attachBacklog)
	attachBacklog = 4
	rt := &Runtime{}
	p := shPod(corev1.RestartPolicyNever, `read l; pad=$(printf '%0200d' 0); i=0; while [ $i -lt 2000 ]; do echo "line $i $pad"; i=$((i+1)); done; echo done`)
	// stdinOnce: the session outlives its stdin, which starts the output.
	p.Spec.Containers[0].Stdin, p.Spec.Containers[0].StdinOnce = true, true
	_, rec, _ := startWith(t, rt, p)
	rec.until(t, "the container runs", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
	stuck := stuckWriter{release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		done <- rt.Attach(context.Background(), "ns", "p", "c0", strings.NewReader("go\n"), stuck, nil, false, nil)
	}()
	if rep := rec.until(t, "the pod ended", ended); rep.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("phase %s", rep.Status.Phase)
	}
	if out, err := readLog(t, rt, context.Background(), "c0", corev1.PodLogOptions{TailLines: ptr.To[int64](1)}); out != "done\n" || err != nil {
		t.Errorf("the last line: %q, %v", out, err)
	}
	close(stuck.release)
	select {
	case err := <-done:
		if !errors.Is(err, errBehind) {
			t.Errorf("the session ended with %v, want %v", err, errBehind)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the session did not end")
	}
}

type allowAll struct{}

func (allowAll) Authorize(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
	return authorizer.DecisionAllow, "", nil
}

type anyToken struct{}

func (anyToken) Review(context.Context, string) (user.Info, bool, error) {
	return &user.DefaultInfo{Name: "kube-apiserver"}, true, nil
}

// sizes is a client terminal's size queue: one size, then none once done.
type sizes struct {
	size remotecommand.TerminalSize
	sent bool
	done chan struct{}
}

func (s *sizes) Next() *clientremotecommand.TerminalSize {
	if !s.sent {
		s.sent = true
		return &clientremotecommand.TerminalSize{Width: s.size.Width, Height: s.size.Height}
	}
	<-s.done
	return nil
}

// kubectl's attach reaches the container through the kubelet API's handler, as the API
// server calls it, with kubectl's protocols (WebSocket, which the handler translates,
// and SPDY): as `kubectl run -i --restart=Never` attaches (stdinOnce: the end of the
// client's stdin closes the container's, and the session ends with the container), and
// as `kubectl attach -it` does (a terminal, its size from the client's).
func TestKubectlAttachThroughTheKubeletAPI(t *testing.T) {
	for _, protocol := range []string{"websocket", "spdy"} {
		t.Run(protocol, func(t *testing.T) {
			rt := &Runtime{}
			h, err := kubeletapi.NewHandler(kubeletapi.Config{NodeName: "node-1", Provider: rt, TokenReviewer: anyToken{}, Authorizer: allowAll{}, Log: logr.Discard()})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h)
			t.Cleanup(func() { srv.Close(); _ = h.Close() })
			cfg := &rest.Config{Host: srv.URL, BearerToken: "token"}
			stream := func(query string, opts clientremotecommand.StreamOptions) error {
				u, err := url.Parse(srv.URL + "/attach/ns/p/c0?" + query)
				if err != nil {
					t.Fatal(err)
				}
				var ex clientremotecommand.Executor
				if protocol == "websocket" {
					ex, err = clientremotecommand.NewWebSocketExecutor(cfg, "GET", u.String())
				} else {
					ex, err = clientremotecommand.NewSPDYExecutor(cfg, "POST", u)
				}
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				return ex.StreamWithContext(ctx, opts)
			}

			t.Run("run -i", func(t *testing.T) {
				p := shPod(corev1.RestartPolicyNever, `while read l; do echo "got $l"; echo "err $l" >&2; done; echo bye`)
				p.Spec.Containers[0].Stdin, p.Spec.Containers[0].StdinOnce = true, true
				_, rec, dir := startWith(t, rt, p)
				rec.until(t, "the container runs", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
				var stdout, stderr testio.SyncBuffer
				err := stream("input=1&output=1&error=1", clientremotecommand.StreamOptions{Stdin: strings.NewReader("one\ntwo\n"), Stdout: &stdout, Stderr: &stderr})
				if err != nil || stdout.String() != "got one\ngot two\nbye\n" || stderr.String() != "err one\nerr two\n" {
					t.Errorf("attach: %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
				}
				if rep := rec.until(t, "the pod ended", ended); rep.Status.Phase != corev1.PodSucceeded {
					t.Errorf("phase %s", rep.Status.Phase)
				}
				if out := output(dir, "c0", corev1.LogStreamStdout); out != "got one\ngot two\nbye\n" {
					t.Errorf("the log has %q", out)
				}
			})

			t.Run("attach -it", func(t *testing.T) {
				p := shPod(corev1.RestartPolicyNever, `while read l; do echo "got $l"; stty size; done`)
				p.Spec.Containers[0].Stdin, p.Spec.Containers[0].TTY = true, true
				_, rec, _ := startWith(t, rt, p)
				rec.until(t, "the container runs", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
				// Without a terminal, a client asks stderr: refused, as the kubelet does.
				var out testio.SyncBuffer
				err := stream("input=1&output=1&error=1", clientremotecommand.StreamOptions{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out})
				if err == nil || !strings.Contains(err.Error(), "tty and stderr cannot both be true") {
					t.Errorf("attach with stderr: %v, want the kubelet's refusal", err)
				}
				in, typing := io.Pipe()
				q := &sizes{size: remotecommand.TerminalSize{Width: 100, Height: 40}, done: make(chan struct{})}
				done := make(chan error, 1)
				go func() {
					done <- stream("input=1&output=1&tty=1", clientremotecommand.StreamOptions{Stdin: in, Stdout: &out, Tty: true, TerminalSizeQueue: q})
				}()
				t.Cleanup(func() { _ = typing.Close(); close(q.done) })
				eventually(t, "the container sees the client's size", func() bool {
					if _, err := io.WriteString(typing, "x\n"); err != nil {
						t.Fatalf("typing: %v", err)
					}
					return strings.Contains(out.String(), "got x\r\n40 100\r\n")
				})
				_ = typing.Close() // the client's stdin ends: so does its session
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("attach -it: %v", err)
					}
				case <-time.After(20 * time.Second):
					t.Fatal("the session did not end with the client's stdin")
				}
			})
		})
	}
}
