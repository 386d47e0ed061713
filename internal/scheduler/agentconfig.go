package scheduler

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/internal/agentmsg"
	"github.com/k8sm/k8sm/internal/podtask"
)

// The executors' kubelet API configuration (agentmsg.Config): an executor asks for it
// with a Hello after each subscription to its agent and every few minutes, and is sent
// it again, unasked, when the cluster changes it (its port, its client CA bundle, where
// its serving certificate comes from), so that a CA rotation reaches the agents in
// seconds rather than at their next Hello.

const (
	// maxHelloAnswers bounds the Hellos answered at once; a Hello beyond it is dropped
	// (the executor asks again) rather than queued, and never takes a review's place.
	maxHelloAnswers = 8
	// executorQuiet is how long an executor that said Hello is sent the cluster's
	// changes: several of its Hello intervals (executor/kubeletserve.HelloEvery).
	executorQuiet = 10 * time.Minute
	// configSendTimeout bounds the sending of one Config.
	configSendTimeout = 5 * time.Second
	// The action of the events about an executor's kubelet API, and their reasons, on
	// the agent's Node.
	actionKubeletAPI          = "KubeletAPI"
	reasonKubeletAPIPortTaken = "KubeletAPIPortTaken"
	reasonKubeletAPIServing   = "KubeletAPIServing"
)

// kubeletAPIState is the scheduler's part of the executors' configuration. Guarded by
// Scheduler.mu.
type kubeletAPIState struct {
	// clientCA is the PEM bundle of spec.kubeletAPI.clientCASecretRef as the MesosCluster
	// reconciler last read it; nil: none.
	clientCA []byte
	// executors said Hello lately, by agent and executor id.
	executors map[string]helloer
	// sent identifies the port and CA bundle last sent (see configKey).
	sent string
	// via is the connection the latest Hello came on, which pushes go through unless
	// the scheduler's driver is newer.
	via     messenger
	answers chan struct{}
}

// reportPort records on the Node that its executor cannot serve the kubelet API because
// another process holds the port (at most every warnEvery while it lasts), and that it
// serves again once it says so.
func (s *Scheduler) reportPort(ctx context.Context, log logr.Logger, node string, hello *agentmsg.Hello, wasTaken bool) {
	taken := hello.PortTaken
	switch {
	case taken != nil:
		if !wasTaken {
			log.Info("An executor cannot serve the kubelet API: another process holds its port", "node", node, "address", taken.Address, "error", taken.Error)
		}
		s.warnNode(ctx, node, actionKubeletAPI, reasonKubeletAPIPortTaken, fmt.Sprintf(
			"The executor on this Node's agent cannot serve the kubelet API on %s (%s): a process that is no executor of MesosCluster %s holds the port, "+
				"so the Node advertises no kubelet API port, and kubectl logs, exec, attach and port-forward to this Node's pods fail until the executor serves. "+
				"Free the port on the agent, or set the cluster's spec.kubeletAPI.port to one that is free on every agent.",
			podtask.Clamp(taken.Address, 256), podtask.Clamp(taken.Error, 256), s.clusterName()))
	case wasTaken:
		log.Info("An executor serves the kubelet API again", "node", node, "port", hello.Port)
		s.forgetWarning(node, reasonKubeletAPIPortTaken)
		s.recordNode(ctx, node, corev1.EventTypeNormal, actionKubeletAPI, reasonKubeletAPIServing,
			fmt.Sprintf("The executor on this Node's agent serves the kubelet API again, on port %d.", hello.Port))
	}
}

// KubeletAPIPortTaken returns the Nodes, sorted, whose executor said in its last Hello
// (within executorQuiet) that another process holds its kubelet API port.
func (s *Scheduler) KubeletAPIPortTaken() []string {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var nodes []string
	for _, h := range s.kubelet.executors {
		if h.portTaken && now.Sub(h.seen) <= executorQuiet && !slices.Contains(nodes, h.node) {
			nodes = append(nodes, h.node)
		}
	}
	slices.Sort(nodes)
	return nodes
}

