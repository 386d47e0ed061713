package kubeletapi

import (
	"context"
	"net/http"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Peers are the other executors of the Node's cluster on its agent: after a change of
// the executor (spec.executor), the old one runs out its pods beside the new, and only
// one of them can hold the kubelet API's port. The holder's Handler serves the others'
// pods too, through their peer handlers (NewPeerHandler), having authenticated and
// authorized the request itself: every executor of an agent serves the same Node.
type Peers interface {
	// Pods returns the pods the other executors run.
	Pods(ctx context.Context) []corev1.Pod
	// Stats returns the usage of the pods the other executors run.
	Stats(ctx context.Context) []PodStats
	// Serving returns the handler of the executor that runs the pod namespace/name
	// (with uid when not empty), nil when none does.
	Serving(ctx context.Context, namespace, name string, uid types.UID) http.Handler
}

// PeerStatsPath is the path of a peer handler's pod usage: a JSON array of PodStats.
const PeerStatsPath = "/k8sm/peer/stats"

// NewPeerHandler returns the handler through which the executor that holds the kubelet
// API's port serves the pods of p: the kubelet's paths for p's pods alone, with neither
// authentication nor authorization (the holder did both), and PeerStatsPath. It must
// be reachable by that executor only. Close it when done.
func NewPeerHandler(p Provider, log logr.Logger) *Handler {
	return &Handler{nodeName: "peer", provider: p, log: log, peer: true, streams: streamAdapter{p},
		loop: newLoopback(log), idleTimeout: defaultStreamIdleTimeout, creationTimeout: defaultStreamCreationTimeout}
}

// servePeer serves a request of the holder.
func (h *Handler) servePeer(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != PeerStatsPath {
		h.route(w, r)
		return
	}
	if !allowMethods(w, r, http.MethodGet) {
		return
	}
	st, err := h.provider.Stats(r.Context())
	if err != nil {
		writeError(w, err, http.StatusInternalServerError)
		return
	}
	if st.Pods == nil {
		st.Pods = []PodStats{}
	}
	writeJSON(w, h.log, st.Pods)
}

// forward serves a request for the pod p through the peer that runs it, when this
// executor does not run it (or only ended, and the peer's has not): it reports whether
// it did.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, p podPath) bool {
	if h.peers == nil {
		return false
	}
	if own := h.ownPod(p.namespace, p.pod, p.uid); own != nil && !PodEnded(own) {
		return false
	}
	to := h.peers.Serving(r.Context(), p.namespace, p.pod, p.uid)
	if to == nil {
		return false
	}
	to.ServeHTTP(w, r)
	return true
}

// ownPod is this executor's pod namespace/name (of uid, when not empty), nil if none.
func (h *Handler) ownPod(namespace, name string, uid types.UID) *corev1.Pod {
	pods := h.provider.Pods()
	for i := range pods {
		p := &pods[i]
		if p.Namespace == namespace && p.Name == name && (uid == "" || p.UID == uid) {
			return p
		}
	}
	return nil
}

// PodEnded reports a pod that has ended: another executor may run it anew, and the
// copy that has not ended is the one served.
func PodEnded(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// allPods are the pods /pods lists: this executor's and its peers'.
func (h *Handler) allPods(ctx context.Context) []corev1.Pod {
	pods := h.provider.Pods()
	if h.peers != nil {
		pods = append(pods, h.peers.Pods(ctx)...)
	}
	return pods
}

// stats is the usage /stats/summary and /metrics/resource report: the Node's and this
// executor's pods', and its peers' pods'.
func (h *Handler) stats(ctx context.Context) (Stats, error) {
	st, err := h.provider.Stats(ctx)
	if err != nil || h.peers == nil {
		return st, err
	}
	st.Pods = append(st.Pods, h.peers.Stats(ctx)...)
	return st, nil
}
