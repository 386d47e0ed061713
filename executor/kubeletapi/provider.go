package kubeletapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// Provider is what a runtime gives the kubelet API: its pods, their logs, streams and
// resource usage. Pods and containers are named as the API server names them.
//
// Errors: a *StatusError (see Errorf) or a Kubernetes API status error becomes its HTTP
// status; any other error is answered as the kubelet answers it for that path.
type Provider interface {
	// Pods returns the pods the runtime runs, as /pods lists them.
	Pods() []corev1.Pod
	// ContainerLogs writes a container's log to w with opts, which the handler has
	// validated as the kubelet does (with Stream set). Following, it returns when ctx
	// ends or the container instance does. See podlogs.Read.
	ContainerLogs(ctx context.Context, namespace, pod, container string, opts *corev1.PodLogOptions, w io.Writer) error
	// CheckStream says, before the connection is upgraded, whether the runtime can serve
	// req: a refusal is then an HTTP status, not a message on the stream.
	CheckStream(ctx context.Context, req StreamRequest) error
	// Exec runs cmd in a container, copying stdin/stdout/stderr (nil when not
	// requested). A command that exits non-zero returns a k8s.io/utils/exec.ExitError
	// (such as exec.CodeExitError) so that the client gets its exit code; another error
	// reaches the client as an internal error on the stream, the connection being
	// upgraded by then. resize carries the terminal's sizes with tty; a WebSocket
	// client's is not nil without tty either, and never sends.
	Exec(ctx context.Context, namespace, pod, container string, cmd []string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error
	// Attach attaches to a container's streams.
	Attach(ctx context.Context, namespace, pod, container string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error
	// PortForward copies stream to and from port of the pod, until either ends. ctx is
	// not cancelled by the client going away (as in the kubelet): stream ends then.
	PortForward(ctx context.Context, namespace, pod string, port int32, stream io.ReadWriteCloser) error
	// Stats returns the resource usage of the Node and its pods.
	Stats(ctx context.Context) (Stats, error)
}

// SortPods sorts pods by namespace and name, the order in which a Provider lists them.
func SortPods(pods []corev1.Pod) {
	slices.SortFunc(pods, func(a, b corev1.Pod) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
}

// Verb is a streaming request's kind.
type Verb string

// The streaming verbs.
const (
	VerbExec        Verb = "exec"
	VerbAttach      Verb = "attach"
	VerbPortForward Verb = "portforward"
	VerbRun         Verb = "run"
)

// StreamRequest is a streaming request, as CheckStream is asked about it.
type StreamRequest struct {
	Verb      Verb
	Namespace string
	Pod       string
	// Container is empty for VerbPortForward.
	Container string
	// Command is the command of VerbExec and VerbRun.
	Command []string
	// Ports are the ports of VerbPortForward when the protocol gives them upfront (the
	// legacy WebSocket one); with SPDY each connection names its port.
	Ports                 []int32
	Stdin, Stdout, Stderr bool
	TTY                   bool
}

// Stats is the resource usage a Provider reports. A zero Usage.Time means not known.
type Stats struct {
	Node NodeStats
	Pods []PodStats
}

// NodeStats is the usage of the whole Node (the agent), all processes included, as the
// kubelet reports the root cgroup.
type NodeStats struct {
	StartTime time.Time
	Usage
}

// PodStats is the usage of a pod and of its containers.
type PodStats struct {
	Namespace, Name, UID string
	StartTime            time.Time
	Usage
	Containers []ContainerStats
}

// ContainerStats is the usage of a container's current instance.
type ContainerStats struct {
	Name      string
	StartTime time.Time
	Usage
}

// Usage is a sample of CPU and memory.
type Usage struct {
	// Time is when the sample was taken.
	Time time.Time
	// CPUUsageNanoSeconds is the CPU time used since the start, in core-nanoseconds.
	CPUUsageNanoSeconds uint64
	// MemoryWorkingSetBytes is the memory in use that cannot be evicted, as the kubelet
	// computes it from the cgroup (usage minus inactive file pages).
	MemoryWorkingSetBytes uint64
}

// StatusError is an error with the HTTP status the kubelet answers it with.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string { return e.Message }

// Errorf returns a *StatusError: for example Errorf(http.StatusBadRequest, "the process
// runtime cannot attach to a container without stdin").
func Errorf(code int, format string, args ...any) error {
	return &StatusError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// statusOf returns the HTTP status of err, def if it does not say.
func statusOf(err error, def int) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	var as apierrors.APIStatus
	if errors.As(err, &as) && as.Status().Code != 0 {
		return int(as.Status().Code)
	}
	return def
}

// writeError answers err as text, with its status or def, as the kubelet's handlers do.
func writeError(w http.ResponseWriter, err error, def int) {
	writeText(w, statusOf(err, def), err.Error())
}

// writeText answers a status with a plain text body, written as given.
func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

// logError logs a handler's failure that its client cannot be told about.
func logError(log logr.Logger, err error, msg string, kv ...any) {
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error(err, msg, kv...)
	}
}
