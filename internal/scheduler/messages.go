package scheduler

import (
	"context"
	"time"

	"github.com/k8sm/k8sm/internal/agentmsg"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/kubeletauth"
)

// maxReviews bounds the reviews answered at once; a review beyond it is dropped (the
// executor times out and answers its caller 503) rather than queued behind the others.
const maxReviews = 32

// reviewTimeout bounds one review, under the executor's own wait.
const reviewTimeout = 5 * time.Second

// messenger is the part of a driver that sends framework messages.
type messenger interface {
	SendMessage(ctx context.Context, agentID, executorID string, data []byte) error
}

var _ framework.MessageReceiver = (*Scheduler)(nil)

// Message answers an executor's Hello with its Config (agentconfig.go), its token or
// access review (internal/agentmsg) about the Node of the agent the message came from,
// and its serving certificate request for that Node (servingcert.go), off the event
// loop.
func (s *Scheduler) Message(ctx context.Context, d *framework.Driver, agentID, executorID string, data []byte) {
	s.message(ctx, d, d.Status().Agents, agentID, executorID, data)
}

func (s *Scheduler) message(ctx context.Context, d messenger, agents map[string]framework.Agent, agentID, executorID string, data []byte) {
	log := s.Log.WithValues("agent", agentID, "executor", executorID)
	req, err := agentmsg.Decode(data)
	if err != nil {
		log.Info("Ignoring a message from an executor", "error", err.Error())
		return
	}
	node := ""
	a, ok := agents[agentID]
	if ok {
		node = agentnode.NodeName(s.clusterName(), a.Hostname, a.Port)
	}
	switch req.Kind {
	case agentmsg.KindHello:
		s.hello(ctx, d, log, agentID, executorID, node, req.ID, req.Hello)
		return
	case agentmsg.KindServingCSR:
		s.servingCSR(ctx, d, log, a, executorID, node, req)
		return
	case agentmsg.KindTokenReview, agentmsg.KindAccessReview:
	default: // answers and configurations are for executors
		return
	}
	if s.Reviewer == nil {
		return
	}
	select {
	case s.reviews <- struct{}{}:
	default:
		log.Info("Dropping an executor's review: too many under way", "kind", req.Kind)
		return
	}
	go func() {
		defer func() { <-s.reviews }()
		rctx, cancel := context.WithTimeout(ctx, reviewTimeout)
		defer cancel()
		ans := kubeletauth.Answer(rctx, s.Reviewer, node, req)
		b, err := agentmsg.Encode(ans)
		if err == nil {
			err = d.SendMessage(rctx, agentID, executorID, b)
		}
		if err != nil {
			log.V(1).Info("Could not answer an executor's review", "kind", req.Kind, "error", err.Error())
		}
	}()
}
