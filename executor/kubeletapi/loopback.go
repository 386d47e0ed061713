package kubeletapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/k8sm/k8sm/internal/httpserve"
)

// loopback is an HTTP server inside the process, reached over in-memory connections:
// the SPDY endpoint that the kubelet's WebSocket translator and tunneling handler talk
// to, in place of the container runtime's streaming server the kubelet talks to. Each
// request registers a handler under a one-time path; nothing outside the process can
// reach it.
type loopback struct {
	ln        *pipeListener
	srv       *http.Server
	transport *http.Transport

	mu     sync.Mutex
	routes map[string]http.HandlerFunc
}

func newLoopback(lg logr.Logger) *loopback {
	l := &loopback{ln: newPipeListener(), routes: map[string]http.HandlerFunc{}}
	l.srv = &http.Server{
		Handler:           http.HandlerFunc(l.serve),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          httpserve.ErrorLog(lg.V(2)),
	}
	// No proxy from the environment, and a connection a request: the connections are
	// upgraded anyway.
	l.transport = &http.Transport{DialContext: l.ln.dial, DisableKeepAlives: true}
	go func() { _ = l.srv.Serve(l.ln) }()
	return l
}

// add registers h, returning its URL and its removal.
func (l *loopback) add(h http.HandlerFunc) (*url.URL, func()) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	l.mu.Lock()
	l.routes[token] = h
	l.mu.Unlock()
	return &url.URL{Scheme: "http", Host: "loopback", Path: "/" + token}, func() {
		l.mu.Lock()
		delete(l.routes, token)
		l.mu.Unlock()
	}
}

func (l *loopback) serve(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimPrefix(r.URL.Path, "/")
	l.mu.Lock()
	h, ok := l.routes[token]
	delete(l.routes, token)
	l.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

func (l *loopback) close() error {
	l.transport.CloseIdleConnections()
	return l.srv.Close()
}

// pipeListener accepts the connections its dial makes, in memory.
type pipeListener struct {
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

var errListenerClosed = errors.New("loopback closed")

func (p *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case p.conns <- server:
		return client, nil
	case <-p.done:
	case <-ctx.Done():
	}
	_ = client.Close()
	_ = server.Close()
	return nil, errListenerClosed
}

func (p *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

func (p *pipeListener) Close() error {
	p.closed.Do(func() { close(p.done) })
	return nil
}

func (p *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "loopback" }
