package kubeletapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/portforward"
	clientrc "k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	clientexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"
)

// The executors the API server and kubectl use: SPDY, WebSocket v5 (the kubelet's
// translator), and WebSocket v4 (the CRI streaming server's own).
var executors = []struct {
	name string
	new  func(s *testServer, cert issued, u *url.URL) (clientrc.Executor, error)
	// closesStdin: the protocol tells the end of stdin (v4 WebSocket cannot).
	closesStdin bool
}{
	{"SPDY", func(s *testServer, cert issued, u *url.URL) (clientrc.Executor, error) {
		return clientrc.NewSPDYExecutor(s.restConfig(cert), "POST", u)
	}, true},
	{"WebSocket v5", func(s *testServer, cert issued, u *url.URL) (clientrc.Executor, error) {
		return clientrc.NewWebSocketExecutor(s.restConfig(cert), "GET", u.String())
	}, true},
	{"WebSocket v4", func(s *testServer, cert issued, u *url.URL) (clientrc.Executor, error) {
		return clientrc.NewWebSocketExecutorForProtocols(s.restConfig(cert), "GET", u.String(), "v4.channel.k8s.io")
	}, false},
}

type sizeQueue struct{ sent bool }

func (q *sizeQueue) Next() *clientrc.TerminalSize {
	if q.sent {
		return nil
	}
	q.sent = true
	return &clientrc.TerminalSize{Width: 80, Height: 24}
}

func TestExecAndAttach(t *testing.T) {
	s := startServer(t)
	admin := s.clientCA.client(t, "admin")
	for _, e := range executors {
		for _, tc := range []struct {
			name       string
			path       string
			stdin      bool
			tty        bool
			wantOut    string
			wantErrOut string
			wantExit   int
		}{
			{name: "exec", path: "/exec/ns/web/app?command=cat&command=-n&input=1&output=1&error=1", stdin: true,
				wantOut: "hello", wantErrOut: "ns/web/app [cat -n] tty=false"},
			{name: "exec with the pod's UID", path: "/exec/ns/web/uid-1/side?command=cat&input=1&output=1", stdin: true, wantOut: "hello"},
			{name: "exec without stdin", path: "/exec/ns/web/app?command=true&output=1&error=1", wantErrOut: "ns/web/app [true] tty=false"},
			{name: "exit code", path: "/exec/ns/web/app?command=exit&command=3&output=1&error=1", wantExit: 3},
			{name: "tty", path: "/exec/ns/web/app?command=sh&input=1&output=1&tty=1", stdin: true, tty: true, wantOut: "size 80x24;hello"},
			{name: "attach", path: "/attach/ns/web/app?input=1&output=1", stdin: true, wantOut: "attached to ns/web/app;hello"},
		} {
			if tc.stdin && !e.closesStdin {
				continue
			}
			t.Run(e.name+" "+tc.name, func(t *testing.T) {
				u, _ := url.Parse(s.url + tc.path)
				ex, err := e.new(s, admin, u)
				if err != nil {
					t.Fatal(err)
				}
				var stdout, stderr bytes.Buffer
				opts := clientrc.StreamOptions{Stdout: &stdout, Tty: tc.tty}
				if tc.stdin {
					opts.Stdin = strings.NewReader("hello")
				}
				if strings.Contains(tc.path, "error=1") {
					opts.Stderr = &stderr
				}
				if tc.tty {
					opts.TerminalSizeQueue = &sizeQueue{}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				err = ex.StreamWithContext(ctx, opts)
				var exit clientexec.ExitError
				switch {
				case tc.wantExit != 0:
					if !errors.As(err, &exit) || exit.ExitStatus() != tc.wantExit {
						t.Fatalf("error %v, want exit code %d", err, tc.wantExit)
					}
				case err != nil:
					t.Fatal(err)
				}
				if stdout.String() != tc.wantOut || stderr.String() != tc.wantErrOut {
					t.Errorf("stdout %q, stderr %q; want %q, %q", stdout.String(), stderr.String(), tc.wantOut, tc.wantErrOut)
				}
			})
		}
	}
}

// TestStreamRefusals: what the kubelet answers before upgrading a streaming request.
func TestStreamRefusals(t *testing.T) {
	s := startServer(t)
	admin := s.clientCA.client(t, "admin")
	for _, tc := range []struct {
		name     string
		method   string
		path     string
		checkErr error
		wantCode int
		wantBody string
	}{
		{"no stream", "POST", "/exec/ns/web/app?command=ls", nil, 400, "you must specify at least 1 of stdin, stdout, stderr"},
		{"unknown pod", "POST", "/exec/ns/nope/app?command=ls&output=1", nil, 404, "pod does not exist"},
		{"unknown container", "POST", "/attach/ns/web/nope?output=1", nil, 404, `container not found ("nope")`},
		{"another pod's UID", "POST", "/exec/ns/web/uid-2/app?command=ls&output=1", nil, 404, "pod not found"},
		{"unknown pod to forward", "POST", "/portForward/ns/nope", nil, 404, "pod does not exist"},
		{"another pod's UID to forward", "POST", "/portForward/ns/web/uid-2", nil, 404, "pod not found"},
		{"unknown pod to run", "POST", "/run/ns/nope/app?cmd=ls", nil, 404, "pod does not exist"},
		{"run is POST", "GET", "/run/ns/web/app?cmd=ls", nil, 405, "Method Not Allowed"},
		{"exec is GET or POST", "PUT", "/exec/ns/web/app?command=ls&output=1", nil, 405, "Method Not Allowed"},
		{"refused with a status", "POST", "/attach/ns/web/app?output=1",
			Errorf(http.StatusBadRequest, "the process runtime cannot attach to a container without stdin"),
			400, "the process runtime cannot attach to a container without stdin"},
		{"refused with an API status", "POST", "/portForward/ns/web", apierrors.NewServiceUnavailable("no pod IP yet"), 503, "no pod IP yet"},
		{"refused", "POST", "/exec/ns/web/app?command=ls&output=1", errors.New("broken"), 500, "broken"},
		{"run refused", "POST", "/run/ns/web/app?cmd=ls", Errorf(http.StatusNotImplemented, "no run"), 501, "no run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.provider.checkErr = tc.checkErr
			code, body := s.do(t, s.client(&admin), tc.method, tc.path, "")
			if code != tc.wantCode || body != tc.wantBody {
				t.Errorf("got %d %q, want %d %q", code, body, tc.wantCode, tc.wantBody)
			}
		})
	}
}

