package kubeletserve

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"strconv"
	"syscall"

	"github.com/k8sm/k8sm/executor/kubeletapi"
	"github.com/k8sm/k8sm/internal/agentmsg"
)

// listener serves the kubelet API as the latest Config says: on its port, for its Node,
// with its client CAs. Only Server.Run calls it.
type listener struct {
	s     *Server
	cfg   *agentmsg.Config
	certs *certSource
	cur   *serving
	// refused is the port last found taken, so that a retry is logged only once.
	refused int32
	// taken says the Config's port is held by a process that is no executor of the
	// cluster on the agent (for Hellos); nil otherwise.
	taken *agentmsg.PortTaken
}

// serving is one server, on one port, for one Node.
type serving struct {
	port    int32 // as configured
	bound   int32 // as bound
	node    string
	handler *kubeletapi.Handler
	cancel  context.CancelFunc
	done    chan struct{}
}

func newListener(s *Server) *listener {
	return &listener{s: s, certs: s.certs}
}

// hosts are what the serving certificate names: the agent's hostname as it reports it,
// and its IP.
func (s *Server) hosts() (hostname, ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hostname, s.AgentIP
}

// configure takes a new Config: new client CAs are used at once, by the running server;
// another port or Node (or none) stops it, and serve starts the one the Config says.
func (l *listener) configure(cfg *agentmsg.Config) {
	l.cfg = cfg
	if l.cur != nil && l.cur.port == cfg.Port && l.cur.node == cfg.NodeName {
		l.cur.handler.SetClientCAs(l.clientCAs())
		return
	}
	if l.cur != nil {
		l.s.Log.Info("Stopping the kubelet API server for a new configuration", "port", l.cur.port, "newPort", cfg.Port)
	}
	l.stop()
}

// clientCAs is the pool of the Config's CA bundle; nil (no certificate accepted) when it
// has none.
func (l *listener) clientCAs() *x509.CertPool {
	if l.cfg.ClientCA == "" {
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(l.cfg.ClientCA)) {
		l.s.Log.Info("The client CA bundle from the manager holds no certificate: accepting bearer tokens only")
		return nil
	}
	return pool
}

// serve starts serving if the Config asks for it and nothing serves; it returns false
// when the port could not be bound, to be tried again later.
func (l *listener) serve(ctx context.Context) bool {
	if l.cur != nil {
		select {
		case <-l.cur.done: // ended on its own: serve anew
			l.cur = nil
		default:
			return true
		}
	}
	l.taken = nil
	if l.cfg == nil || l.cfg.Port == 0 {
		return true
	}
	addr := net.JoinHostPort(l.s.ListenHost, strconv.Itoa(int(l.cfg.Port)))
	if l.s.ListenHost == "" && net.ParseIP(l.s.AgentIP) != nil {
		addr = net.JoinHostPort(l.s.AgentIP, strconv.Itoa(int(l.cfg.Port)))
	}
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRNOTAVAIL) && l.s.ListenHost == "" {
		addr = net.JoinHostPort("", strconv.Itoa(int(l.cfg.Port)))
		ln, err = net.Listen("tcp", addr)
	}
	if err != nil {
		// The port is taken: most likely by another executor of this cluster on this
		// agent (after a change of spec.executor the old one runs out beside the new),
		// which serves this one's pods too (peers.go). This one tries again every Retry,
		// and takes the port over when the holder ends. With no other executor of the
		// cluster there, another process holds it, and the API server reaches that
		// process for the Node's logs and exec: the Hellos say so, for the Node's events.
		peer := l.s.Sandbox != "" && len(peers{sandbox: l.s.Sandbox}.list()) > 0
		if !peer {
			l.taken = &agentmsg.PortTaken{Address: addr, Error: err.Error()}
		}
		if l.refused != l.cfg.Port {
			l.s.Log.Info("Cannot serve the kubelet API: its port is taken; trying again every "+l.s.retry().String(),
				"address", addr, "error", err.Error(), "heldByAnotherExecutorOfTheCluster", peer)
		}
		l.refused = l.cfg.Port
		return false
	}
	l.refused = 0
	var others kubeletapi.Peers
	if l.s.Sandbox != "" {
		others = peers{sandbox: l.s.Sandbox}
	}
	h, err := kubeletapi.NewHandler(kubeletapi.Config{
		NodeName: l.cfg.NodeName, Provider: l.s.provider(), ClientCAs: l.clientCAs(),
		TokenReviewer: &l.s.auth, Authorizer: &l.s.auth, ReviewTimeout: l.s.ReviewTimeout, Log: l.s.Log,
		Peers: others,
	})
	if err != nil {
		_ = ln.Close()
		l.s.Log.Error(err, "Cannot serve the kubelet API")
		return true // a defect, not a state that passes: no retry
	}
	sctx, cancel := context.WithCancel(ctx)
	cur := &serving{port: l.cfg.Port, bound: int32(ln.Addr().(*net.TCPAddr).Port), node: l.cfg.NodeName, handler: h, cancel: cancel, done: make(chan struct{})}
	srv := &kubeletapi.Server{Handler: h, TLS: kubeletapi.TLSConfig(l.certs.get), Log: l.s.Log}
	go func() {
		defer close(cur.done)
		defer func() { _ = h.Close() }()
		if err := srv.Serve(sctx, ln); err != nil {
			l.s.Log.Error(err, "The kubelet API server ended", "address", addr)
		}
	}()
	l.cur = cur
	l.s.Log.Info("Serving the kubelet API", "address", ln.Addr().String(), "node", cur.node, "clientCertificates", l.cfg.ClientCA != "")
	return true
}

// ended is closed when the server ends; nil (never ready) while none serves.
func (l *listener) ended() <-chan struct{} {
	if l.cur == nil {
		return nil
	}
	return l.cur.done
}

// servingPort is the port served on, 0 if none.
func (l *listener) servingPort() int32 {
	if l.cur == nil {
		return 0
	}
	return l.cur.bound
}

// stop stops the server, and waits for it to let its port go.
func (l *listener) stop() {
	if l.cur == nil {
		return
	}
	l.cur.cancel()
	<-l.cur.done
	l.cur = nil
}
