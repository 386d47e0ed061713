// Package kubeletserve makes an executor serve the kubelet API (executor/kubeletapi) for
// its agent's Node. The executor asks the manager for its configuration with a Hello
// (internal/agentmsg) after each subscription to its agent, every HelloEvery, and at
// once when the port it serves on (or finds taken) changes, for the manager advertises
// the port on the Node only while an executor serves it; the manager answers with a
// Config (the Node's name, the port, the client CA bundle), and sends it again when the
// MesosCluster changes it. With a port, the executor serves on it, over TLS,
// authenticating and authorizing each request by asking the manager
// (executor/agentauth). Its certificate is self-signed (cert.go) unless the Config asks
// for one of the cluster's kubelet-serving signer, which the executor then requests
// through the manager (csr.go).
package kubeletserve

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/executor/agentauth"
	"github.com/k8sm/k8sm/internal/agentmsg"
)

const (
	// HelloEvery is how often a configured executor says Hello: the manager learns of
	// executors it has not heard from (after its own restart, say), and an executor of a
	// Config it missed (framework messages are not stored).
	HelloEvery = 2 * time.Minute
	// DefaultRetry is how often an executor without a Config says Hello, and how often
	// it tries again to bind a port that is taken.
	DefaultRetry = 10 * time.Second
	// helloTimeout bounds the sending of a Hello.
	helloTimeout = 10 * time.Second
)

// Executor is what the server needs of the executor (an *executor.Executor).
type Executor interface {
	SendMessage(ctx context.Context, data []byte) error
	Pods() []corev1.Pod
}

// Server serves the kubelet API for one executor. Set it as the executor's
// MessageHandler, and Run it beside the executor.
type Server struct {
	Executor Executor
	// Runtime is the executor's runtime: it serves the pods' logs, streams and stats
	// when it is a kubeletapi.Provider; otherwise only /pods is served (provider.go).
	Runtime any
	// AgentIP is the agent's IP (from MESOS_AGENT_ENDPOINT), named in the serving
	// certificate beside the hostname the agent reports.
	AgentIP string
	// ListenHost is the address to listen on. Empty: the agent's IP, the address its
	// Node gives the API server (its InternalIP, from the agent's offers), so that agents
	// sharing a host on addresses of their own each serve their own Node on the one port;
	// every address of the host where the agent's IP is not one of the host's (an address
	// translated on the way).
	ListenHost string
	// Sandbox is the executor run's sandbox (executor.RunDir). With one, the executor
	// serves its pods to the other executors of its cluster on the agent, and serves
	// theirs when it holds the port (peers.go); without, its own only.
	Sandbox string
	Log     logr.Logger
	// HelloEvery and Retry replace HelloEvery and DefaultRetry when set (tests).
	HelloEvery, Retry time.Duration
	// ReviewTimeout bounds each question to the manager; 0 means the kubelet's 10 s.
	ReviewTimeout time.Duration

	auth    agentauth.Client
	wake    chan struct{}
	sending atomic.Bool
	// certs is the serving certificate; asking says a request for one is being sent.
	certs  *certSource
	asking atomic.Bool

	mu         sync.Mutex
	subscribed bool
	hostname   string
	helloDue   bool
	config     *agentmsg.Config // the newest Config, not yet applied
	port       int32            // the port served on now, for Hellos
	// taken is the port a process that is no executor of the cluster holds, for Hellos.
	taken *agentmsg.PortTaken
}

// NewServer returns a Server for the executor e.
func NewServer(e Executor, runtime any, agentIP string, log logr.Logger) *Server {
	s := &Server{Executor: e, Runtime: runtime, AgentIP: agentIP, Log: log}
	s.init()
	return s
}

func (s *Server) init() {
	if s.wake == nil {
		s.wake = make(chan struct{}, 1)
		s.auth.Send = s.Executor.SendMessage
		s.certs = newCertSource(s.hosts)
	}
}

// Subscribed says Hello to the manager after each subscription to the agent: the
// manager may have changed the Config meanwhile, or restarted.
func (s *Server) Subscribed(agent mesos.AgentInfo) {
	s.mu.Lock()
	s.subscribed, s.hostname, s.helloDue = true, agent.Hostname, true
	s.mu.Unlock()
	s.poke()
}

