package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	certutil "k8s.io/client-go/util/cert"
)

// selfSignedKubelet serves as a kubelet given no serving certificate does: with one it
// made itself, as the kubelet makes it, naming only its node name. It returns the
// server, reached at 127.0.0.1, and the kubelet's certificate file
// (/var/lib/kubelet/pki/kubelet.crt: the certificate and its CA), for --kubelet-ca-file.
func selfSignedKubelet(t *testing.T, node string) (*httptest.Server, string) {
	t.Helper()
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey(node, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return serveWithCert(t, certPEM, keyPEM)
}

// clientCertKubelet serves with a self-signed certificate naming node, but for client
// authentication only: no server's certificate.
func clientCertKubelet(t *testing.T, node string) (*httptest.Server, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: node}, DNSNames: []string{node},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return serveWithCert(t, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}

// serveWithCert serves /pods over https with the certificate, at 127.0.0.1, and writes
// the certificate into a file for --kubelet-ca-file.
func serveWithCert(t *testing.T, certPEM, keyPEM []byte) (*httptest.Server, string) {
	t.Helper()
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"items":[]}`))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "kubelet.crt")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, caFile
}

// nodeNamed stands for the agent's hostname, as the kubelet takes it for its node name.
func nodeNamed(name string) func() (string, error) {
	return func() (string, error) { return name, nil }
}

// getPods asks the kubelet for its pods with the client of the runtime the flags make.
func getPods(t *testing.T, k kubeletFlags) error {
	t.Helper()
	k.manifestDir = t.TempDir()
	rt, err := k.runtime(logr.Discard(), config.Config{})
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	resp, err := rt.Client.Get(k.url + "/pods")
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	return nil
}

// A kubelet given no serving certificate serves a self-signed one naming only its node
// name, so at https://127.0.0.1:10250 its certificate, given as --kubelet-ca-file, does
// not verify against the url's host: it names agent-1, not 127.0.0.1. At a loopback url
// the agent's hostname, which the kubelet takes for its node name, is accepted too, and
// --kubelet-server-name names another instead (a kubelet with --hostname-override).
// Either way the certificate is verified against the CA file, for a server: a
// certificate naming agent-1 from another CA, or one for a client, is refused; and one
// naming 127.0.0.1 still verifies.
func TestAKubeletsOwnCertificateVerifies(t *testing.T) {
	type kubelet struct{ url, caFile string }
	serve := func(srv *httptest.Server, caFile string) kubelet { return kubelet{srv.URL, caFile} }
	agent1 := serve(selfSignedKubelet(t, "agent-1"))
	impostor := kubelet{serve(selfSignedKubelet(t, "agent-1")).url, agent1.caFile} // another CA's
	loopback := serve(selfSignedKubelet(t, "127.0.0.1"))
	client := serve(clientCertKubelet(t, "agent-1"))
	for _, tc := range []struct {
		name       string
		kubelet    kubelet
		hostname   string // the agent's
		serverName string
		wantErr    string // what the error says; "": verified
	}{
		{name: "the agent's hostname", kubelet: agent1, hostname: "agent-1"},
		{name: "neither the url's host nor the agent's hostname", kubelet: agent1, hostname: "agent-2",
			wantErr: "127.0.0.1 nor the agent's hostname agent-2"},
		{name: "the agent's hostname, from another CA", kubelet: impostor, hostname: "agent-1", wantErr: "unknown authority"},
		{name: "the agent's hostname, for a client", kubelet: client, hostname: "agent-1", wantErr: "incompatible key usage"},
		{name: "the url's host", kubelet: loopback, hostname: "agent-1"},
		{name: "the server name", kubelet: agent1, hostname: "agent-2", serverName: "agent-1"},
		{name: "a server name it does not carry", kubelet: agent1, hostname: "agent-1", serverName: "agent-2", wantErr: "not agent-2"},
		{name: "the server name, from another CA", kubelet: impostor, hostname: "agent-2", serverName: "agent-1", wantErr: "unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := getPods(t, kubeletFlags{url: tc.kubelet.url, caFile: tc.kubelet.caFile, serverName: tc.serverName,
				nodeName: nodeNamed(tc.hostname)})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("not verified: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatal("verified")
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("the error %q does not say %q", err, tc.wantErr)
			}
		})
	}
}

// The kubelet flags make the TLS settings of the runtime's client; flags that
// contradict each other, or verify nothing, are refused at start. The agent's hostname
// is taken besides the url's host only at a loopback url, with a CA file (not the
// system's CAs, which may certify that name elsewhere) and no server name.
func TestKubeletFlagsMakeTheTLSConfig(t *testing.T) {
	_, caFile := selfSignedKubelet(t, "agent-1")
	for _, tc := range []struct {
		name       string
		flags      kubeletFlags
		wantVerify string // against what the certificate is verified
		wantRoots  bool   // from --kubelet-ca-file, else the system's
		wantErr    string // what the error says; "": accepted
	}{
		{name: "the defaults", flags: kubeletFlags{url: "https://127.0.0.1:10250"}, wantVerify: "the url's host"},
		{name: "a CA file, at a loopback url", flags: kubeletFlags{url: "https://127.0.0.1:10250", caFile: caFile},
			wantVerify: "the url's host or the agent's hostname", wantRoots: true},
		{name: "a CA file, at an IPv6 loopback url", flags: kubeletFlags{url: "https://[::1]:10250", caFile: caFile},
			wantVerify: "the url's host or the agent's hostname", wantRoots: true},
		{name: "a CA file, at an agent's address", flags: kubeletFlags{url: "https://10.0.0.1:10250", caFile: caFile},
			wantVerify: "the url's host", wantRoots: true},
		{name: "a CA file, at localhost", flags: kubeletFlags{url: "https://localhost:10250", caFile: caFile},
			wantVerify: "the url's host", wantRoots: true},
		{name: "a server name and a CA file", flags: kubeletFlags{url: "https://127.0.0.1:10250", caFile: caFile, serverName: "agent-1"},
			wantVerify: "agent-1", wantRoots: true},
		{name: "a server name and the system's CAs", flags: kubeletFlags{url: "https://10.0.0.1:10250", serverName: "agent-1.example.com"},
			wantVerify: "agent-1.example.com"},
		{name: "not verified", flags: kubeletFlags{url: "https://127.0.0.1:10250", insecure: true}, wantVerify: "nothing"},
		{name: "a server name, not verified", flags: kubeletFlags{url: "https://127.0.0.1:10250", serverName: "agent-1", insecure: true},
			wantErr: "--kubelet-server-name and --kubelet-insecure-skip-tls-verify exclude each other"},
		{name: "a server name over http", flags: kubeletFlags{url: "http://127.0.0.1:10255", serverName: "agent-1"},
			wantErr: "--kubelet-server-name with --kubelet-url http://127.0.0.1:10255"},
		{name: "a CA file, not verified", flags: kubeletFlags{url: "https://127.0.0.1:10250", caFile: caFile, insecure: true},
			wantErr: "--kubelet-ca-file and --kubelet-insecure-skip-tls-verify exclude each other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.flags.manifestDir = t.TempDir()
			tc.flags.nodeName = nodeNamed("agent-1")
			rt, err := tc.flags.runtime(logr.Discard(), config.Config{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			cfg := rt.Client.Transport.(*http.Transport).TLSClientConfig
			if got := verifiedAgainst(cfg); got != tc.wantVerify || (cfg.RootCAs != nil) != tc.wantRoots {
				t.Errorf("verified against %s, RootCAs set %t; want %s, %t", got, cfg.RootCAs != nil, tc.wantVerify, tc.wantRoots)
			}
		})
	}
}

// verifiedAgainst says against what name a tls.Config verifies the server's certificate.
func verifiedAgainst(cfg *tls.Config) string {
	switch {
	case cfg.InsecureSkipVerify && cfg.VerifyConnection != nil:
		// crypto/tls's own check, which knows one name, gives way to VerifyConnection.
		return "the url's host or the agent's hostname"
	case cfg.InsecureSkipVerify:
		return "nothing"
	case cfg.VerifyConnection != nil:
		return "the url's host, and a VerifyConnection"
	case cfg.ServerName != "":
		return cfg.ServerName
	}
	return "the url's host"
}
