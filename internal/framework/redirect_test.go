package framework

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/k8sm/k8sm/internal/mesossim"
)

// A framework pointed at a non-leading master follows its redirect to the leader, and
// says NoLeader while the master knows none.
func TestFollowsTheLeader(t *testing.T) {
	leader := startSim(t)
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

	// A leader appears: the next attempt is redirected there (//localhost:port/...) and
	// subscribes.
	follower.SetLeader(leader.MasterInfo())
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
	// So does the operator API, at the leader's name the redirect gave, as Mesos names the
	// leader by its MasterInfo's hostname (localhost on loopback).
	if want := "http://localhost:" + strconv.Itoa(int(leader.MasterInfo().GetPort())); c.operatorURL() != want {
		t.Errorf("the operator API goes to %s, want the leader at %s", c.operatorURL(), want)
	}
	if _, err := c.GetAgents(context.Background()); err != nil {
		t.Errorf("GET_AGENTS after subscribing through a redirect: %v", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !c.Subscribed() || len(h.subscribed) != subscriptions {
		t.Errorf("the calls ended the subscription: subscribed %v, %d subscriptions (want %d), disconnections %v",
			c.Subscribed(), len(h.subscribed), subscriptions, h.disconnected)
	}
}

// A scheduler whose framework another took over (two managers leading one cluster: one
// that stalled past its Lease, or two installs) is told so by Mesos, and waits
// MaxBackoff before subscribing again instead of taking the framework back at once.
func TestASchedulerTakenOverWaitsBeforeTakingItBack(t *testing.T) {
	m := startSim(t)
	week := 604800.0
	cfg := Config{Master: m.URL(), FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm", FailoverTimeout: &week},
		MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Hour}
	h1 := newRecorder()
	c1, err := New(cfg, h1)
	if err != nil {
		t.Fatal(err)
	}
	runConn(t, c1)
	deadline := time.After(20 * time.Second)
	for !c1.Subscribed() {
		select {
		case <-h1.got:
		case <-deadline:
			t.Fatal("the first scheduler did not subscribe")
		}
	}
	cfg.FrameworkInfo.ID = &mesos.FrameworkID{Value: c1.FrameworkID()}
	c2, err := New(cfg, newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	runConn(t, c2)
	var ended error
	for ended == nil {
		select {
		case <-h1.got:
			h1.mu.Lock()
			if n := len(h1.disconnected); n > 0 {
				ended = h1.disconnected[n-1]
			}
			h1.mu.Unlock()
		case <-deadline:
			t.Fatal("the first scheduler's subscription did not end when the second subscribed")
		}
	}
	if !failedOver(ended) {
		t.Fatalf("the first scheduler's subscription ended with %v, want Mesos's \"Framework failed over\"", ended)
	}
	if got := c1.nextBackoff(cfg.MinBackoff, true, ended); got != cfg.MaxBackoff {
		t.Errorf("a scheduler taken over waits %s before subscribing again, want MaxBackoff (%s)", got, cfg.MaxBackoff)
	}
	for _, other := range []error{&SubscribeError{Reason: ReasonStreamClosed, Err: errors.New("EOF")},
		&SubscribeError{Reason: ReasonSubscribeRefused, Err: errors.New("Framework has been removed")}} {
		if failedOver(other) {
			t.Errorf("failedOver(%v) = true", other)
		}
	}
	if got := c1.nextBackoff(time.Second, true, &SubscribeError{Reason: ReasonStreamClosed, Err: errors.New("EOF")}); got != cfg.MinBackoff {
		t.Errorf("after an accepted subscription that ended, the wait is %s, want MinBackoff (%s)", got, cfg.MinBackoff)
	}
}

// startSim starts a mesos-sim master with one agent and a heartbeat a second, on
// loopback, for the test.
func startSim(t *testing.T) *mesossim.Master {
	t.Helper()
	m, err := mesossim.New(mesossim.Config{Agents: 1, HeartbeatInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// A subscription that had lasted and ends (the master failed over) is made again at
// once, not after MinBackoff: the new master is there to take it. One that ends as soon
// as it was accepted waits MinBackoff, as a failed attempt does.
func TestASubscriptionThatLastedIsMadeAgainAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stable time.Duration
		again  bool
	}{
		{"it had lasted", 10 * time.Millisecond, true},
		{"it had not lasted", time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := startSim(t)
			week := 604800.0
			h := newRecorder()
			// MinBackoff an hour: only an attempt made at once comes within the test.
			c, err := New(Config{Master: m.URL(), FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm", FailoverTimeout: &week},
				MinBackoff: time.Hour, MaxBackoff: time.Hour}, h)
			if err != nil {
				t.Fatal(err)
			}
			c.stable = tc.stable
			runConn(t, c)
			subscriptions := func() int {
				h.mu.Lock()
				defer h.mu.Unlock()
				return len(h.subscribed)
			}
			deadline := time.After(20 * time.Second)
			for subscriptions() == 0 {
				select {
				case <-h.got:
				case <-deadline:
					t.Fatal("the scheduler did not subscribe")
				}
			}
			time.Sleep(20 * time.Millisecond) // past tc.stable when it is short; not an assertion
			m.FailoverMaster()

			wait := time.After(2 * time.Second)
		waiting:
			for subscriptions() < 2 {
				select {
				case <-h.got:
				case <-wait:
					break waiting
				}
			}
			if got := subscriptions() == 2; got != tc.again {
				t.Errorf("subscribed again within 2 s of the failover: %v, want %v (disconnections %v)", got, tc.again, h.disconnected)
			}
		})
	}
}
