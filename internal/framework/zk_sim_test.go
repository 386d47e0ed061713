package framework

import (
	"errors"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/k8sm/k8sm/internal/testzk"
)

// A framework given zk:// finds the leading master through ZooKeeper, and moves to the
// next leader when the first one's registration goes.
func TestSubscribesThroughZooKeeper(t *testing.T) {
	srv, err := testzk.Start()
	if errors.Is(err, testzk.ErrNotInstalled) && !testzk.Required() {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	zkURL := "zk://" + srv.Addr + "/mesos"

	first, second := startSim(t), startSim(t)
	withdrawFirst, err := first.RegisterInZK(zkURL)
	if err != nil {
		t.Fatal(err)
	}
	withdrawSecond, err := second.RegisterInZK(zkURL)
	if err != nil {
		t.Fatal(err)
	}
	defer withdrawSecond()

	timeout := 3600.0
	h := newRecorder()
	c, err := New(Config{Master: zkURL, MinBackoff: 50 * time.Millisecond,
		FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm", FailoverTimeout: &timeout}}, h)
	if err != nil {
		t.Fatal(err)
	}
	runConn(t, c)

	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for !ok() {
			select {
			case <-h.got:
			case <-time.After(100 * time.Millisecond):
			case <-deadline:
				t.Fatalf("timed out waiting until %s", what)
			}
		}
	}
	waitFor("subscribed to the first master", func() bool { return c.Subscribed() && c.Leader() == first.URL() })
	id := c.FrameworkID()

	// A master that joins the election without winning it leaves the subscription be.
	withdrawThird, err := startSim(t).RegisterInZK(zkURL)
	if err != nil {
		t.Fatal(err)
	}
	defer withdrawThird()
	zc, _, err := zk.Connect([]string{srv.Addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer zc.Close()
	settle(t, c.detector, zc, "/mesos")
	h.mu.Lock()
	dropped := h.disconnected
	h.mu.Unlock()
	if len(dropped) != 0 || !c.Subscribed() || c.Leader() != first.URL() {
		t.Fatalf("after a standby master joined: disconnected %v, subscribed %v to %s; want the subscription to %s kept",
			dropped, c.Subscribed(), c.Leader(), first.URL())
	}

	// The first master loses its registration: the framework moves to the second,
	// keeping its framework id.
	withdrawFirst()
	waitFor("subscribed to the second master", func() bool { return c.Subscribed() && c.Leader() == second.URL() })
	if c.FrameworkID() != id {
		t.Fatalf("framework id changed from %s to %s", id, c.FrameworkID())
	}
}
