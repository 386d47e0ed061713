package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	clientrc "k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	clientexec "k8s.io/client-go/util/exec"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	streamspdy "k8s.io/streaming/pkg/httpstream/spdy"
	utilexec "k8s.io/utils/exec"

	"github.com/k8sm/k8sm/executor"
	"github.com/k8sm/k8sm/executor/kubeletapi"
	"github.com/k8sm/k8sm/executor/podlogs"
)

// The kubelet runtime serves the kubelet API for its pods by asking the agent's kubelet,
// which runs them as static pods: the API server's pod namespace/name becomes the
// static pod the kubelet shows for it (found by AnnotationPodUID and the task, since
// the kubelet names a static pod <name>-<its node name> and gives it a UID of its own),
// and back.
var _ kubeletapi.Provider = (*Runtime)(nil)

// registry is what the runtime keeps of its pods for the kubelet API: the latest pod of
// each name, as the API server names it, with the status last reported; ended ones
// too, until the executor prunes their sandbox, as the process runtime keeps its own.
type registry struct {
	mu   sync.Mutex
	pods map[string]*record
}

// record is one pod started.
type record struct {
	pod     *corev1.Pod // as the API server knows it, with its task's annotation
	sandbox string

	mu     sync.Mutex
	status corev1.PodStatus
	ended  bool
}

// register records a pod being started. Its sandbox directory is made: the executor
// removes an ended pod's sandbox once it no longer keeps the pod (executor/prune.go),
// and the pod is listed until then. The runtime puts nothing in it but the logs of the
// pod once it ended (savedlogs.go), which the executor alone reads: it is made as
// podlogs makes log directories, the executor's user's alone.
func (g *registry) register(pod *corev1.Pod, sandbox string, log logr.Logger) *record {
	if sandbox != "" {
		if err := podlogs.MakeDir(sandbox); err != nil {
			log.Info("Could not make the pod's sandbox directory; the pod is forgotten once it ends", "sandbox", sandbox, "error", err.Error())
		}
	}
	rec := &record{pod: pod.DeepCopy(), sandbox: sandbox, status: corev1.PodStatus{Phase: corev1.PodPending}}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pods == nil {
		g.pods = map[string]*record{}
	}
	g.pruneLocked()
	g.pods[pod.Namespace+"/"+pod.Name] = rec
	return rec
}

// update takes a report of the pod's follower.
func (rec *record) update(rep executor.Report) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.status = *rep.Status.DeepCopy()
	if rep.Killed || rep.Status.Phase == corev1.PodSucceeded || rep.Status.Phase == corev1.PodFailed {
		rec.ended = true
	}
}

func (rec *record) isEnded() bool {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.ended
}

func (rec *record) task() string { return rec.pod.Annotations[AnnotationTaskID] }

// pruneLocked forgets the ended pods whose sandbox is gone.
func (g *registry) pruneLocked() {
	for k, rec := range g.pods {
		if !rec.isEnded() {
			continue
		}
		if _, err := os.Stat(rec.sandbox); rec.sandbox == "" || errors.Is(err, os.ErrNotExist) {
			delete(g.pods, k)
		}
	}
}

func (g *registry) lookup(namespace, name string) *record {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pods[namespace+"/"+name]
}

// all returns the records, the ended pods whose sandbox is gone forgotten.
func (g *registry) all() []*record {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pruneLocked()
	out := make([]*record, 0, len(g.pods))
	for _, rec := range g.pods {
		out = append(out, rec)
	}
	return out
}

// Pods returns the pods started, as the API server names them, each with the status
// last reported (the kubelet's), sorted by namespace and name.
func (r *Runtime) Pods() []corev1.Pod {
	recs := r.pods.all()
	out := make([]corev1.Pod, 0, len(recs))
	for _, rec := range recs {
		p := rec.pod.DeepCopy()
		rec.mu.Lock()
		p.Status = *rec.status.DeepCopy()
		rec.mu.Unlock()
		out = append(out, *p)
	}
	kubeletapi.SortPods(out)
	return out
}

// static returns the kubelet's static pod for the pod namespace/name, or the kubelet's
// not-found error.
func (r *Runtime) static(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	rec := r.pods.lookup(namespace, name)
	if rec == nil {
		return nil, kubeletapi.Errorf(http.StatusNotFound, "pod %q does not exist", name)
	}
	kp, err := r.findContext(ctx, string(rec.pod.UID), rec.task())
	switch {
	case err != nil:
		return nil, fmt.Errorf("cannot ask the kubelet at %s for its pods: %w", r.URL, err)
	case kp != nil:
		return kp, nil
	case rec.isEnded():
		return nil, kubeletapi.Errorf(http.StatusNotFound, "pod %q has ended: the kubelet removed it, and its containers with their logs, and no log of it was kept", name)
	}
	return nil, kubeletapi.Errorf(http.StatusNotFound, "pod %q is not in the kubelet yet", name)
}

