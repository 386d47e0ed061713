package framework

import (
	"context"
	"errors"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/k8sm/k8sm/internal/mesossim"
)

// A framework pointed at a non-leading master follows its redirect to the leader, and
// says NoLeader while the master knows none.
func TestFollowsTheLeader(t *testing.T) {
	leader, err := mesossim.New(mesossim.Config{Agents: 1, HeartbeatInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer leader.Close()
	follower, err := mesossim.StartFollower("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()

	// No leader known: 503.
	h := newRecorder()
	c, err := New(Config{Master: follower.URL(), FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm"}, MinBackoff: 50 * time.Millisecond}, h)
	if err != nil {
		t.Fatal(err)
	}
	runConn(t, c)
	select {
	case <-h.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no answer from a follower without a leader")
	}
	h.mu.Lock()
	var se *SubscribeError
	if len(h.disconnected) == 0 || !errors.As(h.disconnected[0], &se) || se.Reason != ReasonNoLeader {
		t.Fatalf("want %s, got %v", ReasonNoLeader, h.disconnected)
	}
	h.mu.Unlock()

	// A leader appears: the next attempt is redirected there and subscribes.
	follower.SetLeader(leader.URL())
	deadline := time.After(20 * time.Second)
	for !c.Subscribed() {
		select {
		case <-h.got:
		case <-deadline:
			t.Fatal("did not subscribe through the redirect")
		}
	}
	if st := leader.State(); len(st.Frameworks) != 1 || !st.Frameworks[0].Connected {
		t.Fatalf("leader state %+v", st.Frameworks)
	}

	// Calls go to the leader too: the follower would redirect each, and mesos-go takes a
	// redirected call for the end of the subscription.
	h.mu.Lock()
	subscriptions := len(h.subscribed)
	h.mu.Unlock()
	for i := range 3 {
		if err := c.Reconcile(context.Background(), nil); err != nil {
			t.Fatalf("call %d after subscribing through a redirect: %v", i, err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !c.Subscribed() || len(h.subscribed) != subscriptions {
		t.Errorf("the calls ended the subscription: subscribed %v, %d subscriptions (want %d), disconnections %v",
			c.Subscribed(), len(h.subscribed), subscriptions, h.disconnected)
	}
}
