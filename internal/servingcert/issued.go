package servingcert

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/k8sm/k8sm/internal/agentmsg"
)

// clockSkew is how far in the future a certificate may start: the signer's clock may be
// ahead of the agent's.
const clockSkew = 5 * time.Minute

// Issued is a certificate the executor may serve: its chain (the certificate first) in
// DER, and the certificate parsed.
type Issued struct {
	Chain [][]byte
	Leaf  *x509.Certificate
}

// CheckIssued reads the PEM certificate (and chain) the manager sent for a request of
// node with names, made with the key whose public half is pub, and says whether the
// executor may serve it: it is for that key, that Node, all those names and server
// authentication, and valid at now.
func CheckIssued(chainPEM []byte, pub crypto.PublicKey, node string, names Names, now time.Time) (*Issued, error) {
	if len(chainPEM) > agentmsg.MaxCertificateSize {
		return nil, fmt.Errorf("a certificate of %d bytes is over %d", len(chainPEM), agentmsg.MaxCertificateSize)
	}
	var out Issued
	rest := chainPEM
	for len(bytes.TrimSpace(rest)) > 0 {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return nil, errors.New("not PEM certificates")
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("a PEM %s among the certificates", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("not a certificate: %w", err)
		}
		if out.Leaf == nil {
			out.Leaf = c
		}
		out.Chain = append(out.Chain, b.Bytes)
	}
	leaf := out.Leaf
	if leaf == nil {
		return nil, errors.New("no certificate")
	}
	if k, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(pub) {
		return nil, errors.New("the certificate is not for the executor's key")
	}
	if leaf.Subject.CommonName != CommonNamePrefix+node {
		return nil, fmt.Errorf("the certificate is for %q, not %q", leaf.Subject.CommonName, CommonNamePrefix+node)
	}
	if now.Add(clockSkew).Before(leaf.NotBefore) || !now.Before(leaf.NotAfter) {
		return nil, fmt.Errorf("the certificate is valid from %s to %s, not now", leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if len(leaf.ExtKeyUsage) > 0 && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		return nil, errors.New("the certificate is not for server authentication")
	}
	for _, d := range names.DNS {
		if err := leaf.VerifyHostname(d); err != nil {
			return nil, fmt.Errorf("the certificate does not name %s", d)
		}
	}
	for _, ip := range names.IPs {
		if err := leaf.VerifyHostname(ip.String()); err != nil {
			return nil, fmt.Errorf("the certificate does not name %s", ip)
		}
	}
	return &out, nil
}

// RenewAt is when a certificate valid from notBefore to notAfter is to be replaced: at
// frac of its life, which the caller draws between 0.7 and 0.9 as the kubelet's
// certificate manager does, so that the executors of a cluster do not all ask at once.
func RenewAt(notBefore, notAfter time.Time, frac float64) time.Time {
	frac = min(max(frac, 0.7), 0.9)
	return notBefore.Add(time.Duration(float64(notAfter.Sub(notBefore)) * frac))
}
