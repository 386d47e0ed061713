package kubeletapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	utilproxy "k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apiserver/pkg/util/proxy"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/streaming/pkg/httpstream/wsstream"
	utilexec "k8s.io/utils/exec"
)

// remoteCommand answers /exec and /attach. The CRI streaming server code serves SPDY
// and the WebSocket protocols before v5 on the request itself; WebSocket v5 (with its
// stream close signal) is translated to SPDY by the kubelet's translator.
func (h *Handler) remoteCommand(w http.ResponseWriter, r *http.Request, verb Verb, p podPath) {
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		writeText(w, http.StatusBadRequest, err.Error())
		return
	}
	if !h.streamPod(w, p) {
		return
	}
	cmd := r.URL.Query()["command"]
	req := StreamRequest{
		Verb: verb, Namespace: p.namespace, Pod: p.pod, Container: p.container, Command: cmd,
		Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, TTY: opts.TTY,
	}
	if err := h.provider.CheckStream(r.Context(), req); err != nil {
		writeError(w, err, http.StatusInternalServerError)
		return
	}
	name, uid := streamName(p.namespace, p.pod), string(p.uid)
	serve := func(w http.ResponseWriter, r *http.Request) {
		protocols := remotecommand.SupportedStreamingProtocols
		if verb == VerbAttach {
			remotecommand.ServeAttach(w, r, h.streams, name, uid, p.container, opts, h.idleTimeout, h.creationTimeout, protocols)
			return
		}
		remotecommand.ServeExec(w, r, h.streams, name, uid, p.container, cmd, opts, h.idleTimeout, h.creationTimeout, protocols)
	}
	if wsstream.IsWebSocketRequestWithStreamCloseProtocol(r) {
		location, remove := h.loop.add(serve)
		defer remove()
		translator := proxy.NewStreamTranslatorHandler(location, h.loop.transport, 0, proxy.Options{
			Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, Tty: opts.TTY,
		})
		translator.ServeHTTP(w, r)
		return
	}
	serve(w, r)
}

