package agentauth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/k8sm/k8sm/executor/kubeletapi"
	"github.com/k8sm/k8sm/internal/agentmsg"
)

// manager answers questions as the test says, through Deliver, after they are sent.
type manager struct {
	client  *Client
	answer  func(*agentmsg.Message) *agentmsg.Answer // nil answer: none
	sendErr error
	mu      sync.Mutex
	asked   []*agentmsg.Message
}

func newManager(answer func(*agentmsg.Message) *agentmsg.Answer) *manager {
	m := &manager{answer: answer}
	m.client = &Client{Send: m.send, Timeout: 200 * time.Millisecond}
	return m
}

func (m *manager) send(_ context.Context, data []byte) error {
	if m.sendErr != nil {
		return m.sendErr
	}
	q, err := agentmsg.Decode(data)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.asked = append(m.asked, q)
	m.mu.Unlock()
	if a := m.answer(q); a != nil {
		go m.client.Deliver(&agentmsg.Message{Kind: agentmsg.KindAnswer, ID: q.ID, Answer: a})
	}
	return nil
}

func TestReview(t *testing.T) {
	cases := []struct {
		name        string
		answer      *agentmsg.Answer
		sendErr     error
		wantUser    string
		unavailable bool
	}{
		{"a valid token", &agentmsg.Answer{Authenticated: true, User: &agentmsg.User{Name: "alice", Groups: []string{"devs"}}}, nil, "alice", false},
		{"an invalid token", &agentmsg.Answer{}, nil, "", false},
		{"authenticated without a user", &agentmsg.Answer{Authenticated: true}, nil, "", false},
		{"the manager could not ask", &agentmsg.Answer{Error: "apiserver down"}, nil, "", true},
		{"no answer", nil, nil, "", true},
		{"the message is not sent", nil, errors.New("agent away"), "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newManager(func(*agentmsg.Message) *agentmsg.Answer { return tc.answer })
			m.sendErr = tc.sendErr
			u, ok, err := m.client.Review(context.Background(), "secret-token")
			if tc.unavailable {
				if !errors.Is(err, kubeletapi.ErrUnavailable) {
					t.Fatalf("err = %v, want ErrUnavailable", err)
				}
				return
			}
			if err != nil || ok != (tc.wantUser != "") || (ok && (u.GetName() != tc.wantUser || u.GetGroups()[0] != "devs")) {
				t.Fatalf("Review = %v, %v, %v; want %q", u, ok, err, tc.wantUser)
			}
			if q := m.asked[0]; q.Kind != agentmsg.KindTokenReview || q.TokenReview.Token != "secret-token" {
				t.Errorf("asked %+v", q)
			}
		})
	}
}

func TestAuthorize(t *testing.T) {
	alice := &user.DefaultInfo{Name: "alice", Groups: []string{"system:authenticated"}, Extra: map[string][]string{"scope": {"x"}}}
	nodeLog := authorizer.AttributesRecord{User: alice, Verb: "get", Resource: "nodes", Subresource: "log", Name: "n", ResourceRequest: true}
	cases := []struct {
		name        string
		attrs       authorizer.AttributesRecord
		answer      *agentmsg.Answer
		want        authorizer.Decision
		reason      string
		unavailable bool
		asks        bool
	}{
		{"allowed", nodeLog, &agentmsg.Answer{Allowed: true}, authorizer.DecisionAllow, "", false, true},
		{"denied", nodeLog, &agentmsg.Answer{Reason: "RBAC: no"}, authorizer.DecisionNoOpinion, "RBAC: no", false, true},
		{"the manager could not ask", nodeLog, &agentmsg.Answer{Error: "apiserver down", Reason: "x"}, authorizer.DecisionNoOpinion, "", true, true},
		{"no answer", nodeLog, nil, authorizer.DecisionNoOpinion, "", true, true},
		{"not about nodes", authorizer.AttributesRecord{User: alice, Verb: "get", Resource: "pods", ResourceRequest: true},
			nil, authorizer.DecisionNoOpinion, "the manager reviews access to nodes subresources only", false, false},
		{"a non-resource request", authorizer.AttributesRecord{User: alice, Verb: "get", Path: "/healthz"},
			nil, authorizer.DecisionNoOpinion, "the manager reviews access to nodes subresources only", false, false},
		// HEAD, OPTIONS…: the kubelet maps no verb, and RBAC denies. The manager takes no
		// review without a verb: asked, it would leave the request to time out as 503.
		{"no verb", authorizer.AttributesRecord{User: alice, Resource: "nodes", Subresource: "proxy", Name: "n", ResourceRequest: true},
			&agentmsg.Answer{Allowed: true}, authorizer.DecisionNoOpinion, "the manager reviews the kubelet's verbs only, not none", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newManager(func(*agentmsg.Message) *agentmsg.Answer { return tc.answer })
			d, reason, err := m.client.Authorize(context.Background(), tc.attrs)
			if tc.unavailable != errors.Is(err, kubeletapi.ErrUnavailable) || (!tc.unavailable && err != nil) {
				t.Fatalf("err = %v, unavailable wanted: %v", err, tc.unavailable)
			}
			if d != tc.want || reason != tc.reason {
				t.Errorf("Authorize = %v, %q; want %v, %q", d, reason, tc.want, tc.reason)
			}
			if len(m.asked) > 0 != tc.asks {
				t.Fatalf("asked %d questions, want asked: %v", len(m.asked), tc.asks)
			}
			if tc.asks {
				ar := m.asked[0].AccessReview
				if m.asked[0].Kind != agentmsg.KindAccessReview || ar.User.Name != "alice" || ar.User.Extra["scope"][0] != "x" || ar.Verb != "get" || ar.Subresource != "log" {
					t.Errorf("asked %+v", ar)
				}
			}
		})
	}
}

