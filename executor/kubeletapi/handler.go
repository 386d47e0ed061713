package kubeletapi

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/k8sm/k8sm/internal/ttlcache"
)

// Config configures a Handler.
type Config struct {
	// NodeName is the Node the pods are on: the name authorization asks about.
	NodeName string
	Provider Provider
	// ClientCAs verify client certificates; nil accepts none (until SetClientCAs).
	ClientCAs *x509.CertPool
	// TokenReviewer reviews bearer tokens; nil accepts none.
	TokenReviewer TokenReviewer
	Authorizer    Authorizer
	Log           logr.Logger
	// ReviewTimeout bounds a token review or an authorization, answered 503 past it;
	// 0 means DefaultReviewTimeout.
	ReviewTimeout time.Duration
	// StreamIdleTimeout ends an idle exec, attach or port-forward; 0 means the kubelet's
	// 4 hours. StreamCreationTimeout bounds the wait for the client's streams; 0 means
	// the kubelet's 30 s.
	StreamIdleTimeout, StreamCreationTimeout time.Duration
	// Now is the caches' clock; nil means time.Now.
	Now func() time.Time
	// Peers, when not nil, are the other executors whose pods this Handler serves too.
	Peers Peers
}

// The kubelet's stream timeouts: idle, and waiting for the client's streams.
const (
	defaultStreamIdleTimeout     = 4 * time.Hour
	defaultStreamCreationTimeout = remotecommand.DefaultStreamCreationTimeout
)

// Handler serves the kubelet API. Close it to stop its in-process streaming endpoint.
type Handler struct {
	nodeName string
	provider Provider
	log      logr.Logger
	authn    *authenticator
	authz    *authorization
	streams  streamAdapter
	loop     *loopback
	peers    Peers
	// peer says that this is a peer handler (NewPeerHandler).
	peer bool

	idleTimeout, creationTimeout time.Duration
}

