package kubeletauth

import (
	"context"
	"errors"
	"testing"

	"github.com/k8sm/k8sm/internal/agentmsg"
)

// fakeReviewer allows the token "good" (user alice) and alice's get on nodes/log of
// node-a; it fails when broken.
type fakeReviewer struct {
	broken bool
	asked  []string // node/subresource of each access review
}

func (f *fakeReviewer) ReviewToken(_ context.Context, token string, _ []string) (bool, *agentmsg.User, error) {
	if f.broken {
		return false, nil, errors.New("apiserver down")
	}
	if token == "good" {
		return true, &agentmsg.User{Name: "alice"}, nil
	}
	return false, nil, nil
}

func (f *fakeReviewer) ReviewAccess(_ context.Context, user agentmsg.User, verb, node, sub string) (bool, string, error) {
	f.asked = append(f.asked, node+"/"+sub)
	if f.broken {
		return false, "", errors.New("apiserver down")
	}
	if user.Name == "alice" && verb == "get" && node == "node-a" && sub == "log" {
		return true, "", nil
	}
	return false, "RBAC: no", nil
}

func TestAnswer(t *testing.T) {
	token := func(tok string) *agentmsg.Message {
		return &agentmsg.Message{Kind: agentmsg.KindTokenReview, ID: "t", TokenReview: &agentmsg.TokenReview{Token: tok}}
	}
	access := func(user, verb, sub string) *agentmsg.Message {
		return &agentmsg.Message{Kind: agentmsg.KindAccessReview, ID: "a", AccessReview: &agentmsg.AccessReview{User: agentmsg.User{Name: user}, Verb: verb, Subresource: sub}}
	}
	cases := []struct {
		name    string
		req     *agentmsg.Message
		node    string
		broken  bool
		want    agentmsg.Answer
		asksFor string // the node/subresource reviewed; empty: none
	}{
		{"a valid token", token("good"), "node-a", false, agentmsg.Answer{Authenticated: true, User: &agentmsg.User{Name: "alice"}}, ""},
		{"an invalid token", token("bad"), "node-a", false, agentmsg.Answer{}, ""},
		{"no answer from the API server", token("good"), "node-a", true, agentmsg.Answer{Error: "reviewing the token: apiserver down"}, ""},
		{"allowed", access("alice", "get", "log"), "node-a", false, agentmsg.Answer{Allowed: true}, "node-a/log"},
		{"denied", access("bob", "get", "log"), "node-a", false, agentmsg.Answer{Reason: "RBAC: no"}, "node-a/log"},
		{"about the agent's own Node only", access("alice", "get", "log"), "node-b", false, agentmsg.Answer{Reason: "RBAC: no"}, "node-b/log"},
		{"not a kubelet subresource", access("alice", "get", "status"), "node-a", false,
			agentmsg.Answer{Reason: "executors may ask about the kubelet's access checks only, not get nodes/status"}, ""},
		{"not a kubelet verb", access("alice", "impersonate", "proxy"), "node-a", false,
			agentmsg.Answer{Reason: "executors may ask about the kubelet's access checks only, not impersonate nodes/proxy"}, ""},
		{"an agent without a Node", access("alice", "get", "log"), "", false, agentmsg.Answer{Reason: "the agent has no Node"}, ""},
		{"access without an answer", access("alice", "get", "log"), "node-a", true, agentmsg.Answer{Error: "reviewing access: apiserver down"}, "node-a/log"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &fakeReviewer{broken: tc.broken}
			got := Answer(context.Background(), r, tc.node, tc.req)
			if got == nil || got.Kind != agentmsg.KindAnswer || got.ID != tc.req.ID || got.Answer == nil {
				t.Fatalf("Answer = %+v, want an answer to %s", got, tc.req.ID)
			}
			a := *got.Answer
			if a.Authenticated != tc.want.Authenticated || a.Allowed != tc.want.Allowed || a.Reason != tc.want.Reason || a.Error != tc.want.Error ||
				(a.User == nil) != (tc.want.User == nil) || (a.User != nil && a.User.Name != tc.want.User.Name) {
				t.Errorf("answer %+v, want %+v", a, tc.want)
			}
			if asked := ""; len(r.asked) > 0 {
				asked = r.asked[0]
				if asked != tc.asksFor {
					t.Errorf("reviewed %s, want %q", asked, tc.asksFor)
				}
			} else if tc.asksFor != "" {
				t.Errorf("nothing reviewed, want %s", tc.asksFor)
			}
		})
	}
	if Answer(context.Background(), &fakeReviewer{}, "node-a", &agentmsg.Message{Kind: agentmsg.KindAnswer, ID: "x", Answer: &agentmsg.Answer{}}) != nil {
		t.Error("an answer from an executor was answered")
	}
}