// Answers find their questions by ID, whatever order they come in; an answer nobody
// waits for is dropped.
func TestAnswersFindTheirQuestions(t *testing.T) {
	var mu sync.Mutex
	var held []*agentmsg.Message
	c := &Client{Timeout: 5 * time.Second}
	c.Send = func(_ context.Context, data []byte) error {
		q, _ := agentmsg.Decode(data)
		mu.Lock()
		defer mu.Unlock()
		held = append(held, q)
		return nil
	}
	type result struct {
		name string
		ok   bool
	}
	results := make(chan result, 2)
	for _, tok := range []string{"a", "b"} {
		go func() {
			u, ok, _ := c.Review(context.Background(), tok)
			name := ""
			if ok {
				name = u.GetName()
			}
			results <- result{tok + ":" + name, ok}
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(held)
		mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the questions were not sent")
		}
	}
	for i := len(held) - 1; i >= 0; i-- { // answered in reverse
		q := held[i]
		if !c.Deliver(&agentmsg.Message{Kind: agentmsg.KindAnswer, ID: q.ID, Answer: &agentmsg.Answer{Authenticated: true, User: &agentmsg.User{Name: "user-" + q.TokenReview.Token}}}) {
			t.Fatalf("no question waited for %s", q.ID)
		}
	}
	got := map[string]bool{}
	for range 2 {
		r := <-results
		got[r.name] = r.ok
	}
	if !got["a:user-a"] || !got["b:user-b"] {
		t.Fatalf("answers went to the wrong questions: %v", got)
	}
	if c.Deliver(&agentmsg.Message{Kind: agentmsg.KindAnswer, ID: held[0].ID, Answer: &agentmsg.Answer{}}) {
		t.Error("an answer was delivered twice")
	}
}

// An answer is delivered once: a second of the same ID, which could block the event
// loop on the asker's channel, finds no question.
func TestAnAnswerIsDeliveredOnce(t *testing.T) {
	var second bool
	c := &Client{}
	c.Send = func(_ context.Context, data []byte) error {
		q, _ := agentmsg.Decode(data)
		ans := &agentmsg.Message{Kind: agentmsg.KindAnswer, ID: q.ID, Answer: &agentmsg.Answer{Allowed: true}}
		c.Deliver(ans) // before the asker waits
		second = c.Deliver(ans)
		return nil
	}
	d, _, err := c.Authorize(context.Background(), authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "u"}, Verb: "get", Resource: "nodes", Subresource: "log", ResourceRequest: true})
	if err != nil || d != authorizer.DecisionAllow {
		t.Fatalf("Authorize = %v, %v", d, err)
	}
	if second {
		t.Error("the same answer was delivered twice")
	}
}