// KubeletAPIHeardFor is how long what an executor says in a Hello of the kubelet API
// it serves holds: a little over two of its Hello intervals
// (executor/kubeletserve.HelloEvery), so that one Hello lost on the way changes nothing,
// and the Node of an agent whose executor ended advertises no port within it.
const KubeletAPIHeardFor = 5 * time.Minute

// KubeletAPIHeard returns, by agent id, the kubelet API port the agent's executors said
// in their last Hellos, within KubeletAPIHeardFor, that they serve: the cluster's port
// when one of them serves it; 0 when none does (none is serving yet, the port is taken,
// or they still serve the port the cluster had before). An agent none of whose
// executors said Hello within KubeletAPIHeardFor is absent. The agent Nodes advertise
// the port from this (agentnode.KubeletAPI).
func (s *Scheduler) KubeletAPIHeard() map[string]int32 {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	port := s.cluster.Spec.KubeletAPIPort()
	heard := map[string]int32{}
	for _, h := range s.kubelet.executors {
		if now.Sub(h.seen) > KubeletAPIHeardFor {
			continue
		}
		if port != 0 && h.port == port && !h.portTaken {
			heard[h.agentID] = port
		} else if _, ok := heard[h.agentID]; !ok {
			heard[h.agentID] = 0
		}
	}
	return heard
}

// ExecutorEnded forgets the Hellos of an executor Mesos reports ended, so that its
// agent's Node stops advertising the kubelet API port at once (KubeletAPIHeard): after
// the executor, until another says Hello, any process on the agent could take the port.
// It also forgets the executor as running on its agent (executorEndedLocked).
func (s *Scheduler) ExecutorEnded(_ context.Context, agentID, executorID string) {
	s.mu.Lock()
	_, known := s.kubelet.executors[agentID+"/"+executorID]
	delete(s.kubelet.executors, agentID+"/"+executorID)
	s.executorEndedLocked(agentID, executorID)
	s.mu.Unlock()
	if known && s.Wake != nil {
		s.Wake()
	}
}

// helloer is an executor that said Hello.
type helloer struct {
	agentID, executorID, node string
	seen                      time.Time
	// port is the port its last Hello said it serves the kubelet API on, 0 if none.
	port int32
	// portTaken: its last Hello said another process holds the kubelet API port.
	portTaken bool
	// send orders the Configs sent to the executor (sendConfigTo).
	send *sync.Mutex
}

func newKubeletAPIState() kubeletAPIState {
	return kubeletAPIState{executors: map[string]helloer{}, answers: make(chan struct{}, maxHelloAnswers)}
}

// SetKubeletClientCA records the CA bundle (PEM; nil for none) whose client
// certificates the executors accept, and sends the executors their new Config if it
// changed. The bundle is public, but is logged nowhere all the same.
func (s *Scheduler) SetKubeletClientCA(pem []byte) {
	s.mu.Lock()
	s.kubelet.clientCA = append([]byte(nil), pem...)
	s.mu.Unlock()
	s.pushKubeletConfig()
}

// kubeletConfigLocked is the Config of the executors of the agent whose Node is node.
func (s *Scheduler) kubeletConfigLocked(node string) agentmsg.Config {
	cfg := agentmsg.Config{NodeName: node, Port: s.cluster.Spec.KubeletAPIPort(), ClientCA: string(s.kubelet.clientCA)}
	if s.cluster.Spec.KubeletServingSigner() {
		cfg.ServingCertificate = agentmsg.ServingCertificateSigner
	}
	return cfg
}

// configKey identifies what every executor's Config shares.
func configKey(c agentmsg.Config) string {
	return strconv.Itoa(int(c.Port)) + "\x00" + c.ServingCertificate + "\x00" + c.ClientCA
}