// ContainerLogs copies the kubelet's log of the container, asked with the same
// options. The kubelet's refusals (4xx) keep their status, the static pod's name in
// them replaced with the pod's.
func (r *Runtime) ContainerLogs(ctx context.Context, namespace, name, container string, opts *corev1.PodLogOptions, w io.Writer) error {
	kp, err := r.static(ctx, namespace, name)
	if err != nil {
		if rec := r.pods.lookup(namespace, name); rec != nil && rec.isEnded() {
			if found, serr := rec.savedLogs(ctx, container, opts, w); found {
				return serr
			}
		}
		return err
	}
	req, err := r.newRequest(ctx, podPath("/containerLogs", kp, container), logQuery(opts))
	if err != nil {
		return err
	}
	// No timeout but ctx's: a followed log lasts as long as its client, and a long one
	// takes long to copy.
	c := *r.httpClient()
	c.Timeout = 0
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return answerError(resp, kp.Name, name)
	}
	_, err = io.Copy(w, resp.Body)
	if ctx.Err() != nil {
		return nil // the client went, or stopped following
	}
	return err
}

// logQuery is the query the kubelet reads opts from (the v1 PodLogOptions' parameters).
func logQuery(opts *corev1.PodLogOptions) url.Values {
	q := url.Values{}
	if opts == nil {
		return q
	}
	flag := func(name string, v bool) {
		if v {
			q.Set(name, "true")
		}
	}
	number := func(name string, v *int64) {
		if v != nil {
			q.Set(name, strconv.FormatInt(*v, 10))
		}
	}
	flag("follow", opts.Follow)
	flag("previous", opts.Previous)
	flag("timestamps", opts.Timestamps)
	number("sinceSeconds", opts.SinceSeconds)
	number("tailLines", opts.TailLines)
	number("limitBytes", opts.LimitBytes)
	if opts.SinceTime != nil {
		if s, err := opts.SinceTime.MarshalQueryParameter(); err == nil {
			q.Set("sinceTime", s)
		}
	}
	if opts.Stream != nil {
		q.Set("stream", *opts.Stream)
	}
	return q
}

// answerError is the error of the kubelet's answer resp: a 4xx with its status,
// anything else as a failure; the static pod's name in its message replaced with the
// pod's, which is the name its client knows.
func answerError(resp *http.Response, static, name string) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	msg := strings.ReplaceAll(strings.TrimSpace(string(b)), static, name)
	if resp.StatusCode >= 400 && resp.StatusCode < 500 {
		return kubeletapi.Errorf(resp.StatusCode, "%s", msg)
	}
	return fmt.Errorf("the kubelet answered %s: %s", resp.Status, msg)
}

// CheckStream refuses what the kubelet would: a pod it does not run (404), a container
// that is not running (exec: 400, as the process runtime answers it; attach: the
// kubelet's 500, as it finds only running containers), an attach asking stderr of a
// container with a terminal (the CRI streaming server's refusal, a 500).
func (r *Runtime) CheckStream(ctx context.Context, req kubeletapi.StreamRequest) error {
	kp, err := r.static(ctx, req.Namespace, req.Pod)
	if err != nil || req.Verb == kubeletapi.VerbPortForward {
		return err
	}
	spec, status := containerOf(kp, req.Container)
	switch {
	case spec == nil:
		return kubeletapi.Errorf(http.StatusNotFound, "container not found (%q)", req.Container)
	case status == nil || status.State.Running == nil:
		if req.Verb == kubeletapi.VerbAttach {
			return kubeletapi.Errorf(http.StatusInternalServerError, "container %s not found in pod %s_%s", req.Container, req.Pod, req.Namespace)
		}
		return kubeletapi.Errorf(http.StatusBadRequest, "container %q in pod %q is not running", req.Container, req.Pod)
	case req.Verb == kubeletapi.VerbAttach && spec.TTY && req.Stderr:
		return kubeletapi.Errorf(http.StatusInternalServerError, "tty and stderr cannot both be true")
	}
	return nil
}

// containerOf returns the spec and the status of a container of the kubelet's pod.
func containerOf(kp *corev1.Pod, name string) (*corev1.Container, *corev1.ContainerStatus) {
	var spec *corev1.Container
	for _, cs := range [][]corev1.Container{kp.Spec.InitContainers, kp.Spec.Containers} {
		for i := range cs {
			if cs[i].Name == name {
				spec = &cs[i]
			}
		}
	}
	for _, ss := range [][]corev1.ContainerStatus{kp.Status.InitContainerStatuses, kp.Status.ContainerStatuses} {
		for i := range ss {
			if ss[i].Name == name {
				return spec, &ss[i]
			}
		}
	}
	return spec, nil
}

