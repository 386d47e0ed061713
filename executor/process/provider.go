package process

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/executor/kubeletapi"
	"github.com/k8sm/k8sm/executor/podlogs"
)

// The process runtime serves the kubelet API for its pods: logs (logs.go), exec
// (exec.go), attach (attach.go), port-forward (portforward.go) and stats (stats.go).
var _ kubeletapi.Provider = (*Runtime)(nil)

// registry is what the runtime keeps of its pods for the kubelet API: the latest pod of
// each name, ended ones too (`kubectl logs` of a completed pod), until their sandbox is
// pruned (the executor removes it; their logs are gone then).
type registry struct {
	podsMu sync.Mutex
	pods   map[string]*pod

	// logMaxSize, when set, stands for podlogs' default (tests); wrapLog wraps the
	// writers of the containers' output (tests).
	logMaxSize int64
	wrapLog    func(io.Writer) io.Writer
}

func (r *registry) register(p *pod) {
	r.podsMu.Lock()
	defer r.podsMu.Unlock()
	if r.pods == nil {
		r.pods = map[string]*pod{}
	}
	r.pruneLocked()
	r.pods[p.name()] = p
}

// pruneLocked forgets the ended pods whose sandbox is gone.
func (r *registry) pruneLocked() {
	for k, p := range r.pods {
		p.mu.Lock()
		ended := p.final != nil
		p.mu.Unlock()
		if _, err := os.Stat(p.sandbox); ended && errors.Is(err, os.ErrNotExist) {
			delete(r.pods, k)
		}
	}
}

func (r *registry) lookup(namespace, name string) *pod {
	r.podsMu.Lock()
	defer r.podsMu.Unlock()
	return r.pods[namespace+"/"+name]
}

// Pods returns the runtime's pods with their current statuses, sorted by namespace and
// name.
func (r *Runtime) Pods() []corev1.Pod {
	r.podsMu.Lock()
	r.pruneLocked()
	pods := make([]*pod, 0, len(r.pods))
	for _, p := range r.pods {
		pods = append(pods, p)
	}
	r.podsMu.Unlock()
	out := make([]corev1.Pod, 0, len(pods))
	for _, p := range pods {
		cp := p.pod.DeepCopy()
		p.mu.Lock()
		if p.final != nil {
			cp.Status = *p.final.DeepCopy()
		} else {
			cp.Status = p.statusLocked()
		}
		p.mu.Unlock()
		out = append(out, *cp)
	}
	kubeletapi.SortPods(out)
	return out
}

// find returns the pod and its container named, or the kubelet's not-found error.
func (r *Runtime) find(namespace, name, ctr string) (*pod, *container, error) {
	p := r.lookup(namespace, name)
	if p == nil {
		return nil, nil, kubeletapi.Errorf(http.StatusNotFound, "pod %q does not exist", name)
	}
	for _, c := range append(append([]*container{}, p.inits...), p.mains...) {
		if c.spec.Name == ctr {
			return p, c, nil
		}
	}
	return p, nil, kubeletapi.Errorf(http.StatusNotFound, "container %q not found in pod %q", ctr, name)
}

// ContainerLogs reads a container's log (podlogs.Read): its current instance, or the
// one before with opts.Previous, as its restart count names them.
func (r *Runtime) ContainerLogs(ctx context.Context, namespace, name, container string, opts *corev1.PodLogOptions, w io.Writer) error {
	p, c, err := r.find(namespace, name, container)
	if err != nil {
		return err
	}
	p.mu.Lock()
	src := podlogs.Source{Dir: logDir(p.sandbox, container), Restart: int(c.status.RestartCount)}
	if cl := c.log; cl != nil && cl.restart == src.Restart {
		src.Ended = cl.ended
	}
	waiting := c.status.State.Waiting
	p.mu.Unlock()
	err = podlogs.Read(ctx, src, opts, w)
	if errors.Is(err, podlogs.ErrNotFound) {
		// As the kubelet words it.
		if opts != nil && opts.Previous {
			return kubeletapi.Errorf(http.StatusBadRequest, "previous terminated container %q in pod %q not found", container, name)
		}
		reason := "ContainerCreating"
		if waiting != nil {
			reason = waiting.Reason
		}
		return kubeletapi.Errorf(http.StatusBadRequest, "container %q in pod %q is waiting to start: %s", container, name, reason)
	}
	return err
}

// CheckStream refuses, before the connection is upgraded, exec into a container that
// is not running, and an attach the kubelet refuses (checkAttach).
func (r *Runtime) CheckStream(_ context.Context, req kubeletapi.StreamRequest) error {
	switch req.Verb {
	case kubeletapi.VerbAttach:
		return r.checkAttach(req)
	case kubeletapi.VerbPortForward:
		if r.lookup(req.Namespace, req.Pod) == nil {
			return kubeletapi.Errorf(http.StatusNotFound, "pod %q does not exist", req.Pod)
		}
		return nil
	}
	_, _, err := r.running(req.Namespace, req.Pod, req.Container)
	return err
}

// running returns a running container's launch and process, or why there is none.
func (r *Runtime) running(namespace, name, container string) (*pod, *launch, error) {
	p, c, err := r.find(namespace, name, container)
	if err != nil {
		return nil, nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.status.State.Running == nil || c.launch == nil {
		return nil, nil, kubeletapi.Errorf(http.StatusBadRequest, "container %q in pod %q is not running", container, name)
	}
	return p, c.launch, nil
}
