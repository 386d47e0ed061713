package scheduler

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/agentmsg"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/kubeletauth"
	"github.com/k8sm/k8sm/internal/servingcert"
)

// The executors' serving certificates from the cluster's kubernetes.io/kubelet-serving
// signer (spec.kubeletAPI.servingCertificate: KubeletServingSigner): an executor sends a
// certificate request (agentmsg.ServingCSR); the manager checks that it names only the
// Node of the agent the message came from and that agent's hostname and IP, as Mesos
// reports them (internal/servingcert), files and approves it (kubeletauth.ClientSigner),
// and answers with the certificate or why there is none.

const (
	// maxSignings bounds the requests under way at once; one beyond it is dropped (the
	// executor asks again) rather than queued.
	maxSignings = 8
	// DefaultSignTimeout is how long a request waits for the signer before the executor
	// is told there is none. kube-controller-manager signs in well under a second.
	DefaultSignTimeout = time.Minute
	// servingCertLife is the life asked of a certificate, as long as the kubelet-serving
	// signer gives by default (--cluster-signing-duration); the executor renews it at
	// 70-90% of the life it gets.
	servingCertLife = 365 * 24 * time.Hour
	// warnEvery bounds the Warning events about one Node's certificate: an executor asks
	// again within minutes, a flood of requests must not be a flood of events.
	warnEvery = 10 * time.Minute
	// maxEventNote is the longest note events.k8s.io takes.
	maxEventNote = 1024
	// The action of the events about serving certificates, and their reasons, on the
	// agent's Node.
	actionServingCertificate   = "ServingCertificate"
	reasonServingCertIssued    = "ServingCertificateIssued"
	reasonServingCertRefused   = "ServingCertificateRefused"
	reasonServingCertNotIssued = "ServingCertificateNotIssued"
)

// ServingSigner gets a certificate of the cluster's signer for an executor's request,
// checked: a kubeletauth.ClientSigner.
type ServingSigner interface {
	Sign(ctx context.Context, r kubeletauth.SignRequest) ([]byte, error)
}

// signingState is what the scheduler keeps of the requests.
type signingState struct {
	slots chan struct{}
	mu    sync.Mutex
	// under is the requests under way, by object name: a request sent again while it
	// waits is not filed twice.
	under map[string]bool
	// warned is when a Warning event was last recorded, by Node and reason.
	warned map[string]time.Time
}

func newSigningState() *signingState {
	return &signingState{slots: make(chan struct{}, maxSignings), under: map[string]bool{}, warned: map[string]time.Time{}}
}

// servingCSR answers an executor's certificate request, off the event loop.
func (s *Scheduler) servingCSR(ctx context.Context, d messenger, log logr.Logger, agent framework.Agent, executorID, node string, req *agentmsg.Message) {
	if node == "" || s.Signer == nil {
		log.V(1).Info("Not answering a serving certificate request: the agent has no Node, or the manager files no requests")
		return
	}
	s.mu.Lock()
	cluster, signer := s.cluster.Name, s.cluster.Spec.KubeletServingSigner()
	s.mu.Unlock()
	answer := func(ctx context.Context, cert []byte, why string) {
		answerCSR(ctx, d, log, agent.ID, executorID, req.ID, cert, why)
	}
	sg := s.signing
	select {
	case sg.slots <- struct{}{}:
	default:
		log.Info("Dropping an executor's serving certificate request: too many under way")
		return
	}
	release := func() { <-sg.slots }
	if !signer {
		go func() {
			defer release()
			answer(ctx, nil, "the MesosCluster's executors serve self-signed certificates (spec.kubeletAPI.servingCertificate)")
		}()
		return
	}
	names := servingcert.AgentNames(agent.Hostname, agent.IP)
	csr, err := servingcert.Parse([]byte(req.ServingCSR.Request))
	if err == nil {
		err = servingcert.Check(csr, node, names)
	}
	if err != nil {
		why := "Refused the serving certificate request of the executor on this Node's agent: " + err.Error()
		log.Info("Refusing an executor's serving certificate request", "node", node, "reason", err.Error())
		go func() {
			defer release()
			s.warnNode(ctx, node, actionServingCertificate, reasonServingCertRefused, why)
			answer(ctx, nil, why)
		}()
		return
	}
	r := kubeletauth.SignRequest{Cluster: cluster, Node: node, AgentID: agent.ID, Request: []byte(req.ServingCSR.Request),
		Names: names, ExpirationSeconds: int32(servingCertLife / time.Second)}
	name := servingcert.ObjectName(cluster, node, r.Request)
	sg.mu.Lock()
	dup := sg.under[name]
	sg.under[name] = true
	sg.mu.Unlock()
	if dup {
		release()
		log.V(1).Info("A serving certificate request sent again while it waits", "node", node)
		return
	}
	go func() {
		defer release()
		defer func() {
			sg.mu.Lock()
			delete(sg.under, name)
			sg.mu.Unlock()
		}()
		cert, why := s.sign(ctx, log, r)
		answer(ctx, cert, why)
	}()
}

