package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// A client certificate is verified by its CA's bundle for client authentication, names
// the user and groups as Kubernetes reads them, and loads with its key as a TLS client
// does; another CA's bundle refuses it.
func TestIssueClient(t *testing.T) {
	ca, err := NewCA("test-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA("other-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueClient("kube-apiserver-kubelet-client", []string{"kubelet-clients"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert := loadPair(t, certPEM, keyPEM)
	if cert.Subject.CommonName != "kube-apiserver-kubelet-client" || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "kubelet-clients" {
		t.Errorf("subject %v, want CN the user and O the group", cert.Subject)
	}
	verify := func(bundle []byte) error {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(bundle) {
			t.Fatal("the CA's PEM holds no certificate")
		}
		_, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		return err
	}
	if err := verify(ca.CertPEM); err != nil {
		t.Errorf("the CA does not verify its client certificate: %v", err)
	}
	if err := verify(other.CertPEM); err == nil {
		t.Error("another CA verifies the client certificate")
	}
}

// A serving certificate is verified by its CA's bundle for the names and addresses it
// was issued for, as a TLS client checks the server it dialled, and for nothing else; it
// is no client certificate.
func TestIssueServing(t *testing.T) {
	ca, err := NewCA("test-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServing("metrics-server", []string{"metrics-server.kube-system.svc"},
		[]net.IP{net.ParseIP("127.0.100.7")}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert := loadPair(t, certPEM, keyPEM)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca.CertPEM) {
		t.Fatal("the CA's PEM holds no certificate")
	}
	verify := func(name string, usage x509.ExtKeyUsage) error {
		_, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, KeyUsages: []x509.ExtKeyUsage{usage}})
		return err
	}
	for _, name := range []string{"metrics-server.kube-system.svc", "127.0.100.7"} {
		if err := verify(name, x509.ExtKeyUsageServerAuth); err != nil {
			t.Errorf("the CA does not verify its serving certificate for %s: %v", name, err)
		}
	}
	for _, name := range []string{"metrics-server", "127.0.0.1", "other.kube-system.svc"} {
		if err := verify(name, x509.ExtKeyUsageServerAuth); err == nil {
			t.Errorf("the serving certificate is verified for %s, a name it was not issued for", name)
		}
	}
	if err := verify("", x509.ExtKeyUsageClientAuth); err == nil {
		t.Error("the serving certificate is verified as a client certificate")
	}
}

// The CA's key in PEM is the pair of its certificate, as a signer loads them.
func TestKeyPEM(t *testing.T) {
	ca, err := NewCA("signer", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(ca.CertPEM, keyPEM); err != nil {
		t.Fatalf("the CA's certificate and key do not load as a pair: %v", err)
	}
}

// Sign signs another's key with the caller's template, keeping a serial it was given and
// choosing one when none was.
func TestSign(t *testing.T) {
	ca, err := NewCA("signer", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, serial := range []*big.Int{big.NewInt(42), nil} {
		certPEM, err := ca.Sign(&x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "node"},
			NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Minute)}, &key.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		cert := parseCert(t, certPEM)
		if err := cert.CheckSignatureFrom(ca.Cert); err != nil || !key.PublicKey.Equal(cert.PublicKey) {
			t.Errorf("serial %v: not the CA's signature on the key given (%v)", serial, err)
		}
		if serial != nil && cert.SerialNumber.Cmp(serial) != 0 || cert.SerialNumber.Sign() <= 0 {
			t.Errorf("serial %v: the certificate's is %v", serial, cert.SerialNumber)
		}
	}
}

// loadPair checks that certPEM and keyPEM load as a TLS pair, and returns the
// certificate.
func loadPair(t *testing.T, certPEM, keyPEM []byte) *x509.Certificate {
	t.Helper()
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("the certificate and key do not load as a pair: %v", err)
	}
	return parseCert(t, certPEM)
}

// parseCert parses the PEM certificate certPEM.
func parseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
