package kubeletserve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/k8sm/k8sm/internal/agentmsg"
	"github.com/k8sm/k8sm/internal/servingcert"
)

// A certificate of the cluster's kubernetes.io/kubelet-serving signer, when the Config
// asks for one (spec.kubeletAPI.servingCertificate: KubeletServingSigner): the executor
// sends the manager a request for its Node and its agent's names (agentmsg.ServingCSR),
// made with its key, which never leaves it; the manager files it, approves it and
// answers with the certificate. The executor asks once it has a Node, again with a
// growing wait until it is answered with a certificate it can serve, anew when its Node
// or names change, and at 70-90% of the certificate's life, as a kubelet's certificate
// manager renews. Until then, and after an answer it cannot serve, it serves what it
// served before.

// maxAskFactor bounds the wait between requests, in retries (an hour by default): a
// cluster without a signer is asked once an hour per executor.
const maxAskFactor = 360

// signed is the signer's certificate of a certSource, and the request for it. Guarded
// by certSource.mu.
type signed struct {
	// node is the Config's Node, "" before the first Config; signer says the Config
	// asks for the signer's certificate.
	node   string
	signer bool
	// issued is the certificate served, for the Node and names in cur, until renewAt.
	issued  *tls.Certificate
	cur     string
	renewAt time.Time
	// csr is the request sent for csrFor (the same bytes each time: the manager finds
	// the request it filed for it), until nextAsk, after wait.
	csr     []byte
	csrFor  string
	nextAsk time.Time
	wait    time.Duration
}

// renewFrac draws when in its life a certificate is renewed, as a kubelet does: between
// 70 and 90%, so that the executors of a cluster do not all ask at once.
func renewFrac() float64 { return 0.7 + 0.2*rand.Float64() } //nolint:gosec // jitter, not a secret

// issuedFor is the signer's certificate if the Config asks for it and it is for want
// (the Node and names) and valid at now; nil otherwise.
func (s *signed) issuedFor(want string, now time.Time) *tls.Certificate {
	if s.signer && s.issued != nil && s.cur == want && now.Before(s.issued.Leaf.NotAfter) {
		return s.issued
	}
	return nil
}

// configure takes the Config's Node and whether it asks for the signer's certificate.
func (c *certSource) configure(cfg *agentmsg.Config) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.node, c.signer = cfg.NodeName, cfg.ServingCertificate == agentmsg.ServingCertificateSigner
}

// ask is a request to send.
type ask struct {
	request []byte
	// fresh: the request was made now (for new names, or a renewal), not sent again.
	fresh bool
	names servingcert.Names
	node  string
}

// due says whether to send a request now, and in how long to look again (0: not until
// something changes). retry is the first wait for an answer; it doubles up to
// maxAskFactor times retry.
func (c *certSource) due(retry time.Duration) (*ask, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.signer || c.node == "" {
		return nil, 0
	}
	hostname, ip := c.hosts()
	names := servingcert.AgentNames(hostname, ip)
	if names.Empty() {
		return nil, 0
	}
	want, now := c.node+"\x00"+hostname+"\x00"+ip, c.now()
	if c.cur == want && c.issued != nil && now.Before(c.renewAt) {
		return nil, c.renewAt.Sub(now)
	}
	fresh := c.csrFor != want
	if fresh {
		if err := c.ensureKeyLocked(); err != nil {
			return nil, retry
		}
		req, err := servingcert.NewRequest(c.key, c.node, names)
		if err != nil {
			return nil, retry
		}
		c.csr, c.csrFor, c.nextAsk, c.wait = req, want, time.Time{}, 0
	}
	if now.Before(c.nextAsk) {
		return nil, c.nextAsk.Sub(now)
	}
	c.wait = min(max(2*c.wait, retry), maxAskFactor*retry)
	c.nextAsk = now.Add(c.wait)
	return &ask{request: c.csr, fresh: fresh, names: names, node: c.node}, c.wait
}

// take serves the certificate (and chain) the manager sent, if it is for the key, the
// Node and names of now, and valid: otherwise the certificate served stays, and the
// error says why.
func (c *certSource) take(chainPEM []byte) (*x509.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.signer || c.key == nil {
		return nil, errors.New("the executor asked for no certificate of the cluster's signer")
	}
	hostname, ip := c.hosts()
	now := c.now()
	iss, err := servingcert.CheckIssued(chainPEM, c.key.Public(), c.node, servingcert.AgentNames(hostname, ip), now)
	if err != nil {
		return nil, err
	}
	c.issued = &tls.Certificate{Certificate: iss.Chain, PrivateKey: c.key, Leaf: iss.Leaf}
	c.cur = c.node + "\x00" + hostname + "\x00" + ip
	c.renewAt = servingcert.RenewAt(iss.Leaf.NotBefore, iss.Leaf.NotAfter, c.frac())
	// The renewal is a new request: the one answered may still be on file, with this
	// certificate.
	c.csr, c.csrFor, c.nextAsk, c.wait = nil, "", time.Time{}, 0
	return iss.Leaf, nil
}

// askForCertificate sends a request, off the loop, one at a time.
func (s *Server) askForCertificate(ctx context.Context, a *ask) {
	if a.fresh {
		s.Log.Info("Asking the manager for a serving certificate of the cluster's signer", "node", a.node, "names", a.names.String())
	}
	if !s.asking.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer s.asking.Store(false)
		b, err := agentmsg.Encode(&agentmsg.Message{Kind: agentmsg.KindServingCSR, ID: "csr-" + time.Now().UTC().Format(time.RFC3339Nano),
			ServingCSR: &agentmsg.ServingCSR{Request: string(a.request)}})
		if err == nil {
			ctx, cancel := context.WithTimeout(ctx, helloTimeout)
			defer cancel()
			err = s.Executor.SendMessage(ctx, b)
		}
		if err != nil {
			s.Log.Info("Could not send the manager a serving certificate request; asking again later", "error", err.Error())
		}
	}()
}

// takeCertificate takes the manager's answer to a request.
func (s *Server) takeCertificate(ans *agentmsg.ServingCertificate) {
	if ans.Error != "" {
		s.Log.Info("No serving certificate of the cluster's signer; serving the current one and asking again later", "error", ans.Error)
		return
	}
	leaf, err := s.certs.take([]byte(ans.Certificate))
	if err != nil {
		s.Log.Info("Refusing the serving certificate the manager sent; serving the current one", "error", err.Error())
		return
	}
	s.Log.Info("Serving the certificate of the cluster's signer", "subject", leaf.Subject.CommonName,
		"issuer", leaf.Issuer.CommonName, "notAfter", leaf.NotAfter.UTC().Format(time.RFC3339))
	s.poke() // the next look is at the renewal
}
