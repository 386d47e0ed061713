package taskapi

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"

	"github.com/k8sm/k8sm/internal/httpserve"
)

// Server serves a Handler over TLS. A client certificate is asked for, not required: the
// front proxy presents one, a probe none.
type Server struct {
	// Addr is where it listens, host:port.
	Addr    string
	Handler http.Handler
	// Certificate is the serving certificate (SelfSigned's, or a certificate watcher's).
	Certificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	Log         logr.Logger
}

// NeedLeaderElection is false: every replica serves what its Store holds.
func (s *Server) NeedLeaderElection() bool { return false }

// Start serves until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	l, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("the MesosTasks API cannot listen on %s: %w", s.Addr, err)
	}
	return s.Serve(ctx, l)
}

// Serve serves on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler: s.Handler,
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			ClientAuth:     tls.RequestClientCert,
			GetCertificate: s.Certificate,
			NextProtos:     []string{"h2", "http/1.1"},
		},
		// No write timeout: watches stream for as long as they last (Handler.watch ends
		// them).
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          httpserve.ErrorLog(s.Log.V(2)),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	s.Log.Info("Serving the MesosTasks API", "address", l.Addr().String(), "group", GroupVersion.String())
	return httpserve.ServeTLS(ctx, srv, l)
}