// NewHandler returns a Handler for cfg.
func NewHandler(cfg Config) (*Handler, error) {
	if cfg.Provider == nil || cfg.Authorizer == nil || cfg.NodeName == "" {
		return nil, errors.New("kubeletapi: a handler needs a Provider, an Authorizer and a NodeName")
	}
	if cfg.ReviewTimeout == 0 {
		cfg.ReviewTimeout = DefaultReviewTimeout
	}
	if cfg.StreamIdleTimeout == 0 {
		cfg.StreamIdleTimeout = defaultStreamIdleTimeout
	}
	if cfg.StreamCreationTimeout == 0 {
		cfg.StreamCreationTimeout = defaultStreamCreationTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{
		nodeName: cfg.NodeName,
		provider: cfg.Provider,
		log:      cfg.Log,
		authn: &authenticator{
			reviewer: cfg.TokenReviewer, tokens: ttlcache.New[tokenReview](maxCacheEntries),
			reviewing: make(chan struct{}, maxTokenReviews), rate: rate.NewLimiter(tokenReviewRate, tokenReviewBurst),
			timeout: cfg.ReviewTimeout, now: cfg.Now, log: cfg.Log,
		},
		authz: &authorization{
			authorizer: ttlcache.NewAuthorizer(cfg.Authorizer, allowedTTL, deniedTTL, cfg.ReviewTimeout, maxCacheEntries, cfg.Now),
			log:        cfg.Log,
		},
		streams:         streamAdapter{cfg.Provider},
		loop:            newLoopback(cfg.Log),
		peers:           cfg.Peers,
		idleTimeout:     cfg.StreamIdleTimeout,
		creationTimeout: cfg.StreamCreationTimeout,
	}
	h.authn.clientCAs.Store(cfg.ClientCAs)
	return h, nil
}

// SetClientCAs replaces the CAs that verify client certificates: the manager sends them,
// and sends them again when they change.
func (h *Handler) SetClientCAs(pool *x509.CertPool) { h.authn.clientCAs.Store(pool) }

// Close stops the in-process streaming endpoint.
func (h *Handler) Close() error { return h.loop.close() }

// ServeHTTP authenticates and authorizes every request, as the kubelet's filter does on
// its port (/healthz included), then serves it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.peer {
		h.servePeer(w, r)
		return
	}
	u, err := h.authn.authenticate(r)
	if err != nil {
		h.logAuthenticationError(err)
		if unavailable(err) {
			writeText(w, http.StatusServiceUnavailable, "Service Unavailable")
			return
		}
	}
	if u == nil {
		writeText(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	if !h.authz.authorize(w, r, u, h.nodeName) {
		return
	}
	h.route(w, r)
}

// logAuthenticationError logs why a request was not authenticated; a request turned
// away because too many token reviews are under way only at V(1), so that a flood of
// them does not flood the log too.
func (h *Handler) logAuthenticationError(err error) {
	if errors.Is(err, errTooManyReviews) {
		h.log.V(1).Info("Unable to authenticate the request: too many token reviews under way")
		return
	}
	h.log.Error(err, "Unable to authenticate the request due to an error")
}

// unavailable reports an error of a review that got no answer in time.
func unavailable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// route serves the kubelet's paths; the others are not found. A path naming a pod
// another executor runs is served by that executor (forward).
func (h *Handler) route(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/"), "/")
	for _, s := range segs[1:] {
		if s == "" {
			http.NotFound(w, r)
			return
		}
	}
	args := segs[1:]
	switch {
	case segs[0] == "healthz" && (len(args) == 0 || len(args) == 1 && healthChecks[args[0]]):
		writeText(w, http.StatusOK, "ok")
	case segs[0] == "pods" && len(args) == 0:
		h.pods(w, r)
	case segs[0] == "containerLogs" && len(args) == 3:
		if p := podArgs(args); !h.forward(w, r, p) {
			h.containerLogs(w, r, p.namespace, p.pod, p.container)
		}
	case (segs[0] == "exec" || segs[0] == "attach") && (len(args) == 3 || len(args) == 4):
		if p := podArgs(args); !h.forward(w, r, p) {
			h.remoteCommand(w, r, Verb(segs[0]), p)
		}
	case segs[0] == "run" && (len(args) == 3 || len(args) == 4):
		if p := podArgs(args); !h.forward(w, r, p) {
			h.run(w, r, p)
		}
	case segs[0] == "portForward" && (len(args) == 2 || len(args) == 3):
		if p := podArgs(append(args, "")); !h.forward(w, r, p) {
			h.portForward(w, r, p)
		}
	case segs[0] == "stats" && len(args) == 1 && args[0] == "summary":
		h.summary(w, r)
	case segs[0] == "metrics" && len(args) == 1 && args[0] == "resource":
		h.resourceMetrics(w, r)
	default:
		http.NotFound(w, r)
	}
}

// healthChecks are the kubelet's, each also served on /healthz/<name>.
var healthChecks = map[string]bool{"ping": true, "log": true, "syncloop": true}

// podPath is the pod and container a streaming path names:
// {namespace}/{pod}[/{uid}]/{container}.
type podPath struct {
	namespace, pod, container string
	uid                       types.UID
}

func podArgs(args []string) podPath {
	p := podPath{namespace: args[0], pod: args[1], container: args[len(args)-1]}
	if len(args) == 4 {
		p.uid = types.UID(args[2])
	}
	return p
}

// allowMethods answers 405 to a request of another method, as the kubelet's filters do.
func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeText(w, http.StatusMethodNotAllowed, "Method Not Allowed")
	return false
}

// pods answers /pods: the pods as a v1 PodList, as the kubelet encodes it.
func (h *Handler) pods(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet) {
		return
	}
	list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, Items: h.allPods(r.Context())}
	if list.Items == nil {
		list.Items = []corev1.Pod{}
	}
	writeJSON(w, h.log, list)
}

func writeJSON(w http.ResponseWriter, log logr.Logger, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, err, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(append(b, '\n')); err != nil {
		logError(log, err, "Cannot write a response")
	}
}

// findPod returns the pod named, and whether it has a container so named.
func (h *Handler) findPod(namespace, name, container string) (*corev1.Pod, bool) {
	pods := h.provider.Pods()
	for i := range pods {
		p := &pods[i]
		if p.Namespace != namespace || p.Name != name {
			continue
		}
		return p, hasContainer(p, container)
	}
	return nil, false
}

func hasContainer(p *corev1.Pod, name string) bool {
	for _, c := range p.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range p.Spec.EphemeralContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// streamPod finds the pod and container of a streaming request, or answers as the
// kubelet does when they are not there.
func (h *Handler) streamPod(w http.ResponseWriter, p podPath) bool {
	pod, found := h.findPod(p.namespace, p.pod, p.container)
	switch {
	case pod == nil:
		writeText(w, http.StatusNotFound, "pod does not exist")
	case p.uid != "" && pod.UID != p.uid:
		writeText(w, http.StatusNotFound, "pod not found")
	case !found && p.container != "":
		// The kubelet answers 500 here, its runtime not finding the container.
		writeText(w, http.StatusNotFound, fmt.Sprintf("container not found (%q)", p.container))
	default:
		return true
	}
	return false
}