// portForward answers /portForward. The CRI streaming server code serves SPDY and the
// WebSocket protocol; SPDY tunneled in WebSocket (kubectl's, since 1.30) is untunneled
// by the kubelet's tunneling handler.
func (h *Handler) portForward(w http.ResponseWriter, r *http.Request, p podPath) {
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	tunnel := wsstream.IsWebSocketRequestWithTunnelingProtocol(r)
	opts := &portforward.V4Options{}
	if !tunnel {
		var err error
		if opts, err = portforward.NewV4Options(r); err != nil {
			writeText(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	if !h.streamPod(w, p) {
		return
	}
	req := StreamRequest{Verb: VerbPortForward, Namespace: p.namespace, Pod: p.pod, Ports: opts.Ports}
	if err := h.provider.CheckStream(r.Context(), req); err != nil {
		writeError(w, err, http.StatusInternalServerError)
		return
	}
	serve := func(w http.ResponseWriter, r *http.Request) {
		portforward.ServePortForward(w, r, h.streams, streamName(p.namespace, p.pod), string(p.uid), opts,
			h.idleTimeout, h.creationTimeout, portforward.SupportedProtocols)
	}
	if tunnel {
		location, remove := h.loop.add(serve)
		defer remove()
		upstream := utilproxy.NewUpgradeAwareHandler(location, h.loop.transport, false, true, responder{h})
		proxy.NewTunnelingHandler(upstream).ServeHTTP(w, r)
		return
	}
	serve(w, r)
}

// responder answers the errors of the tunnel's upstream, as the kubelet's does.
type responder struct{ h *Handler }

func (r responder) Error(w http.ResponseWriter, _ *http.Request, err error) {
	r.h.log.Error(err, "Error while proxying request")
	writeText(w, http.StatusInternalServerError, err.Error())
}

// run answers /run: the command's output, stdout then stderr, as the kubelet's
// RunInContainer does.
func (h *Handler) run(w http.ResponseWriter, r *http.Request, p podPath) {
	if !allowMethods(w, r, http.MethodPost) {
		return
	}
	if !h.streamPod(w, p) {
		return
	}
	// For legacy reasons, run uses another query parameter than exec.
	cmd := strings.Split(r.URL.Query().Get("cmd"), " ")
	req := StreamRequest{Verb: VerbRun, Namespace: p.namespace, Pod: p.pod, Container: p.container, Command: cmd, Stdout: true, Stderr: true}
	if err := h.provider.CheckStream(r.Context(), req); err != nil {
		writeError(w, err, http.StatusInternalServerError)
		return
	}
	out, err := h.runCommand(r.Context(), p, cmd)
	if err != nil {
		writeError(w, err, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(out)
	logError(h.log, err, "Cannot write a response")
}

// maxRunOutput bounds /run's output, stdout and stderr together: the kubelet's
// RunInContainer gets it in one CRI ExecSync answer, a gRPC message of at most 16 MiB.
const maxRunOutput = 16 << 20

// runCommand runs cmd in the container and returns its output, stdout then stderr. A
// command whose output is over maxRunOutput is ended, and fails (where the kubelet's
// fails with gRPC's ResourceExhausted).
func (h *Handler) runCommand(ctx context.Context, p podPath, cmd []string) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := &runOutput{max: maxRunOutput, over: cancel}
	err := h.provider.Exec(ctx, p.namespace, p.pod, p.container, cmd, nil, out.stream(&out.stdout), out.stream(&out.stderr), false, nil)
	stdout, stderr, exceeded := out.result()
	if exceeded {
		return nil, fmt.Errorf("command '%s' was ended: its output is over %d bytes, the most a run returns", strings.Join(cmd, " "), maxRunOutput)
	}
	var exit utilexec.ExitError
	if errors.As(err, &exit) && exit.Exited() {
		return nil, fmt.Errorf("command '%s' exited with %d: %s", strings.Join(cmd, " "), exit.ExitStatus(), stderr)
	}
	if err != nil {
		return nil, err
	}
	return append(stdout, stderr...), nil
}

// runOutput keeps a run's stdout and stderr, max bytes together. A write past that keeps
// nothing, fails, and calls over (once).
type runOutput struct {
	mu             sync.Mutex
	stdout, stderr bytes.Buffer
	max            int
	exceeded       bool
	over           func()
}

// stream is a writer into b, one of o's buffers.
func (o *runOutput) stream(b *bytes.Buffer) io.WriteCloser { return runStream{o, b} }

// result returns what was kept, and whether the output went over max.
func (o *runOutput) result() (stdout, stderr []byte, exceeded bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stdout.Bytes(), o.stderr.Bytes(), o.exceeded
}

type runStream struct {
	o *runOutput
	b *bytes.Buffer
}

func (s runStream) Write(p []byte) (int, error) {
	o := s.o
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.exceeded || o.stdout.Len()+o.stderr.Len()+len(p) > o.max {
		if !o.exceeded {
			o.exceeded = true
			o.over()
		}
		return 0, errRunOutputTooLarge
	}
	return s.b.Write(p)
}

func (runStream) Close() error { return nil }

var errRunOutputTooLarge = errors.New("the output of the command is too large")

// streamName is the pod name the streaming code passes back to streamAdapter.
func streamName(namespace, pod string) string { return namespace + "/" + pod }

func splitStreamName(name string) (namespace, pod string) {
	namespace, pod, _ = strings.Cut(name, "/")
	return namespace, pod
}

// streamAdapter is the streaming code's executor, attacher and port forwarder: the
// Provider's methods.
type streamAdapter struct{ p Provider }

var (
	_ remotecommand.Executor    = streamAdapter{}
	_ remotecommand.Attacher    = streamAdapter{}
	_ portforward.PortForwarder = streamAdapter{}
)

func (a streamAdapter) ExecInContainer(ctx context.Context, name, _, container string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, _ time.Duration) error {
	ns, pod := splitStreamName(name)
	return a.p.Exec(ctx, ns, pod, container, cmd, in, out, errw, tty, resize)
}

func (a streamAdapter) AttachContainer(ctx context.Context, name, _, container string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	ns, pod := splitStreamName(name)
	return a.p.Attach(ctx, ns, pod, container, in, out, errw, tty, resize)
}

func (a streamAdapter) PortForward(ctx context.Context, name, _ string, port int32, stream io.ReadWriteCloser) error {
	ns, pod := splitStreamName(name)
	return a.p.PortForward(ctx, ns, pod, port, stream)
}
