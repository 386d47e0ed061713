// Package agentauth is the executor's side of the kubelet API's authentication and
// authorization: a kubeletapi.TokenReviewer and a kubeletapi.Authorizer that ask the
// manager, over Mesos framework messages (internal/agentmsg), the questions a kubelet
// asks the API server. The executor holds no Kubernetes credentials; the manager answers
// with a TokenReview or a SubjectAccessReview about the Node of the executor's agent
// (internal/kubeletauth), never a Node the executor names.
package agentauth

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/k8sm/k8sm/executor/kubeletapi"
	"github.com/k8sm/k8sm/internal/agentmsg"
)

// DefaultTimeout is how long a question waits for its answer, as the kubelet's
// DefaultReviewTimeout: past it the request is answered 503.
const DefaultTimeout = 10 * time.Second

// Client asks the manager. Deliver must be handed every Answer the executor gets.
type Client struct {
	// Send sends a framework message (executor.Executor.SendMessage).
	Send func(ctx context.Context, data []byte) error
	// Timeout bounds each question; 0 means DefaultTimeout.
	Timeout time.Duration

	mu      sync.Mutex
	waiting map[string]chan *agentmsg.Answer
}

var (
	_ kubeletapi.TokenReviewer = (*Client)(nil)
	_ kubeletapi.Authorizer    = (*Client)(nil)
)

// Review asks whether a bearer token is valid, and whose it is. The token travels to the
// manager only, in a message Mesos relays and does not store.
func (c *Client) Review(ctx context.Context, token string) (user.Info, bool, error) {
	ans, err := c.ask(ctx, &agentmsg.Message{Kind: agentmsg.KindTokenReview, TokenReview: &agentmsg.TokenReview{Token: token}})
	if err != nil {
		return nil, false, err
	}
	if !ans.Authenticated || ans.User == nil {
		return nil, false, nil
	}
	u := ans.User
	return &user.DefaultInfo{Name: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.Extra}, true, nil
}

// Authorize asks whether the user may do the verb to the subresource of the executor's
// Node: DecisionAllow if the manager's SubjectAccessReview allows it, else
// DecisionNoOpinion with its reason (the kubelet's webhook authorizer's answers).
func (c *Client) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if !a.IsResourceRequest() || a.GetResource() != "nodes" || a.GetAPIGroup() != "" {
		// The kubelet API asks about nodes/<subresource> only (kubeletapi.requestAttributes).
		return authorizer.DecisionNoOpinion, "the manager reviews access to nodes subresources only", nil
	}
	if a.GetVerb() == "" {
		// A method the kubelet maps to no verb (HEAD, OPTIONS…), which RBAC allows only
		// to a rule of every verb. The manager drops a review without a verb: asked, the
		// request would wait out the timeout and be answered 503, not 403.
		return authorizer.DecisionNoOpinion, "the manager reviews the kubelet's verbs only, not none", nil
	}
	u := a.GetUser()
	ar := &agentmsg.AccessReview{
		User: agentmsg.User{Name: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups(), Extra: u.GetExtra()},
		Verb: a.GetVerb(), Subresource: a.GetSubresource(),
	}
	ans, err := c.ask(ctx, &agentmsg.Message{Kind: agentmsg.KindAccessReview, AccessReview: ar})
	if err != nil {
		return authorizer.DecisionNoOpinion, "", err
	}
	if ans.Allowed {
		return authorizer.DecisionAllow, ans.Reason, nil
	}
	return authorizer.DecisionNoOpinion, ans.Reason, nil
}

// Deliver hands an Answer to the question of its ID; it says whether one was waiting
// (an answer past its question's timeout finds none).
func (c *Client) Deliver(m *agentmsg.Message) bool {
	if m.Kind != agentmsg.KindAnswer || m.Answer == nil {
		return false
	}
	c.mu.Lock()
	ch, ok := c.waiting[m.ID]
	delete(c.waiting, m.ID)
	c.mu.Unlock()
	if ok {
		ch <- m.Answer // buffered, and sent on once: never blocks the event loop
	}
	return ok
}

// ask sends a question under a new ID and waits for its answer. No answer in time, a
// message that cannot be sent, or an answer that says the manager could not ask the API
// server: ErrUnavailable, which the kubelet API answers 503.
func (c *Client) ask(ctx context.Context, m *agentmsg.Message) (*agentmsg.Answer, error) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m.ID = uuid.NewString()
	b, err := agentmsg.Encode(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", kubeletapi.ErrUnavailable, err)
	}
	ch := make(chan *agentmsg.Answer, 1)
	c.mu.Lock()
	if c.waiting == nil {
		c.waiting = map[string]chan *agentmsg.Answer{}
	}
	c.waiting[m.ID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, m.ID)
		c.mu.Unlock()
	}()
	if err := c.Send(ctx, b); err != nil {
		return nil, fmt.Errorf("%w: asking the manager (%s): %v", kubeletapi.ErrUnavailable, m.Kind, err)
	}
	select {
	case ans := <-ch:
		if ans.Error != "" {
			return nil, fmt.Errorf("%w: the manager could not answer (%s): %s", kubeletapi.ErrUnavailable, m.Kind, ans.Error)
		}
		return ans, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: no answer from the manager (%s): %v", kubeletapi.ErrUnavailable, m.Kind, ctx.Err())
	}
}