func TestRun(t *testing.T) {
	s := startServer(t)
	admin := s.clientCA.client(t, "admin")
	code, body := s.do(t, s.client(&admin), "POST", "/run/ns/web/app?cmd=echo%20hi", "")
	if code != 200 || body != "ns/web/app [echo hi] tty=false" {
		t.Errorf("run: %d %q", code, body)
	}
	code, body = s.do(t, s.client(&admin), "POST", "/run/ns/web/uid-1/app?cmd=exit%203", "")
	if code != 500 || body != "command 'exit 3' exited with 3: " {
		t.Errorf("run exiting 3: %d %q", code, body)
	}
}

// TestPortForward forwards a local port through the kubelet API, as kubectl does: over
// SPDY, and over SPDY tunneled in WebSocket (untunneled by the kubelet's handler).
func TestPortForward(t *testing.T) {
	s := startServer(t)
	admin := s.clientCA.client(t, "admin")
	for _, tc := range []struct {
		name string
		path string
		dial func(u *url.URL) (httpstream.Dialer, error)
	}{
		{"SPDY", "/portForward/ns/web", func(u *url.URL) (httpstream.Dialer, error) {
			transport, upgrader, err := spdy.RoundTripperFor(s.restConfig(admin))
			if err != nil {
				return nil, err
			}
			return spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, "POST", u), nil
		}},
		{"SPDY with the pod's UID", "/portForward/ns/web/uid-1", func(u *url.URL) (httpstream.Dialer, error) {
			transport, upgrader, err := spdy.RoundTripperFor(s.restConfig(admin))
			if err != nil {
				return nil, err
			}
			return spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, "POST", u), nil
		}},
		{"SPDY over WebSocket", "/portForward/ns/web", func(u *url.URL) (httpstream.Dialer, error) {
			return portforward.NewSPDYOverWebsocketDialerForStreaming(u, s.restConfig(admin))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, _ := url.Parse(s.url + tc.path)
			dialer, err := tc.dial(u)
			if err != nil {
				t.Fatal(err)
			}
			stop, ready := make(chan struct{}), make(chan struct{})
			pf, err := portforward.NewForStreaming(dialer, []string{"0:8080", "0:9090"}, stop, ready, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- pf.ForwardPorts() }()
			ended := false
			defer func() {
				close(stop)
				if ended {
					return
				}
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("forwarding: %v", err)
					}
				case <-time.After(5 * time.Second):
					t.Error("forwarding did not stop")
				}
			}()
			select {
			case <-ready:
			case err := <-done:
				ended = true
				t.Fatalf("forwarding ended: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatal("forwarding not ready")
			}
			ports, err := pf.GetPorts()
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ports {
				for i := range 2 {
					if got, want := roundTrip(t, p.Local, fmt.Sprintf("ping %d", i)), fmt.Sprintf("%d:ping %d", p.Remote, i); got != want {
						t.Errorf("port %d: got %q, want %q", p.Remote, got, want)
					}
				}
			}
		})
	}
}

