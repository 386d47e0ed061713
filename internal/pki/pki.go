// Package pki makes small certificate authorities: a CA and the client and serving
// certificates it signs, in PEM, as kube-apiserver and its extension API servers read
// them: those of k8sm's local cluster, and the manager's own for the MesosTasks API
// when no certificate is given it (internal/taskapi).
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// CA is a certificate authority: a self-signed certificate and its key.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// CertPEM is Cert in PEM, the bundle a verifier of the CA's certificates is given.
	CertPEM []byte
}

// NewCA makes a CA named commonName, valid from an hour ago (clocks differ a little)
// for validFor.
func NewCA(commonName string, validFor time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: commonName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(validFor),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("signing the CA %q: %w", commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// KeyPEM is the CA's key in PEM, for a signer that signs with the CA itself (such as
// kube-controller-manager's --cluster-signing-*-key-file).
func (ca *CA) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(ca.key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// IssueClient signs a client certificate for the user commonName in the groups orgs
// (as Kubernetes reads a certificate: CN the user, O the groups), with a new key. It
// returns both in PEM.
func (ca *CA) IssueClient(commonName string, orgs []string, validFor time.Duration) (certPEM, keyPEM []byte, err error) {
	return ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName, Organization: orgs},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, validFor)
}

// IssueServing signs a serving certificate for a server known as dnsNames and at ips
// (a TLS client checks the name it dialled against these, not against commonName), with
// a new key. It returns both in PEM.
func (ca *CA) IssueServing(commonName string, dnsNames []string, ips []net.IP, validFor time.Duration) (certPEM, keyPEM []byte, err error) {
	return ca.issue(&x509.Certificate{
		Subject: pkix.Name{CommonName: commonName}, DNSNames: dnsNames, IPAddresses: ips,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, validFor)
}

// issue completes tmpl (serial number, validity from an hour ago, key usage) and signs
// it with a new key.
func (ca *CA) issue(tmpl *x509.Certificate, validFor time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(validFor)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if certPEM, err = ca.Sign(tmpl, &key.PublicKey); err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// Sign signs tmpl for the public key pub, as the CA, and returns the certificate in
// PEM: for certificates IssueClient and IssueServing do not make (another subject's
// key, as a signer of certificate requests; validity or usages of the caller's). A
// template without a serial number gets a random one; the rest is the caller's.
func (ca *CA) Sign(tmpl *x509.Certificate, pub crypto.PublicKey) ([]byte, error) {
	if tmpl.SerialNumber == nil {
		serial, err := serialNumber()
		if err != nil {
			return nil, err
		}
		tmpl.SerialNumber = serial
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("signing a certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// serialNumber is a random 128-bit serial, as RFC 5280 asks serials to be unique per CA.
func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}
