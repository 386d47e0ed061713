package kubeletserve

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"slices"
	"sync"
	"time"
)

const (
	// certValidity is a serving certificate's life, as the kubelet's self-signed one's.
	certValidity = 365 * 24 * time.Hour
	// certRenewBefore is how long before its end a certificate is replaced.
	certRenewBefore = 30 * 24 * time.Hour
)

// certSource is the executor's serving certificate, for the agent's hostname and IP.
// Until the cluster's kubelet-serving signer issues one (csr.go), or where the Config
// does not ask for it, it is self-signed, as a kubelet without a kubelet-serving
// certificate serves one: an API server without --kubelet-certificate-authority accepts
// it, as it accepts any kubelet's. The key is made once, in memory, and never leaves the
// process; the self-signed certificate is made anew when the names change or its end
// nears.
type certSource struct {
	hosts func() (hostname, ip string)
	now   func() time.Time
	// frac draws the point of an issued certificate's life at which it is renewed.
	frac func() float64

	mu    sync.Mutex
	key   *ecdsa.PrivateKey
	cert  *tls.Certificate // the self-signed one
	names string

	signed // the signer's (csr.go)
}

// newCertSource makes the key at once (get makes it if that failed).
func newCertSource(hosts func() (string, string)) *certSource {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return &certSource{hosts: hosts, now: time.Now, frac: renewFrac, key: key}
}

// get is a tls.Config's GetCertificate: the signer's certificate when the Config asks
// for it and it is for the Node and names of now, else the self-signed one.
func (c *certSource) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	hostname, ip := c.hosts()
	now := c.now()
	if cert := c.issuedFor(c.node+"\x00"+hostname+"\x00"+ip, now); cert != nil {
		return cert, nil
	}
	names := hostname + "\x00" + ip
	if c.cert != nil && c.names == names && now.Before(c.cert.Leaf.NotAfter.Add(-certRenewBefore)) {
		return c.cert, nil
	}
	if err := c.ensureKeyLocked(); err != nil {
		return nil, err
	}
	cert, err := selfSigned(c.key, hostname, ip, now)
	if err != nil {
		return nil, err
	}
	c.cert, c.names = cert, names
	return cert, nil
}

// ensureKeyLocked makes the key if making it at the start failed.
func (c *certSource) ensureKeyLocked() error {
	if c.key != nil {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("making the serving key: %w", err)
	}
	c.key = key
	return nil
}

// selfSigned makes a serving certificate for hostname (a DNS name, or an IP address)
// and ip, signed by key.
func selfSigned(key *ecdsa.PrivateKey, hostname, ip string, now time.Time) (*tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	cn := hostname
	if cn == "" {
		cn = ip
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour), // the API server's clock may be behind
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range []string{hostname, ip} {
		switch parsed := net.ParseIP(h); {
		case h == "":
		case parsed != nil:
			if !slices.ContainsFunc(tmpl.IPAddresses, parsed.Equal) {
				tmpl.IPAddresses = append(tmpl.IPAddresses, parsed)
			}
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("making the serving certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
