package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/go-logr/logr"
	nodeutil "k8s.io/component-helpers/node/util"
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
// host, and at a loopback url the agent's hostname too: see alsoHostname).
func (k *kubeletFlags) tlsConfig(log logr.Logger) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: k.insecure, ServerName: k.serverName} //nolint:gosec // asked for by flag, for testing
	if k.caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(k.caFile)
	if err != nil {
		return nil, fmt.Errorf("reading --kubelet-ca-file: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--kubelet-ca-file %s holds no PEM certificate", k.caFile)
	}
	cfg.RootCAs = roots
	if host, hostname := k.alsoHostname(log); hostname != "" {
		log.Info("Verifying the kubelet's certificate for the url's host or the agent's hostname", "host", host, "hostname", hostname)
		// crypto/tls checks a single name; VerifyConnection checks as it does, but
		// for either. InsecureSkipVerify turns off only crypto/tls's own check.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = verifyForEither(roots, host, hostname)
	}
	return cfg, nil
}

// alsoHostname returns the url's host and the agent's hostname when the kubelet's
// certificate may name the hostname instead of the host: a kubelet given no serving
// certificate makes a self-signed one naming only its node name, its hostname unless
// it has --hostname-override, so at https://127.0.0.1:10250 it would never verify.
//
// The hostname stands for the kubelet only at a loopback url, which reaches this agent
// whose hostname it is (the executor joins no container network, so it has the agent's
// network and hostname), and only with --kubelet-ca-file: a CA the agent's admin chose
// for its kubelet. The system's CAs may certify the hostname elsewhere (a wildcard
// certificate of the agent's domain, on any server of it), but no public CA certifies
// 127.0.0.1, so with them the url's host stays the only name. --kubelet-server-name
// replaces both names.
func (k *kubeletFlags) alsoHostname(log logr.Logger) (host, hostname string) {
	if k.serverName != "" || k.insecure || k.caFile == "" {
		return "", ""
	}
	u, err := url.Parse(k.url)
	if err != nil || u.Scheme != "https" {
		return "", ""
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return "", ""
	}
	nodeName := k.nodeName
	if nodeName == nil {
		nodeName = func() (string, error) { return nodeutil.GetHostname("") }
	}
	hostname, err = nodeName()
	if err != nil {
		log.Error(err, "Verifying the kubelet's certificate for the url's host alone: no hostname")
		return "", ""
	}
	return u.Hostname(), hostname
}

// verifyForEither is a tls.Config's VerifyConnection that verifies the server's
// certificate as crypto/tls does (its chain up to roots, for a server), but for either
// the url's host or the agent's hostname.
func verifyForEither(roots *x509.CertPool, host, hostname string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the kubelet sent no certificate")
		}
		leaf := cs.PeerCertificates[0]
		intermediates := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			intermediates.AddCert(c)
		}
		opts := x509.VerifyOptions{Roots: roots, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := leaf.Verify(opts); err != nil {
			return err
		}
		if leaf.VerifyHostname(host) == nil || leaf.VerifyHostname(hostname) == nil {
			return nil
		}
		return fmt.Errorf("the kubelet's certificate names neither the url's host %s nor the agent's hostname %s (%w): "+
			"for a kubelet with --hostname-override, set serverName to its node name", host, hostname,
			x509.HostnameError{Certificate: leaf, Host: hostname})
	}
}