// hello answers an executor's Hello with its Config, and remembers the executor for
// the changes to come. An executor of an agent the framework does not know (yet) is
// not answered: it has no Node to serve for, and asks again.
func (s *Scheduler) hello(ctx context.Context, d messenger, log logr.Logger, agentID, executorID, node, id string, hello *agentmsg.Hello) {
	if node == "" {
		log.V(1).Info("Not answering the Hello of an executor on an agent the framework does not know")
		return
	}
	now := time.Now()
	s.mu.Lock()
	k := &s.kubelet
	k.via = d
	h, known := k.executors[agentID+"/"+executorID]
	wasTaken, wasPort := known && h.portTaken, h.port
	h.portTaken, h.port = hello.PortTaken != nil, hello.Port
	if !known {
		for key, h := range k.executors {
			if now.Sub(h.seen) > executorQuiet {
				delete(k.executors, key)
			}
		}
		h.send = &sync.Mutex{}
	}
	h.agentID, h.executorID, h.node, h.seen = agentID, executorID, node, now
	k.executors[agentID+"/"+executorID] = h
	if k.sent == "" {
		k.sent = configKey(s.kubeletConfigLocked(node))
	}
	s.mu.Unlock()
	s.reportPort(ctx, log, node, hello, wasTaken)
	// The cluster's status says where the port is taken, and the agent's Node advertises
	// the port while an executor serves it (KubeletAPIHeard): both are made again.
	if (!known || wasTaken != h.portTaken || wasPort != h.port) && s.Wake != nil {
		s.Wake()
	}
	select {
	case k.answers <- struct{}{}:
	default:
		log.Info("Dropping an executor's Hello: too many under way")
		return
	}
	go func() {
		defer func() { <-k.answers }()
		s.sendConfigTo(ctx, d, log, h, id)
	}()
}

// sendConfigTo sends an executor its Config as it stands when it goes, one send to the
// executor at a time. A Hello's answer and a push after a change would otherwise race,
// and the older Config could arrive last and stay until the executor's next Hello: a
// client CA bundle that came just after an executor's first Hello was lost so, and the
// API server's kubectl logs and exec were refused (401) for two minutes.
func (s *Scheduler) sendConfigTo(ctx context.Context, d messenger, log logr.Logger, h helloer, id string) {
	h.send.Lock()
	defer h.send.Unlock()
	s.mu.Lock()
	cfg := s.kubeletConfigLocked(h.node)
	s.mu.Unlock()
	sendConfig(ctx, d, log, h.agentID, h.executorID, id, cfg)
}

// pushKubeletConfig sends the executors heard from lately their Config, if the port,
// the CA bundle or the serving certificate's source changed since the last sent.
func (s *Scheduler) pushKubeletConfig() {
	s.mu.Lock()
	k := &s.kubelet
	key := configKey(s.kubeletConfigLocked(""))
	if key == k.sent || k.via == nil { // unchanged, or nobody to tell yet
		s.mu.Unlock()
		return
	}
	k.sent = key
	d, now := k.via, time.Now()
	if m, ok := s.driver.(messenger); ok {
		d = m // the connection of the latest callback: newer, after a driver restart
	}
	var pushes []helloer
	for key, h := range k.executors {
		if now.Sub(h.seen) > executorQuiet {
			delete(k.executors, key)
			continue
		}
		pushes = append(pushes, h)
	}
	s.mu.Unlock()
	log := s.Log.WithValues("executors", len(pushes))
	log.Info("Sending the executors their new kubelet API configuration")
	go func() {
		for _, h := range pushes {
			s.sendConfigTo(context.Background(), d, s.Log.WithValues("agent", h.agentID, "executor", h.executorID),
				h, "config-"+time.Now().UTC().Format(time.RFC3339Nano))
		}
	}()
}

// sendConfig sends one executor its Config.
func sendConfig(ctx context.Context, d messenger, log logr.Logger, agentID, executorID, id string, cfg agentmsg.Config) {
	ctx, cancel := context.WithTimeout(ctx, configSendTimeout)
	defer cancel()
	b, err := agentmsg.Encode(&agentmsg.Message{Kind: agentmsg.KindConfig, ID: id, Config: &cfg})
	if err == nil {
		err = d.SendMessage(ctx, agentID, executorID, b)
	}
	if err != nil {
		log.V(1).Info("Could not send an executor its kubelet API configuration", "error", err.Error())
	}
}
