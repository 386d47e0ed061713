package process

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// clientStream is a port-forward client's data stream: it sends nothing, and once end
// is closed its reads return err (io.EOF: the client is done sending). What the port
// sends is discarded.
type clientStream struct {
	end chan struct{}
	err error
}

func (s *clientStream) Read([]byte) (int, error) {
	<-s.end
	return 0, s.err
}

func (s *clientStream) Write(b []byte) (int, error) { return len(b), nil }
func (s *clientStream) Close() error                { return nil }

// A forward ends once its client's stream does, even when the port neither writes nor
// closes: after the half-close, it waits halfCloseWait at most, then closes the
// connection. A stream that fails closes it at once.
func TestPortForwardEndsWhenThePortIsSilent(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{name: "the client is done sending", err: io.EOF},
		{name: "the client's stream fails", err: errors.New("stream reset")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = l.Close() })
			accepted := make(chan net.Conn, 1)
			go func() {
				// Silent: it reads nothing, writes nothing, and keeps the connection open.
				if c, err := l.Accept(); err == nil {
					accepted <- c
				}
			}()
			conn, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			stream := &clientStream{end: make(chan struct{}), err: tc.err}
			done := make(chan error, 1)
			go func() { done <- forward(conn, stream, halfCloseWait) }()
			var silent net.Conn
			select {
			case silent = <-accepted:
				t.Cleanup(func() { _ = silent.Close() })
			case <-time.After(10 * time.Second):
				t.Fatal("the port did not accept the connection")
			}

			close(stream.end)
			var got error
			eventually(t, "the forward returns", func() bool {
				select {
				case got = <-done:
					return true
				default:
					return false
				}
			})
			if want := tc.err; (want == io.EOF && got != nil) || (want != io.EOF && !errors.Is(got, want)) {
				t.Errorf("forward: %v, want %v", got, want)
			}
			// The port's end sees the connection's end.
			_ = silent.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := silent.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("the port reads %v, want EOF", err)
			}
		})
	}
}

// A user allowed to port-forward to one pod reaches that pod's ports only, not the
// agent's other loopback listeners (another namespace's pod, the Mesos agent's API,
// the executor's own): a port that no process of the pod listens on is refused,
// without a connection to it, and the refusal says why.
func TestPortForwardRefusesAPortThePodDoesNotListenOn(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0") // the test's, not the pod's
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	rt := &Runtime{}
	rt.register(&pod{pod: shPod(corev1.RestartPolicyNever), sandbox: t.TempDir()})
	stream := &clientStream{end: make(chan struct{}), err: io.EOF}
	close(stream.end)
	port := l.Addr().(*net.TCPAddr).Port
	err = rt.PortForward(context.Background(), "ns", "p", int32(port), stream)
	switch {
	case err == nil:
		t.Error("PortForward to a port the pod does not listen on went through")
	case runtime.GOOS == "linux" && (statusCode(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "no process listening on TCP port")):
		t.Errorf("PortForward to a port the pod does not listen on: %v, want a 400 saying so", err)
	}
	// A connection PortForward made would be queued by now (a connect returns once the
	// handshake put it there), and Accept tries the queue before it waits at all: the
	// deadline only bounds the wait for one that is not there.
	_ = l.(*net.TCPListener).SetDeadline(time.Now().Add(100 * time.Millisecond))
	if c, err := l.Accept(); err == nil {
		_ = c.Close()
		t.Error("PortForward connected to the port")
	}
}
