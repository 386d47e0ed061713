package main

import (
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
// not verify: it names agent-1, not 127.0.0.1. --kubelet-server-name verifies it against
// the name it carries instead, still against the CA file: a certificate naming agent-1
// from another CA is refused.
func TestAKubeletsOwnCertificateVerifiesWithItsServerName(t *testing.T) {
	kl, caFile := selfSignedKubelet(t, "agent-1")
	impostor, _ := selfSignedKubelet(t, "agent-1")
	for _, tc := range []struct {
		name       string
		url        string
		serverName string
		wantErr    string // what the error says; "": verified
	}{
		{name: "the url's host, which the certificate does not name", url: kl.URL, wantErr: "127.0.0.1"},
		{name: "the name the certificate carries", url: kl.URL, serverName: "agent-1"},
		{name: "a name the certificate does not carry", url: kl.URL, serverName: "agent-2", wantErr: "not agent-2"},
		{name: "the name, on a certificate of another CA", url: impostor.URL, serverName: "agent-1", wantErr: "unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := getPods(t, kubeletFlags{url: tc.url, caFile: caFile, serverName: tc.serverName})
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
// contradict each other, or verify nothing, are refused at start.
func TestKubeletFlagsMakeTheTLSConfig(t *testing.T) {
	_, caFile := selfSignedKubelet(t, "agent-1")
	for _, tc := range []struct {
		name           string
		flags          kubeletFlags
		wantServerName string
		wantInsecure   bool
		wantRoots      bool   // from --kubelet-ca-file, else the system's
		wantErr        string // what the error says; "": accepted
	}{
		{name: "the defaults", flags: kubeletFlags{url: "https://127.0.0.1:10250"}},
		{name: "a CA file", flags: kubeletFlags{url: "https://10.0.0.1:10250", caFile: caFile}, wantRoots: true},
		{name: "a server name and a CA file", flags: kubeletFlags{url: "https://127.0.0.1:10250", caFile: caFile, serverName: "agent-1"},
			wantServerName: "agent-1", wantRoots: true},
		{name: "a server name and the system's CAs", flags: kubeletFlags{url: "https://10.0.0.1:10250", serverName: "agent-1.example.com"},
			wantServerName: "agent-1.example.com"},
		{name: "not verified", flags: kubeletFlags{url: "https://127.0.0.1:10250", insecure: true}, wantInsecure: true},
		{name: "a server name, not verified", flags: kubeletFlags{url: "https://127.0.0.1:10250", serverName: "agent-1", insecure: true},
			wantErr: "--kubelet-server-name and --kubelet-insecure-skip-tls-verify exclude each other"},
		{name: "a server name over http", flags: kubeletFlags{url: "http://127.0.0.1:10255", serverName: "agent-1"},
			wantErr: "--kubelet-server-name with --kubelet-url http://127.0.0.1:10255"},
		{name: "a CA file, not verified", flags: kubeletFlags{url: "https://127.0.0.1:10250", caFile: caFile, insecure: true},
			wantErr: "--kubelet-ca-file and --kubelet-insecure-skip-tls-verify exclude each other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.flags.manifestDir = t.TempDir()
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
			if cfg.ServerName != tc.wantServerName || cfg.InsecureSkipVerify != tc.wantInsecure || (cfg.RootCAs != nil) != tc.wantRoots {
				t.Errorf("ServerName %q, InsecureSkipVerify %t, RootCAs set %t; want %q, %t, %t",
					cfg.ServerName, cfg.InsecureSkipVerify, cfg.RootCAs != nil, tc.wantServerName, tc.wantInsecure, tc.wantRoots)
			}
			if cfg.VerifyConnection != nil {
				t.Error("a VerifyConnection of its own")
			}
		})
	}
}
