package scheduler

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/k8sm/k8sm/internal/agentmsg"
	"github.com/k8sm/k8sm/internal/framework"
)

// sentMessages records the framework messages a scheduler sends.
type sentMessages struct {
	mu   sync.Mutex
	sent []*agentmsg.Message
	to   []string
}

func (m *sentMessages) SendMessage(_ context.Context, agentID, executorID string, data []byte) error {
	msg, err := agentmsg.Decode(data)
	if err != nil {
		// Recorded all the same: a test must see what should not have been sent.
		msg = &agentmsg.Message{Kind: "undecodable: " + err.Error()}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent, m.to = append(m.sent, msg), append(m.to, agentID+"/"+executorID)
	return err
}

func (m *sentMessages) wait(t *testing.T) (*agentmsg.Message, string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		m.mu.Lock()
		if len(m.sent) > 0 {
			defer m.mu.Unlock()
			return m.sent[0], m.to[0]
		}
		m.mu.Unlock()
	}
	t.Fatal("no answer sent")
	return nil, ""
}

// reviewer allows what is asked about the Node it names.
type nodeReviewer struct{ node string }

func (r nodeReviewer) ReviewToken(context.Context, string, []string) (bool, *agentmsg.User, error) {
	return false, nil, nil
}

func (r nodeReviewer) ReviewAccess(_ context.Context, _ agentmsg.User, _, node, _ string) (bool, string, error) {
	return node == r.node, "", nil
}

// An executor's access review is answered to that executor, about the Node of the agent
// the message came from (here the second agent sharing a host, on port 5052), never a
// Node the executor could name.
func TestAnExecutorsReviewIsAnsweredAboutItsOwnNode(t *testing.T) {
	c := fakeAPI(t)
	s, _ := newTestScheduler(c, newFakeDriver())
	s.Reviewer = nodeReviewer{node: "mesos-c-127.0.0.1-5052"}
	sent := &sentMessages{}
	agents := map[string]framework.Agent{"a1": {ID: "a1", Hostname: "127.0.0.1"}, "a2": {ID: "a2", Hostname: "127.0.0.1", Port: 5052}}
	req, _ := agentmsg.Encode(&agentmsg.Message{Kind: agentmsg.KindAccessReview, ID: "r1",
		AccessReview: &agentmsg.AccessReview{User: agentmsg.User{Name: "kube-apiserver-kubelet-client"}, Verb: "get", Subresource: "log"}})

	s.message(context.Background(), sent, agents, "a2", "ex", req)

	ans, to := sent.wait(t)
	if to != "a2/ex" || ans.ID != "r1" || !ans.Answer.Allowed {
		t.Fatalf("sent %+v to %s, want r1 allowed to a2/ex", ans.Answer, to)
	}
}

// The reviews under way are bounded by kind, and by kind and agent: an agent at its
// bound, or a kind at its own, leaves the others their budget.
func TestReviewLimits(t *testing.T) {
	type review struct{ kind, agent string }
	const token, access = agentmsg.KindTokenReview, agentmsg.KindAccessReview
	// flood is n token reviews of each agent a0, a1, ...
	flood := func(agents, n int) []review {
		var rs []review
		for a := range agents {
			for range n {
				rs = append(rs, review{token, fmt.Sprintf("a%d", a)})
			}
		}
		return rs
	}
	// accesses is n access reviews of agent a0.
	accesses := func(n int) []review {
		var rs []review
		for range n {
			rs = append(rs, review{access, "a0"})
		}
		return rs
	}
	for _, tc := range []struct {
		name     string
		held     []review
		released []review
		ask      review
		want     bool
	}{
		{name: "none under way", ask: review{token, "a0"}, want: true},
		{name: "access reviews of one agent past the token bound", held: accesses(maxAgentAccessReviews - 1), ask: review{access, "a0"}, want: true},
		{name: "access reviews of one agent at their bound", held: accesses(maxAgentAccessReviews), ask: review{access, "a0"}},
		{name: "the agent at its bound", held: flood(1, maxAgentReviews), ask: review{token, "a0"}},
		{name: "another agent", held: flood(1, maxAgentReviews), ask: review{token, "other"}, want: true},
		{name: "an access review of an agent at its token bound", held: flood(1, maxAgentReviews), ask: review{access, "a0"}, want: true},
		{name: "every token review under way", held: flood(maxReviews/maxAgentReviews, maxAgentReviews), ask: review{token, "other"}},
		{name: "an access review while every token review is under way", held: flood(maxReviews/maxAgentReviews, maxAgentReviews), ask: review{access, "other"}, want: true},
		{name: "the agent once one of its reviews ended", held: flood(1, maxAgentReviews), released: flood(1, 1), ask: review{token, "a0"}, want: true},
		{name: "another agent once one review ended", held: flood(maxReviews/maxAgentReviews, maxAgentReviews), released: flood(1, 1), ask: review{token, "other"}, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l reviewLimits
			for _, r := range tc.held {
				if why := l.acquire(r.kind, r.agent); why != "" {
					t.Fatalf("holding %v: %s", r, why)
				}
			}
			for _, r := range tc.released {
				l.release(r.kind, r.agent)
			}
			if why := l.acquire(tc.ask.kind, tc.ask.agent); (why == "") != tc.want {
				t.Errorf("acquire(%v) = %q, want allowed %v", tc.ask, why, tc.want)
			}
		})
	}
}

