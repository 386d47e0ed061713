package executor

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
)

// On SHUTDOWN the executor kills its pods and exits only once the agent has taken and
// acknowledged their terminal updates, however slowly it takes them: an executor that
// exits first has the agent report its tasks failed (REASON_EXECUTOR_TERMINATED)
// instead of killed.
func TestShutdownExitsOnceTheTerminalUpdatesAreAcknowledged(t *testing.T) {
	a := newFakeAgent(t)
	a.acks = true
	_, done := startExecutorWith(t, a, &Executor{Config: config.Config{ExecutorShutdownGracePeriod: 5 * time.Second}})
	a.waitSubscription(t, 1)
	for _, id := range []string{"t1", "t2"} {
		a.send(&mexec.Event{Type: mexec.Event_LAUNCH, Launch: &mexec.Event_Launch{Task: podTask(t, id)}})
		waitStates(t, a, id, mesos.TASK_STARTING, mesos.TASK_RUNNING)
	}
	a.mu.Lock()
	a.slow = 200 * time.Millisecond
	a.mu.Unlock()
	a.send(&mexec.Event{Type: mexec.Event_SHUTDOWN})
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the executor did not exit")
	}
	for _, id := range []string{"t1", "t2"} {
		if st := a.statesOf(id); st[len(st)-1] != mesos.TASK_KILLED {
			t.Errorf("task %s: the agent has %v when the executor exits, want TASK_KILLED last", id, st)
		}
	}
}

// An executor whose every task was killed before it subscribed gets SHUTDOWN from its
// agent instead of SUBSCRIBED (Mesos: src/slave/slave.cpp Slave::subscribe, MESOS-8411):
// with nothing to kill and nothing to send, it exits at once.
func TestAnExecutorToldToShutDownAsItSubscribesExits(t *testing.T) {
	a := newFakeAgent(t)
	a.shutdownFirst = true
	_, done := startExecutorWith(t, a, &Executor{Config: config.Config{ExecutorShutdownGracePeriod: 5 * time.Second}})
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("the executor did not exit within its grace period")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.updates) != 0 || len(a.subscribes) != 1 {
		t.Errorf("updates %v, %d subscriptions; want none, and one", a.updates, len(a.subscribes))
	}
}

// An agent that does not acknowledge them holds the executor up no longer than the
// shutdown grace period it gives: then it destroys the executor's container anyway.
func TestShutdownExitsWithinTheGracePeriod(t *testing.T) {
	a := newFakeAgent(t)
	const grace = 3 * time.Second
	_, done := startExecutorWith(t, a, &Executor{Config: config.Config{ExecutorShutdownGracePeriod: grace}})
	a.waitSubscription(t, 1)
	a.send(&mexec.Event{Type: mexec.Event_LAUNCH, Launch: &mexec.Event_Launch{Task: podTask(t, "t1")}})
	waitStates(t, a, "t1", mesos.TASK_STARTING, mesos.TASK_RUNNING)
	a.mu.Lock()
	a.slow = time.Hour // takes no more update
	a.mu.Unlock()
	a.send(&mexec.Event{Type: mexec.Event_SHUTDOWN})
	asked := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		if waited := time.Since(asked); waited >= grace {
			t.Errorf("the executor exited %s after SHUTDOWN, past the agent's grace period of %s", waited, grace)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the executor did not exit")
	}
}

// An executor stopped by a signal (its context ends) kills its pods and still sends
// their terminal updates before it exits: sent on the context that ended, they never
// went out, and the agent reported the tasks failed with the executor.
func TestAStoppedExecutorSendsItsPodsTerminalUpdates(t *testing.T) {
	a := newFakeAgent(t)
	e := &Executor{Config: config.Config{ExecutorShutdownGracePeriod: 3 * time.Second, Checkpoint: true, RecoveryTimeout: 5 * time.Second,
		FrameworkID: "fw", ExecutorID: "ex", AgentEndpoint: a.srv.Listener.Addr().String(), Sandbox: t.TempDir(), SubscriptionBackoffMax: 50 * time.Millisecond}}
	e.Runtime, e.Log = fakeRuntime{}, logr.Discard()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	a.waitSubscription(t, 1)
	a.send(&mexec.Event{Type: mexec.Event_LAUNCH, Launch: &mexec.Event_Launch{Task: podTask(t, "t1")}})
	waitStates(t, a, "t1", mesos.TASK_STARTING, mesos.TASK_RUNNING)

	cancel() // SIGTERM
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the executor did not exit")
	}
	if st := a.statesOf("t1"); st[len(st)-1] != mesos.TASK_KILLED {
		t.Errorf("the agent has %v when the executor exits, want TASK_KILLED last", st)
	}
}
