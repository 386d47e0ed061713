package framework

import (
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
}
