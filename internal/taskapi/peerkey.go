package taskapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"slices"
	"time"
)

// The replicas know each other by the serving certificate's key, which they share. When
// the certificate is made anew (SelfSigned, a month before it ends; or OLM's, mounted),
// one replica holds the new key before the others: until then neither would take the
// other for a replica, and relayed requests and the standby's copy would fail. So a
// replica takes for a peer a holder of its serving certificate's key, or of the key
// it held before (a connection made before the change still shows that one); and a
// certificate for the API's names but of another key has it read its certificate again,
// at most every reloadEvery, before it decides.
const (
	reloadEvery   = 5 * time.Second
	reloadTimeout = 5 * time.Second
)

// heldKeys are the public keys of the serving certificate held now and of the one before.
type heldKeys struct {
	cert *tls.Certificate
	leaf *x509.Certificate
	// before is the key of the certificate held before, good until beforeEnds.
	before     []byte
	beforeEnds time.Time
}

// ownKeys are the keys held now.
func (r *Relay) ownKeys() (*heldKeys, error) {
	c, err := r.Certificate(nil)
	if err != nil {
		return nil, err
	}
	held := r.keys.Load()
	if held != nil && held.cert == c {
		return held, nil
	}
	leaf := c.Leaf
	if leaf == nil {
		if len(c.Certificate) == 0 {
			return nil, errors.New("the serving certificate is empty")
		}
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, err
		}
	}
	k := &heldKeys{cert: c, leaf: leaf}
	if held != nil {
		k.before, k.beforeEnds = held.before, held.beforeEnds
		if !bytes.Equal(held.leaf.RawSubjectPublicKeyInfo, leaf.RawSubjectPublicKeyInfo) {
			k.before, k.beforeEnds = held.leaf.RawSubjectPublicKeyInfo, held.leaf.NotAfter
		}
	}
	r.keys.CompareAndSwap(held, k)
	return k, nil
}

// holds says whether leaf is of a key held now, or held before and not ended.
func (k *heldKeys) holds(leaf *x509.Certificate) bool {
	spki := leaf.RawSubjectPublicKeyInfo
	return bytes.Equal(spki, k.leaf.RawSubjectPublicKeyInfo) ||
		(k.before != nil && bytes.Equal(spki, k.before) && time.Now().Before(k.beforeEnds))
}

// isPeer says whether certs (a peer's, leaf first) are another replica's. TLS has the
// peer prove it holds the key of the certificate it presents.
func (r *Relay) isPeer(ctx context.Context, certs []*x509.Certificate) bool {
	if len(certs) == 0 {
		return false
	}
	k, err := r.ownKeys()
	if err != nil {
		return false
	}
	if k.holds(certs[0]) {
		return true
	}
	if r.Reload == nil || !namesOf(certs[0], k.leaf) || !r.mayReload() {
		return false
	}
	r.Reload(ctx)
	k, err = r.ownKeys()
	return err == nil && k.holds(certs[0])
}

// namesOf says whether leaf is a certificate for the names of own: a peer's made anew.
// The front proxy's client certificate, the one kube-apiserver presents, is not.
func namesOf(leaf, own *x509.Certificate) bool {
	return len(own.DNSNames) > 0 && slices.Contains(leaf.DNSNames, own.DNSNames[0])
}

// mayReload says whether reloadEvery has passed since the certificate was last read
// again, and if so counts this as the last.
func (r *Relay) mayReload() bool {
	now := time.Now().UnixNano()
	last := r.lastReload.Load()
	return now-last >= int64(reloadEvery) && r.lastReload.CompareAndSwap(last, now)
}
