// Package httpserve runs the TLS servers the manager and the executors serve (the
// kubelet API, the MesosTasks API) the same way: until a context ends, their own error
// lines logged through logr.
package httpserve

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"strings"

	"github.com/go-logr/logr"
)

// ServeTLS serves srv over TLS (its TLSConfig's certificate) on l until ctx ends, then
// closes it: open connections, hijacked ones aside, end with it. It returns nil when it
// ended so.
func ServeTLS(ctx context.Context, srv *http.Server, l net.Listener) error {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			_ = srv.Close()
		case <-done:
		}
	}()
	err := srv.ServeTLS(l, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ErrorLog is an http.Server's ErrorLog that sends its lines (TLS handshake errors and
// the like) to lg.
func ErrorLog(lg logr.Logger) *log.Logger { return log.New(logWriter{lg}, "", 0) }

type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Info("HTTP server error", "message", strings.TrimSpace(string(p)))
	return len(p), nil
}
