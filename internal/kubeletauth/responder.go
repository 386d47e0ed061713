// Package kubeletauth answers, for the executors, the questions a kubelet asks the API
// server about the callers of its API: is this bearer token valid (a TokenReview), and
// may this user do this to my Node (a SubjectAccessReview). The executors ask over Mesos
// framework messages (internal/agentmsg) because agents hold no Kubernetes credentials.
package kubeletauth

import (
	"context"
	"fmt"

	"github.com/k8sm/k8sm/internal/agentmsg"
)

// Reviewer asks the API server. Its errors mean no answer (the executor then answers
// 503), not a refusal.
type Reviewer interface {
	ReviewToken(ctx context.Context, token string, audiences []string) (authenticated bool, user *agentmsg.User, err error)
	ReviewAccess(ctx context.Context, user agentmsg.User, verb, node, subresource string) (allowed bool, reason string, err error)
}

// Subresources of nodes a kubelet checks access to (pkg/kubelet/server/auth.go), the
// only ones an executor may ask about: an executor is not an oracle for any access.
var Subresources = map[string]bool{
	"proxy": true, "log": true, "stats": true, "metrics": true, "spec": true, "pods": true,
	"healthz": true, "configz": true, "checkpoint": true,
}

// verbs a kubelet maps HTTP methods to.
var verbs = map[string]bool{"get": true, "list": true, "watch": true, "create": true, "update": true, "patch": true, "delete": true}

// Answer answers a request from the executor on the agent whose Node is node; nil for
// a message that asks nothing (an answer, which only executors get).
func Answer(ctx context.Context, r Reviewer, node string, req *agentmsg.Message) *agentmsg.Message {
	ans := &agentmsg.Answer{}
	switch req.Kind {
	case agentmsg.KindTokenReview:
		ok, user, err := r.ReviewToken(ctx, req.TokenReview.Token, req.TokenReview.Audiences)
		if err != nil {
			ans.Error = "reviewing the token: " + err.Error()
		} else if ans.Authenticated = ok && user != nil; ans.Authenticated {
			ans.User = user
		}
	case agentmsg.KindAccessReview:
		ar := req.AccessReview
		switch {
		case node == "":
			ans.Reason = "the agent has no Node"
		case !verbs[ar.Verb] || !Subresources[ar.Subresource]:
			ans.Reason = fmt.Sprintf("executors may ask about the kubelet's access checks only, not %s nodes/%s", ar.Verb, ar.Subresource)
		default:
			allowed, reason, err := r.ReviewAccess(ctx, ar.User, ar.Verb, node, ar.Subresource)
			if err != nil {
				ans.Error = "reviewing access: " + err.Error()
			}
			ans.Allowed, ans.Reason = allowed && err == nil, reason
		}
	default:
		return nil
	}
	return &agentmsg.Message{Kind: agentmsg.KindAnswer, ID: req.ID, Answer: ans}
}