// sign files a checked request and waits for its certificate, at most SignTimeout; it
// returns the certificate, or why there is none, which the Node is told.
func (s *Scheduler) sign(ctx context.Context, log logr.Logger, r kubeletauth.SignRequest) ([]byte, string) {
	timeout := s.SignTimeout
	if timeout <= 0 {
		timeout = DefaultSignTimeout
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cert, err := s.Signer.Sign(sctx, r)
	if err != nil {
		why := "No serving certificate for the executor on this Node's agent, which serves a self-signed one: " + err.Error()
		log.Info("No serving certificate for an agent's Node", "node", r.Node, "notSigned", errors.Is(err, kubeletauth.ErrNotSigned), "error", err.Error())
		s.warnNode(ctx, r.Node, actionServingCertificate, reasonServingCertNotIssued, why)
		return nil, why
	}
	log.Info("Issued a serving certificate for an agent's Node", "node", r.Node, "names", r.Names.String())
	s.recordNode(ctx, r.Node, corev1.EventTypeNormal, actionServingCertificate, reasonServingCertIssued,
		"The cluster's "+servingcert.SignerName+" signer issued the serving certificate of the executor on this Node's agent, for "+r.Names.String())
	return cert, ""
}

// answerCSR sends an executor the answer to its request id: the certificate, or why
// there is none.
func answerCSR(ctx context.Context, d messenger, log logr.Logger, agentID, executorID, id string, cert []byte, why string) {
	ans := &agentmsg.ServingCertificate{Certificate: string(cert), Error: why}
	if len(ans.Certificate) > agentmsg.MaxCertificateSize {
		ans.Certificate, ans.Error = "", "the certificate the signer issued is over the size the executor takes"
	}
	ctx, cancel := context.WithTimeout(ctx, configSendTimeout)
	defer cancel()
	b, err := agentmsg.Encode(&agentmsg.Message{Kind: agentmsg.KindServingCertificate, ID: id, ServingCertificate: ans})
	if err == nil {
		err = d.SendMessage(ctx, agentID, executorID, b)
	}
	if err != nil {
		log.V(1).Info("Could not answer an executor's serving certificate request", "error", err.Error())
	}
}

// warnNode records a Warning event on the Node, unless one of the same reason was
// recorded within warnEvery.
func (s *Scheduler) warnNode(ctx context.Context, node, action, reason, note string) {
	sg, now := s.signing, time.Now()
	sg.mu.Lock()
	if now.Sub(sg.warned[node+"/"+reason]) < warnEvery {
		sg.mu.Unlock()
		return
	}
	for k, t := range sg.warned { // the map holds the Nodes warned about lately, no more
		if now.Sub(t) >= warnEvery {
			delete(sg.warned, k)
		}
	}
	sg.warned[node+"/"+reason] = now
	sg.mu.Unlock()
	s.recordNode(ctx, node, corev1.EventTypeWarning, action, reason, note)
}

// forgetWarning lets the next Warning of reason on the Node be recorded at once: what it
// warned about passed.
func (s *Scheduler) forgetWarning(node, reason string) {
	s.signing.mu.Lock()
	delete(s.signing.warned, node+"/"+reason)
	s.signing.mu.Unlock()
}

// recordNode records an event on the agent's Node, as the cache holds it (a Node not
// there yet is named without its UID).
func (s *Scheduler) recordNode(ctx context.Context, node, eventType, action, reason, note string) {
	if s.Recorder == nil {
		return
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}
	if s.Client != nil {
		_ = s.Client.Get(ctx, client.ObjectKey{Name: node}, n)
	}
	if len(note) > maxEventNote {
		note = note[:maxEventNote-3] + "..."
	}
	s.Recorder.Eventf(n, nil, eventType, reason, action, "%s", note)
}
