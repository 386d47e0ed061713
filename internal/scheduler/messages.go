package scheduler

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/k8sm/k8sm/internal/agentmsg"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/kubeletauth"
)

// The executors' reviews answered at once: maxReviews of each kind, token or access,
// and of those, for one agent, maxAgentReviews token reviews (the executor asks no more
// at once) and maxAgentAccessReviews access reviews (the executor does not bound them:
// several users' requests to one agent, or one `kubectl logs -l ... -f` over its pods,
// each ask once their cached answer expired). A review beyond them is dropped (the
// executor times out and answers its caller 503) rather than queued behind the others.
// So an agent whose executor, or a process posing as it, floods the manager with
// reviews delays only its own: neither other agents' reviews nor, with tokens, any
// access review.
//
// Nor may an agent start more than agentReviewRate reviews of a kind a second, past a
// burst of agentReviewBurst: a review of a token the executor has not cached goes to the
// API server whatever its token, so a pod posing as a client with a new random bearer
// token each time would otherwise have the API server review as many as its agent's
// share of the bounds lets through, and, from a few agents, fill maxReviews with
// reviews kept slow by its own load. Past the rate a review is dropped as above: the
// executor waits for its answer before it asks again, which slows the flood further.
// A kubelet's clients seldom need a review a second (answers are cached for minutes).
const (
	maxReviews            = 32
	maxAgentReviews       = 4
	maxAgentAccessReviews = 16
	agentReviewRate       = 10
	agentReviewBurst      = 20
)

// agentReviewLimit is how many reviews of a kind one agent may have under way.
func agentReviewLimit(kind string) int {
	if kind == agentmsg.KindAccessReview {
		return maxAgentAccessReviews
	}
	return maxAgentReviews
}

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
	if why := s.reviews.acquire(req.Kind, agentID); why != "" {
		log.Info("Dropping an executor's review: too many under way", "kind", req.Kind, "reason", why)
		return
	}
	go func() {
		defer s.reviews.release(req.Kind, agentID)
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

// reviewLimits counts the reviews under way, by kind and by kind and agent, within
// maxReviews and maxAgentReviews. The zero value is ready.
type reviewLimits struct {
	mu      sync.Mutex
	byKind  map[string]int
	byAgent map[agentReviews]int
	// rates are each agent's reviews a second, by kind (agentReviewRate).
	rates map[agentReviews]*rate.Limiter
}

type agentReviews struct{ kind, agent string }

// acquire counts a review of the agent, or says why it may not be answered now.
func (l *reviewLimits) acquire(kind, agent string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := agentReviews{kind, agent}
	switch {
	case l.byAgent[key] >= agentReviewLimit(kind):
		return fmt.Sprintf("%d of the agent's under way", agentReviewLimit(kind))
	case l.byKind[kind] >= maxReviews:
		return fmt.Sprintf("%d under way", maxReviews)
	}
	if l.byKind == nil {
		l.byKind, l.byAgent, l.rates = map[string]int{}, map[agentReviews]int{}, map[agentReviews]*rate.Limiter{}
	}
	r, ok := l.rates[key]
	if !ok {
		r = rate.NewLimiter(agentReviewRate, agentReviewBurst)
		l.rates[key] = r
	}
	if !r.Allow() {
		return fmt.Sprintf("more than %d a second of the agent's", agentReviewRate)
	}
	l.byKind[kind]++
	l.byAgent[key]++
	return ""
}

// release uncounts a review acquire counted.
func (l *reviewLimits) release(kind, agent string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := agentReviews{kind, agent}
	if l.byAgent[key]--; l.byAgent[key] <= 0 {
		delete(l.byAgent, key)
	}
	if l.byKind[kind]--; l.byKind[kind] <= 0 {
		delete(l.byKind, kind)
	}
}
