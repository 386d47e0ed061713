package kubeletapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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
	var stdout, stderr bytes.Buffer
	err := h.provider.Exec(r.Context(), p.namespace, p.pod, p.container, cmd, nil, nopCloser{&stdout}, nopCloser{&stderr}, false, nil)
	var exit utilexec.ExitError
	if errors.As(err, &exit) && exit.Exited() {
		err = fmt.Errorf("command '%s' exited with %d: %s", strings.Join(cmd, " "), exit.ExitStatus(), stderr.Bytes())
	}
	if err != nil {
		writeError(w, err, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(append(stdout.Bytes(), stderr.Bytes()...))
	logError(h.log, err, "Cannot write a response")
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

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