// Message takes a framework message: an Answer for the reviewer, a Config, or a
// serving certificate.
func (s *Server) Message(data []byte) {
	m, err := agentmsg.Decode(data)
	if err != nil {
		s.Log.Info("Ignoring a framework message", "error", err.Error())
		return
	}
	switch m.Kind {
	case agentmsg.KindAnswer:
		if !s.auth.Deliver(m) {
			s.Log.V(1).Info("An answer came after its question gave up", "id", m.ID)
		}
	case agentmsg.KindConfig:
		s.mu.Lock()
		s.config = m.Config
		s.mu.Unlock()
		s.poke()
	case agentmsg.KindServingCertificate:
		s.takeCertificate(m.ServingCertificate)
	default:
		s.Log.V(1).Info("Ignoring a framework message", "kind", m.Kind)
	}
}

func (s *Server) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Server) retry() time.Duration {
	if s.Retry > 0 {
		return s.Retry
	}
	return DefaultRetry
}

// helloInterval is the time to the next Hello: soon until the manager has answered.
func (s *Server) helloInterval(configured bool) time.Duration {
	switch {
	case !configured:
		return s.retry()
	case s.HelloEvery > 0:
		return s.HelloEvery
	}
	return HelloEvery
}

// Run says Hello and serves as configured until ctx ends.
func (s *Server) Run(ctx context.Context) {
	s.init()
	s.auth.Timeout = s.ReviewTimeout
	peersDone := make(chan struct{})
	go func() { defer close(peersDone); s.servePeers(ctx) }()
	defer func() { <-peersDone }()
	l := newListener(s)
	defer l.stop()
	hello := time.NewTimer(s.retry())
	defer hello.Stop()
	// ask is when to look again at the signer's certificate (csr.go).
	ask := time.NewTimer(time.Hour)
	ask.Stop()
	defer ask.Stop()
	var rebind <-chan time.Time
	configured := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-hello.C:
			s.mu.Lock()
			s.helloDue = s.subscribed
			s.mu.Unlock()
			hello.Reset(s.helloInterval(configured))
		case <-rebind:
			rebind = nil
		case <-ask.C:
		case <-l.ended():
		}
		s.mu.Lock()
		due, cfg := s.helloDue, s.config
		s.helloDue, s.config = false, nil
		s.mu.Unlock()
		if cfg != nil {
			l.configure(cfg)
			s.certs.configure(cfg)
			if !configured {
				configured = true
				hello.Reset(s.helloInterval(configured))
			}
		}
		if !l.serve(ctx) && rebind == nil {
			rebind = time.After(s.retry())
		}
		s.mu.Lock()
		if port := l.servingPort(); port != s.port {
			// Said at once: the manager advertises the port on the agent's Node only
			// while an executor says it serves it there.
			s.port = port
			due = due || s.subscribed
		}
		if !sameTaken(s.taken, l.taken) {
			// Said at once: the manager warns on the Node, or stops warning.
			s.taken = l.taken
			due = due || s.subscribed
		}
		s.mu.Unlock()
		if due {
			s.sayHello(ctx)
		}
		a, next := s.certs.due(s.retry())
		if a != nil {
			s.askForCertificate(ctx, a)
		}
		ask.Stop()
		if next > 0 {
			ask.Reset(next)
		}
	}
}

// sayHello sends a Hello, off the loop, one at a time.
func (s *Server) sayHello(ctx context.Context) {
	if !s.sending.CompareAndSwap(false, true) {
		return
	}
	s.mu.Lock()
	hello := &agentmsg.Hello{Port: s.port, PortTaken: s.taken}
	s.mu.Unlock()
	go func() {
		b, err := agentmsg.Encode(&agentmsg.Message{Kind: agentmsg.KindHello, ID: "hello-" + time.Now().UTC().Format(time.RFC3339Nano), Hello: hello})
		if err == nil {
			sctx, cancel := context.WithTimeout(ctx, helloTimeout)
			err = s.Executor.SendMessage(sctx, b)
			cancel()
		}
		if err != nil {
			s.Log.Info("Could not ask the manager for the kubelet API's configuration; asking again", "error", err.Error())
		}
		s.sending.Store(false)
		// A Hello asked for while this one was on its way (the port was found taken, or
		// served again) was not sent: say Hello again if what it says changed meanwhile.
		s.mu.Lock()
		stale := s.subscribed && (s.port != hello.Port || !sameTaken(s.taken, hello.PortTaken))
		if stale {
			s.helloDue = true
		}
		s.mu.Unlock()
		if stale {
			s.poke()
		}
	}()
}

// sameTaken says whether a and b say the same of a taken port.
func sameTaken(a, b *agentmsg.PortTaken) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
