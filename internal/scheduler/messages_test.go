package scheduler

import (
	"context"
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
