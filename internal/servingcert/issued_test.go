package servingcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// signer is a CA for the tests, as the cluster's kubelet-serving signer.
type signer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newSigner(t *testing.T) *signer {
	t.Helper()
	key := ecKey(t, elliptic.P256())
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubelet-serving-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &signer{cert: cert, key: key}
}

// issue signs a certificate of tmpl (completed) for pub, as PEM.
func (s *signer) issue(t *testing.T, pub crypto.PublicKey, tmpl *x509.Certificate) []byte {
	t.Helper()
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.cert, pub, s.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// served is what the kubelet-serving signer issues for node's agent-1 (192.0.2.7),
// with change applied.
func served(now time.Time, change func(*x509.Certificate)) *x509.Certificate {
	c := &x509.Certificate{
		Subject:   pkix.Name{CommonName: "system:node:" + node, Organization: []string{"system:nodes"}},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"agent-1"}, IPAddresses: []net.IP{net.ParseIP("192.0.2.7")},
	}
	if change != nil {
		change(c)
	}
	return c
}

// What an executor serves of what the manager sends, and what it keeps its certificate
// rather than serve.
func TestCheckIssued(t *testing.T) {
	ca := newSigner(t)
	key, other := ecKey(t, elliptic.P256()), ecKey(t, elliptic.P256())
	now := time.Now()
	names := AgentNames("agent-1", "192.0.2.7")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
	good := ca.issue(t, &key.PublicKey, served(now, nil))
	cases := []struct {
		name  string
		pem   []byte
		want  string // an error substring; empty: served
		chain int
	}{
		{"the signer's certificate", good, "", 1},
		{"with its chain", append(append([]byte(nil), good...), caPEM...), "", 2},
		{"starting a minute ahead of the agent's clock", ca.issue(t, &key.PublicKey, served(now, func(c *x509.Certificate) { c.NotBefore = now.Add(time.Minute) })), "", 1},
		{"for another key", ca.issue(t, &other.PublicKey, served(now, nil)), "not for the executor's key", 0},
		{"for another Node", ca.issue(t, &key.PublicKey, served(now, func(c *x509.Certificate) { c.Subject.CommonName = "system:node:mesos-c-agent-2" })), "not \"system:node:mesos-c-agent-1\"", 0},
		{"without the hostname", ca.issue(t, &key.PublicKey, served(now, func(c *x509.Certificate) { c.DNSNames = nil })), "does not name agent-1", 0},
		{"without the IP", ca.issue(t, &key.PublicKey, served(now, func(c *x509.Certificate) { c.IPAddresses = nil })), "does not name 192.0.2.7", 0},
		{"for clients only", ca.issue(t, &key.PublicKey, served(now, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth} })), "not for server authentication", 0},
		{"expired", ca.issue(t, &key.PublicKey, served(now, func(c *x509.Certificate) { c.NotBefore, c.NotAfter = now.Add(-2*time.Hour), now.Add(-time.Hour) })), "not now", 0},
		{"not yet valid", ca.issue(t, &key.PublicKey, served(now, func(c *x509.Certificate) { c.NotBefore = now.Add(time.Hour) })), "not now", 0},
		{"a key among them", append(append([]byte(nil), good...), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}})...), "EC PRIVATE KEY", 0},
		{"not PEM", []byte("hello"), "not PEM", 0},
		{"nothing", []byte("\n"), "no certificate", 0},
		{"not DER", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), "not a certificate", 0},
		{"oversized", []byte(strings.Repeat(" ", 33<<10)), "over", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CheckIssued(tc.pem, &key.PublicKey, node, names, now)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == "" && (len(got.Chain) != tc.chain || got.Leaf.Subject.CommonName != "system:node:"+node):
				t.Fatalf("chain of %d, leaf %v; want %d", len(got.Chain), got.Leaf.Subject, tc.chain)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("%v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// A certificate is renewed between 70 and 90% of its life, as a kubelet renews its own.
func TestRenewAt(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(100 * time.Hour)
	for frac, want := range map[float64]time.Duration{0.7: 70 * time.Hour, 0.8: 80 * time.Hour, 0.9: 90 * time.Hour, 0: 70 * time.Hour, 1: 90 * time.Hour} {
		if got := RenewAt(from, to, frac).Sub(from); got.Round(time.Second) != want {
			t.Errorf("RenewAt at %v: %v after the start, want %v", frac, got, want)
		}
	}
}
