package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// authnAuthzFilter protects the metrics endpoint with the apiserver's TokenReview and
// SubjectAccessReview, so only callers allowed to GET /metrics read it.
var authnAuthzFilter = filters.WithAuthenticationAndAuthorization

// metricsOptions is how the manager serves its metrics: over https, each request's
// bearer token checked by the API server (TokenReview, then a SubjectAccessReview for GET
// on /metrics), unless --metrics-secure=false, which is allowed on a loopback address
// only (reachable through `kubectl port-forward`, which the API server authorizes).
func metricsOptions(o options) (metricsserver.Options, error) {
	var tlsOpts []func(*tls.Config)
	if !o.enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	m := metricsserver.Options{BindAddress: o.metricsAddr, SecureServing: o.secureMetrics, TLSOpts: tlsOpts}
	if o.metricsAddr == "0" {
		return m, nil
	}
	if !o.secureMetrics {
		if err := requireLoopback("--metrics-bind-address with --metrics-secure=false", o.metricsAddr); err != nil {
			return m, err
		}
		return m, nil
	}
	m.FilterProvider = authnAuthzFilter
	if o.metricsCertDir != "" {
		// controller-runtime falls back to a self-signed certificate when the files are
		// missing; a certificate asked for and not found is a mistake to report instead.
		for _, f := range []string{"tls.crt", "tls.key"} {
			if _, err := os.Stat(filepath.Join(o.metricsCertDir, f)); err != nil {
				return m, fmt.Errorf("--metrics-cert-dir: %w", err)
			}
		}
		m.CertDir, m.CertName, m.KeyName = o.metricsCertDir, "tls.crt", "tls.key"
	}
	return m, nil
}

// requireLoopback refuses an address that other hosts could reach: an endpoint served
// without authentication (plain metrics, pprof) must stay inside the pod.
func requireLoopback(what, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q: %w", what, addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s %q: serves without authentication, so it must listen on loopback (127.0.0.1:PORT); use kubectl port-forward to reach it", what, addr)
}
