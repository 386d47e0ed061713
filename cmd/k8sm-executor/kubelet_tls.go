package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// checkVerification refuses verification flags that contradict each other, or that
// would verify nothing.
func (k *kubeletFlags) checkVerification() error {
	switch {
	case k.insecure && k.caFile != "":
		return errors.New("--kubelet-ca-file and --kubelet-insecure-skip-tls-verify exclude each other")
	case k.insecure && k.serverName != "":
		return errors.New("--kubelet-server-name and --kubelet-insecure-skip-tls-verify exclude each other: no certificate is verified against the name")
	case k.serverName != "" && strings.HasPrefix(k.url, "http://"):
		return fmt.Errorf("--kubelet-server-name with --kubelet-url %s: an http:// url has no certificate to verify against the name", k.url)
	}
	return nil
}

// tlsConfig is how the runtime verifies the kubelet's serving certificate: against
// --kubelet-ca-file (else the system's CAs), for --kubelet-server-name (else the url's
// host).
func (k *kubeletFlags) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: k.insecure, ServerName: k.serverName} //nolint:gosec // asked for by flag, for testing
	if k.caFile != "" {
		pem, err := os.ReadFile(k.caFile)
		if err != nil {
			return nil, fmt.Errorf("reading --kubelet-ca-file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--kubelet-ca-file %s holds no PEM certificate", k.caFile)
		}
		cfg.RootCAs = roots
	}
	return cfg, nil
}
