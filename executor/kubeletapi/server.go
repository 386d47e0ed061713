package kubeletapi

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"

	"github.com/k8sm/k8sm/internal/httpserve"
)

// TLSConfig is the kubelet API's TLS: 1.2 at least, and a client certificate requested
// but not required, so that bearer tokens work too. The Handler verifies the
// certificate against its client CAs, which can change while the server runs, as the
// kubelet's dynamic client CA does; a certificate of another CA is 401, not a failed
// handshake. getCertificate returns the serving certificate (self-signed until the
// kubelet-serving one is issued, then that one).
func TLSConfig(getCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		ClientAuth:     tls.RequestClientCert,
		GetCertificate: getCertificate,
		// HTTP/1.1 is what SPDY and WebSocket upgrade; h2 serves the rest.
		NextProtos: []string{"h2", "http/1.1"},
	}
}

// Server serves a Handler over TLS, with the kubelet's server timeouts.
type Server struct {
	Handler http.Handler
	TLS     *tls.Config
	Log     logr.Logger
}

// Serve serves on l until ctx ends. Requests that are not TLS are refused by the TLS
// layer (a plain HTTP request gets 400 and never reaches the Handler).
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	if s.TLS == nil || (s.TLS.GetCertificate == nil && len(s.TLS.Certificates) == 0) {
		return errors.New("kubeletapi: the server needs a TLS configuration with a certificate")
	}
	srv := &http.Server{
		Handler:           s.Handler,
		TLSConfig:         s.TLS,
		IdleTimeout:       90 * time.Second,
		ReadTimeout:       4 * time.Hour,
		WriteTimeout:      4 * time.Hour,
		ReadHeaderTimeout: 30 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          httpserve.ErrorLog(s.Log.V(2)),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	// Log follows end with ctx; streams, hijacked, end with their connections.
	return httpserve.ServeTLS(ctx, srv, l)
}
