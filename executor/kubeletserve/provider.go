package kubeletserve

import (
	"context"
	"io"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/k8sm/k8sm/executor/kubeletapi"
)

// provider is the runtime, when it is a kubeletapi.Provider; otherwise the executor's
// pods, with nothing more.
func (s *Server) provider() kubeletapi.Provider {
	if p, ok := s.Runtime.(kubeletapi.Provider); ok {
		return p
	}
	return podsOnly{pods: s.Executor.Pods}
}

// podsOnly serves /pods from the executor's own record of its pods, and answers every
// other path 501: the runtime cannot read its containers' logs, run commands in them,
// reach their ports or measure them.
type podsOnly struct {
	pods func() []corev1.Pod
}

var _ kubeletapi.Provider = podsOnly{}

func notSupported(what string) error {
	return kubeletapi.Errorf(http.StatusNotImplemented, "%s is not supported by this runtime", what)
}

func (p podsOnly) Pods() []corev1.Pod { return p.pods() }

func (podsOnly) ContainerLogs(context.Context, string, string, string, *corev1.PodLogOptions, io.Writer) error {
	return notSupported("reading container logs")
}

func (podsOnly) CheckStream(_ context.Context, req kubeletapi.StreamRequest) error {
	return notSupported(string(req.Verb))
}

func (podsOnly) Exec(context.Context, string, string, string, []string, io.Reader, io.WriteCloser, io.WriteCloser, bool, <-chan remotecommand.TerminalSize) error {
	return notSupported("exec")
}

func (podsOnly) Attach(context.Context, string, string, string, io.Reader, io.WriteCloser, io.WriteCloser, bool, <-chan remotecommand.TerminalSize) error {
	return notSupported("attach")
}

func (podsOnly) PortForward(context.Context, string, string, int32, io.ReadWriteCloser) error {
	return notSupported("port-forward")
}

func (podsOnly) Stats(context.Context) (kubeletapi.Stats, error) {
	return kubeletapi.Stats{}, notSupported("resource usage")
}