// One agent's reviews a second are bounded, one after another as well as at once: a pod
// posing as a client with a new random token each time cannot have the API server
// review as many as it likes. Another agent's, and the agent's other kind, are not held
// against it.
func TestReviewRatePerAgent(t *testing.T) {
	const token, access = agentmsg.KindTokenReview, agentmsg.KindAccessReview
	var l reviewLimits
	allowed := 0
	for range 10 * agentReviewBurst {
		if l.acquire(token, "a0") == "" {
			allowed++
			l.release(token, "a0")
		}
	}
	if allowed < agentReviewBurst || allowed >= 2*agentReviewBurst {
		t.Errorf("%d of %d reviews one after another allowed, want about the burst, %d", allowed, 10*agentReviewBurst, agentReviewBurst)
	}
	for _, r := range []struct{ kind, agent string }{{token, "a1"}, {access, "a0"}} {
		if why := l.acquire(r.kind, r.agent); why != "" {
			t.Errorf("%v: %s, want it allowed", r, why)
		}
	}
}

// floodReviewer holds the reviews of the token "flood" until release is closed, and
// allows every other token and access.
type floodReviewer struct{ release chan struct{} }

func (r floodReviewer) ReviewToken(ctx context.Context, token string, _ []string) (bool, *agentmsg.User, error) {
	if token == "flood" {
		select {
		case <-r.release:
		case <-ctx.Done():
		}
		return false, nil, nil
	}
	return true, &agentmsg.User{Name: "robot"}, nil
}

func (r floodReviewer) ReviewAccess(context.Context, agentmsg.User, string, string, string) (bool, string, error) {
	return true, "", nil
}

// An agent sending many token reviews, none answered yet, delays neither another
// agent's token reviews nor its own access reviews.
func TestAnAgentsReviewsDoNotStarveOthers(t *testing.T) {
	c := fakeAPI(t)
	s, _ := newTestScheduler(c, newFakeDriver())
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	s.Reviewer = floodReviewer{release: release}
	sent := &sentMessages{}
	agents := map[string]framework.Agent{"a1": {ID: "a1", Hostname: "h1"}, "a2": {ID: "a2", Hostname: "h2"}}
	ask := func(agent, id string, m *agentmsg.Message) {
		m.ID = id
		b, err := agentmsg.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		s.message(context.Background(), sent, agents, agent, "ex", b)
	}
	for i := range maxReviews {
		ask("a1", fmt.Sprintf("flood-%d", i), &agentmsg.Message{Kind: agentmsg.KindTokenReview, TokenReview: &agentmsg.TokenReview{Token: "flood"}})
	}
	ask("a2", "token", &agentmsg.Message{Kind: agentmsg.KindTokenReview, TokenReview: &agentmsg.TokenReview{Token: "good"}})
	ask("a1", "access", &agentmsg.Message{Kind: agentmsg.KindAccessReview,
		AccessReview: &agentmsg.AccessReview{User: agentmsg.User{Name: "kube-apiserver-kubelet-client"}, Verb: "get", Subresource: "log"}})

	for _, want := range []struct{ id, to string }{{"token", "a2/ex"}, {"access", "a1/ex"}} {
		ans := sent.waitFor(t, want.id)
		if ans.to != want.to || (ans.msg.Answer.Error != "") {
			t.Errorf("answer %s: %+v to %s, want one to %s", want.id, ans.msg.Answer, ans.to, want.to)
		}
	}
}

type sentMessage struct {
	msg *agentmsg.Message
	to  string
}

// waitFor returns the message sent with the ID.
func (m *sentMessages) waitFor(t *testing.T, id string) sentMessage {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		m.mu.Lock()
		for i, msg := range m.sent {
			if msg.ID == id {
				defer m.mu.Unlock()
				return sentMessage{msg, m.to[i]}
			}
		}
		m.mu.Unlock()
	}
	t.Fatalf("no answer %s sent", id)
	return sentMessage{}
}