// roundTrip connects to a forwarded local port, writes msg and reads the answer.
func roundTrip(t *testing.T, port uint16, msg string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	var buf []byte
	tmp := make([]byte, 64)
	for !strings.HasSuffix(string(buf), msg) {
		n, err := conn.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if err != nil {
			t.Fatalf("read %q: %v", buf, err)
		}
	}
	return string(buf)
}

// TestPortForwardWebSocketNeedsPorts: the WebSocket protocol names its ports in the
// query, as the CRI streaming server reads them.
func TestPortForwardWebSocketNeedsPorts(t *testing.T) {
	s := startServer(t)
	admin := s.clientCA.client(t, "admin")
	req, _ := http.NewRequest(http.MethodGet, s.url+"/portForward/ns/web", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Protocol", "v4.channel.k8s.io")
	resp, err := s.client(&admin).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != 400 || body != `query parameter "port" is required` {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
}

// A run's output is kept up to maxRunOutput, stdout and stderr together, as the kubelet
// gets it in one CRI answer of 16 MiB at most; past that the command is ended and the
// run answered 500.
func TestRunOutputBounded(t *testing.T) {
	s := startServer(t)
	admin := s.clientCA.client(t, "admin")
	half := strconv.Itoa(maxRunOutput / 2)
	for _, tc := range []struct {
		name          string
		stdout        string
		stderr        string
		wantCode      int
		wantLen       int
		wantBody      string
		wantCancelled int32
	}{
		{name: "under the bound", stdout: "100", stderr: "20", wantCode: 200, wantLen: 120},
		{name: "at the bound, both streams", stdout: half, stderr: half, wantCode: 200, wantLen: maxRunOutput},
		{name: "one byte over, on stderr", stdout: half, stderr: strconv.Itoa(maxRunOutput/2 + 1), wantCode: 500,
			wantBody:      fmt.Sprintf("command 'emit %s %d' was ended: its output is over %d bytes, the most a run returns", half, maxRunOutput/2+1, maxRunOutput),
			wantCancelled: 1},
		{name: "without end", stdout: "endless", stderr: "0", wantCode: 500,
			wantBody:      fmt.Sprintf("command 'emit endless 0' was ended: its output is over %d bytes, the most a run returns", maxRunOutput),
			wantCancelled: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.provider.cancelled.Load()
			path := "/run/ns/web/app?cmd=" + url.QueryEscape("emit "+tc.stdout+" "+tc.stderr)
			code, body := s.do(t, s.client(&admin), "POST", path, "")
			if code != tc.wantCode || (tc.wantBody != "" && body != tc.wantBody) || (tc.wantLen != 0 && len(body) != tc.wantLen) {
				t.Errorf("got %d and %d bytes (%.40q), want %d and %d bytes (%q)", code, len(body), body, tc.wantCode, tc.wantLen, tc.wantBody)
			}
			if n := s.provider.cancelled.Load() - before; n != tc.wantCancelled {
				t.Errorf("%d commands ended by the run, want %d", n, tc.wantCancelled)
			}
		})
	}
}