// Exec runs cmd through the kubelet's /exec. A non-zero exit comes back as a
// utilexec.CodeExitError with the kubelet's code.
func (r *Runtime) Exec(ctx context.Context, namespace, name, container string, cmd []string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	kp, err := r.static(ctx, namespace, name)
	if err != nil {
		return err
	}
	if len(cmd) == 0 {
		return kubeletapi.Errorf(http.StatusBadRequest, "no command to run")
	}
	q := url.Values{corev1.ExecCommandParam: cmd}
	return r.remoteCommand(ctx, fmt.Sprintf("command '%s'", strings.Join(cmd, " ")), podPath("/exec", kp, container), q, stdin, stdout, stderr, tty, resize)
}

// Attach attaches through the kubelet's /attach. The terminal is the container's
// (spec.tty), whatever the client asked, as the kubelet attaches with it.
func (r *Runtime) Attach(ctx context.Context, namespace, name, container string, stdin io.Reader, stdout, stderr io.WriteCloser, _ bool, resize <-chan remotecommand.TerminalSize) error {
	kp, err := r.static(ctx, namespace, name)
	if err != nil {
		return err
	}
	spec, _ := containerOf(kp, container)
	if spec == nil {
		return kubeletapi.Errorf(http.StatusNotFound, "container not found (%q)", container)
	}
	return r.remoteCommand(ctx, "the container", podPath("/attach", kp, container), url.Values{}, stdin, stdout, stderr, spec.TTY, resize)
}

// remoteCommand streams an exec or attach of the kubelet's over SPDY, which every
// kubelet speaks; what is the process, as an exit error names it.
func (r *Runtime) remoteCommand(ctx context.Context, what, path string, q url.Values, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	opts := clientrc.StreamOptions{Tty: tty}
	if stdin != nil {
		opts.Stdin = stdin
		q.Set(corev1.ExecStdinParam, "1")
	}
	if stdout != nil {
		opts.Stdout = stdout
		q.Set(corev1.ExecStdoutParam, "1")
	}
	// A terminal has one output: the kubelet would drop stderr, and expect no stream.
	if stderr != nil && !tty {
		opts.Stderr = stderr
		q.Set(corev1.ExecStderrParam, "1")
	}
	if tty {
		q.Set(corev1.ExecTTYParam, "1")
	}
	// Ended with the stream: the resize queue waits on it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if tty && resize != nil {
		opts.TerminalSizeQueue = sizeQueue{ctx: ctx, c: resize}
	}
	transport, upgrader, err := r.spdyTransport()
	if err != nil {
		return err
	}
	u, err := r.kubeletURL(path, q)
	if err != nil {
		return err
	}
	ex, err := clientrc.NewSPDYExecutorForTransports(transport, upgrader, http.MethodPost, u)
	if err != nil {
		return err
	}
	err = ex.StreamWithContext(ctx, opts)
	var exit clientexec.ExitError
	if errors.As(err, &exit) && exit.Exited() {
		// Only the code comes through the stream, not the kubelet's message.
		return utilexec.CodeExitError{Err: fmt.Errorf("%s exited with %d", what, exit.ExitStatus()), Code: exit.ExitStatus()}
	}
	return err
}

// sizeQueue passes the terminal's sizes on until the stream ends.
type sizeQueue struct {
	ctx context.Context
	c   <-chan remotecommand.TerminalSize
}

func (q sizeQueue) Next() *clientrc.TerminalSize {
	select {
	case s, ok := <-q.c:
		if !ok {
			return nil
		}
		return &clientrc.TerminalSize{Width: s.Width, Height: s.Height}
	case <-q.ctx.Done():
		return nil
	}
}

// PortForward copies stream to and from port of the pod through the kubelet's
// /portForward: one SPDY connection, with its error and data streams for the port. It
// returns once both directions are done, with the kubelet's error, if any.
func (r *Runtime) PortForward(ctx context.Context, namespace, name string, port int32, stream io.ReadWriteCloser) error {
	defer func() { _ = stream.Close() }()
	if port <= 0 || port > 65535 {
		return kubeletapi.Errorf(http.StatusBadRequest, "invalid port %d", port)
	}
	kp, err := r.static(ctx, namespace, name)
	if err != nil {
		return err
	}
	transport, upgrader, err := r.spdyTransport()
	if err != nil {
		return err
	}
	u, err := r.kubeletURL(podPath("/portForward", kp, ""), nil)
	if err != nil {
		return err
	}
	dialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	conn, protocol, err := dialer.Dial(portforward.ProtocolV1Name)
	if err != nil {
		return fmt.Errorf("cannot reach the kubelet's port forwarding: %w", err)
	}
	defer func() { _ = conn.Close() }()
	if protocol != portforward.ProtocolV1Name {
		return fmt.Errorf("the kubelet's port forwarding speaks %q, not %q", protocol, portforward.ProtocolV1Name)
	}
	headers := http.Header{}
	headers.Set(corev1.StreamType, corev1.StreamTypeError)
	headers.Set(corev1.PortHeader, strconv.Itoa(int(port)))
	headers.Set(corev1.PortForwardRequestIDHeader, "0")
	errStream, err := conn.CreateStream(headers)
	if err != nil {
		return err
	}
	_ = errStream.Close() // nothing to say to the kubelet
	errMsg := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(errStream)
		errMsg <- b
	}()
	headers.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := conn.CreateStream(headers)
	if err != nil {
		// A forwarding that fails at once can reset the data stream before the
		// kubelet answers it; the reason comes on the error stream.
		select {
		case msg := <-errMsg:
			if len(msg) > 0 {
				return forwardError(msg, kp.Name, name)
			}
		case <-time.After(forwardReasonWait):
		case <-ctx.Done():
		}
		return err
	}
	remoteDone := make(chan struct{})
	go func() {
		defer close(remoteDone)
		_, _ = io.Copy(stream, data)
		_ = stream.Close()
	}()
	_, _ = io.Copy(data, stream)
	// The client is done sending: a half-close, the port's answer still coming.
	_ = data.Close()
	<-remoteDone
	// Unsent data discarded, so that the kubelet can end the error stream.
	_ = data.Reset()
	if msg := <-errMsg; len(msg) > 0 {
		return forwardError(msg, kp.Name, name)
	}
	return nil
}

// forwardReasonWait bounds the wait for the kubelet's reason once a port
// forwarding's data stream was refused.
const forwardReasonWait = 5 * time.Second

// forwardError is the kubelet's port-forwarding error msg, naming the pod by the
// client's name for it rather than the static pod's.
func forwardError(msg []byte, static, name string) error {
	return errors.New(strings.ReplaceAll(string(msg), static, name))
}

// podPath is a path of the kubelet's for its pod kp: {verb}/{namespace}/{name}/{uid}
// [/{container}]. The UID holds the request to the static pod found: a static pod
// replaced meanwhile (a new task of the pod) is not found.
func podPath(verb string, kp *corev1.Pod, container string) string {
	p := verb + "/" + url.PathEscape(kp.Namespace) + "/" + url.PathEscape(kp.Name)
	if verb == "/containerLogs" {
		// The kubelet has no containerLogs path with a UID.
		return p + "/" + url.PathEscape(container)
	}
	p += "/" + url.PathEscape(string(kp.UID))
	if container != "" {
		p += "/" + url.PathEscape(container)
	}
	return p
}

// kubeletURL is the kubelet's URL for path and query.
func (r *Runtime) kubeletURL(path string, q url.Values) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSuffix(r.URL, "/") + path)
	if err != nil {
		return nil, err
	}
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return u, nil
}

// newRequest is a GET of the kubelet's path; httpClient adds the runtime's token.
func (r *Runtime) newRequest(ctx context.Context, path string, q url.Values) (*http.Request, error) {
	u, err := r.kubeletURL(path, q)
	if err != nil {
		return nil, err
	}
	return http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
}

// spdyTransport returns the round tripper and the upgrader of a SPDY connection to the
// kubelet, with the TLS settings and proxy of the runtime's client, and its token.
func (r *Runtime) spdyTransport() (http.RoundTripper, spdy.Upgrader, error) {
	cfg := streamspdy.RoundTripperConfig{Proxier: http.ProxyFromEnvironment, PingPeriod: 5 * time.Second}
	t := r.baseClient().Transport
	if t == nil {
		t = http.DefaultTransport
	}
	if ht, ok := t.(*http.Transport); ok {
		if ht.TLSClientConfig != nil {
			cfg.TLS = ht.TLSClientConfig.Clone()
			// The upgrade is HTTP/1.1's.
			cfg.TLS.NextProtos = nil
		}
		cfg.Proxier = ht.Proxy
		if cfg.Proxier == nil {
			cfg.Proxier = func(*http.Request) (*url.URL, error) { return nil, nil }
		}
	}
	rt, err := streamspdy.NewRoundTripperWithConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	return r.authorize(rt), spdy.NewUpgraderForStreaming(rt), nil
}
