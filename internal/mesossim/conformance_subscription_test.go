package mesossim

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	execcalls "github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/recordio"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// An executor's subscriptions: what a SUBSCRIBE does to the tasks it does not list, the
// events sent while its connection is gone, and the executor that never subscribes.

// standIn is the test in the place of an executor the sim started that never
// subscribes itself (the test executor's "silent" mode), over the executor API.
type standIn struct {
	t                         *testing.T
	endpoint, framework, exec string
	// cancel closes the connection of the latest stream; done is closed once it ended.
	cancel context.CancelFunc
	done   chan struct{}
}

func newStandIn(t *testing.T, m *Master, frameworkID, executorID string) *standIn {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &standIn{t: t, endpoint: m.agents[0].endpoint, framework: frameworkID, exec: executorID}
}

// subscribe opens a SUBSCRIBE stream that lists the tasks as unacknowledged, closing the
// connection of the previous one first; it returns the stream's events, the channel
// closed when the stream ends.
func (x *standIn) subscribe(tasks ...mesos.TaskInfo) <-chan *mexec.Event {
	x.t.Helper()
	x.hangUp()
	body, err := execcalls.Subscribe(tasks, nil).With(execcalls.Framework(x.framework), execcalls.Executor(x.exec)).Marshal()
	if err != nil {
		x.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	x.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+x.endpoint+"/api/v1/executor", bytes.NewReader(body))
	req.Header.Set("Content-Type", mediaProtobuf)
	req.Header.Set("Accept", mediaProtobuf)
	// A connection of its own, closed with the stream.
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		cancel()
		x.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		x.t.Fatalf("SUBSCRIBE: %d", resp.StatusCode)
	}
	events, done := make(chan *mexec.Event, 100), make(chan struct{})
	go func() {
		defer close(done)
		defer close(events)
		defer func() { _ = resp.Body.Close() }()
		r := recordio.NewReader(resp.Body)
		for {
			frame, err := r.ReadFrame()
			if err != nil {
				return
			}
			var e mexec.Event
			if e.Unmarshal(frame) != nil {
				return
			}
			events <- &e
		}
	}()
	x.cancel, x.done = cancel, done
	return events
}

// hangUp closes the connection of the open stream, if any, as an executor whose
// connection breaks.
func (x *standIn) hangUp() {
	if x.cancel != nil {
		x.cancel()
		<-x.done
		x.cancel = nil
	}
}

// nextEvent is the stream's next event other than a HEARTBEAT; nil when the stream ends
// or nothing comes within wait.
func nextEvent(events <-chan *mexec.Event, wait time.Duration) *mexec.Event {
	deadline := time.After(wait)
	for {
		select {
		case e, open := <-events:
			if !open {
				return nil
			}
			if e.GetType() != mexec.Event_HEARTBEAT {
				return e
			}
		case <-deadline:
			return nil
		}
	}
}

// expectEvents reads a stream's events and fails unless they are these, in order: an
// event's type, and for a LAUNCH its task (record's form, "LAUNCH t1").
func expectEvents(t *testing.T, events <-chan *mexec.Event, want ...string) {
	t.Helper()
	for _, w := range want {
		e := nextEvent(events, 5*time.Second)
		got := "nothing"
		if e != nil {
			got = e.GetType().String()
			if e.GetType() == mexec.Event_LAUNCH {
				got += " " + e.GetLaunch().Task.TaskID.Value
			}
		}
		if got != w {
			t.Fatalf("executor event %s, want %s", got, w)
		}
	}
}

// waitStreamClosed waits until the agent has seen the executor's stream end.
func waitStreamClosed(t *testing.T, m *Master, frameworkID, executorID string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m.mu.Lock()
		run := m.agents[0].runs[frameworkID+"/"+executorID]
		m.mu.Unlock()
		run.mu.Lock()
		open := run.events != nil
		run.mu.Unlock()
		if !open {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent did not see the executor's stream end")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Mesos: src/slave/slave.cpp Slave::subscribe, on every SUBSCRIBE of an executor
// registering or running — not only after an agent restart — ends each of its tasks
// still STAGING that the agent sent it (Executor::launchedTasks) and that the SUBSCRIBE
// does not list as unacknowledged: TASK_DROPPED (TASK_LOST if not PARTITION_AWARE),
// REASON_SLAVE_RESTARTED, "Task launched during agent restart", from the agent with a
// uuid and the executor id. Left with no task, the executor is told to shut down
// (MESOS-8411).
func TestConformanceResubscribeLosesUnlistedStagingTasks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		aware bool
		want  mesos.TaskState
	}{{"partition-aware", true, mesos.TASK_DROPPED}, {"not partition-aware", false, mesos.TASK_LOST}} {
		t.Run(tc.name, func(t *testing.T) {
			m := startSim(t, execConfig())
			s := newSched(t, m)
			s.subscribe(aware(tc.aware, false))
			s.launch(s.offer(""), testExecutor(t, "quiet", "silent"), "t1")
			x := newStandIn(t, m, s.id, "quiet")
			expectEvents(t, x.subscribe(), "SUBSCRIBED", "LAUNCH t1")
			// Its connection breaks; it subscribes again listing t1: t1 stays.
			launched := mesos.TaskInfo{Name: "t1", TaskID: mesos.TaskID{Value: "t1"}}
			expectEvents(t, x.subscribe(launched), "SUBSCRIBED")
			// And again without it: t1 never reached it.
			events := x.subscribe()
			st := s.nextUpdate("t1")
			if st.GetState() != tc.want || st.GetReason() != mesos.REASON_AGENT_RESTARTED || st.GetSource() != mesos.SOURCE_AGENT ||
				st.GetMessage() != "Task launched during agent restart" || st.GetExecutorID().GetValue() != "quiet" || len(st.UUID) != 16 {
				t.Fatalf("t1, unlisted in a SUBSCRIBE: %v, want %s REASON_AGENT_RESTARTED from the agent", st, tc.want)
			}
			expectEvents(t, events, "SHUTDOWN")
		})
	}
}

// Mesos: src/slave/slave.hpp Executor::send writes an event to the connection the
// executor last subscribed on, and the agent does not watch that connection: once it is
// closed, what is sent is lost ("Unable to send event to executor: connection closed"),
// not kept for the next SUBSCRIBE, which gets only what it would get anyway. Only an
// executor that has not subscribed yet (REGISTERING) has its tasks held for it
// (Executor::queuedTasks, Slave::__run). The task whose LAUNCH was lost stays STAGING
// until the executor subscribes again without it.
func TestConformanceEventsSentWhileTheExecutorIsDisconnectedAreLost(t *testing.T) {
	m := startSim(t, execConfig())
	s := newSched(t, m)
	s.subscribe(info(mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	exec := testExecutor(t, "quiet", "silent")
	s.launch(s.offer(""), exec, "t1")
	x := newStandIn(t, m, s.id, "quiet")
	expectEvents(t, x.subscribe(), "SUBSCRIBED", "LAUNCH t1")
	executorUpdate(t, x.endpoint, s.id, "quiet", "t1", mesos.TASK_RUNNING)
	s.waitState("t1", mesos.TASK_RUNNING)

	x.hangUp()
	waitStreamClosed(t, m, s.id, "quiet")
	s.launch(s.offer("agent-1"), exec, "t2")
	events := x.subscribe()
	expectEvents(t, events, "SUBSCRIBED")
	if e := nextEvent(events, 500*time.Millisecond); e != nil {
		t.Fatalf("after SUBSCRIBED: %s, want nothing (the LAUNCH of t2 went to the closed connection)", e.GetType())
	}
	if st := s.nextUpdate("t2"); st.GetState() != mesos.TASK_DROPPED || st.GetReason() != mesos.REASON_AGENT_RESTARTED ||
		st.GetMessage() != "Task launched during agent restart" {
		t.Fatalf("t2, launched while its executor was disconnected: %v, want TASK_DROPPED REASON_AGENT_RESTARTED", st)
	}
}

// Mesos: src/slave/slave.cpp Slave::launchExecutor arms registerExecutorTimeout, which,
// --executor_registration_timeout (1 minute by default) later, destroys the container of
// an executor still registering and sets its pending termination: its tasks end
// TASK_FAILED, REASON_EXECUTOR_REGISTRATION_TIMEOUT, SOURCE_SLAVE, "Executor did not
// register within <timeout>", with a uuid, after the FAILURE of its exit (status 9: it
// is killed) (Slave::executorTerminated, sendExecutorTerminatedStatusUpdate). An
// executor that subscribed in time is not touched.
func TestConformanceExecutorRegistrationTimeout(t *testing.T) {
	cfg := execConfig()
	cfg.ExecutorRegistrationTimeout = 500 * time.Millisecond
	m := startSim(t, cfg)
	s := newSched(t, m)
	s.subscribe(info())
	s.launch(s.offer(""), testExecutor(t, "e1", "normal"), "t1")
	s.waitState("t1", mesos.TASK_RUNNING)
	start := time.Now()
	s.launch(s.offer("agent-1"), testExecutor(t, "quiet", "silent"), "q1")

	before, failure := s.eventsUntil("FAILURE", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_FAILURE })
	if f := failure.GetFailure(); f.GetExecutorID().GetValue() != "quiet" || f.GetStatus() != 9 {
		t.Fatalf("FAILURE %v, want executor quiet killed (status 9)", f)
	}
	if waited := time.Since(start); waited < 500*time.Millisecond {
		t.Fatalf("killed after %v, before the registration timeout", waited)
	}
	for _, e := range before {
		if e.Type == scheduler.Event_UPDATE && e.GetUpdate().Status.TaskID.Value == "q1" {
			t.Fatalf("update of q1 before its executor's FAILURE: %v", e.GetUpdate().Status)
		}
	}
	st := s.nextUpdate("q1")
	if st.GetState() != mesos.TASK_FAILED || st.GetReason() != mesos.REASON_EXECUTOR_REGISTRATION_TIMEOUT || st.GetSource() != mesos.SOURCE_AGENT ||
		st.GetMessage() != "Executor did not register within 500ms" || st.GetExecutorID().GetValue() != "quiet" || len(st.UUID) != 16 {
		t.Fatalf("q1: %v, want TASK_FAILED REASON_EXECUTOR_REGISTRATION_TIMEOUT %q from the agent", st, "Executor did not register within 500ms")
	}
	// e1 subscribed in time: t1 still runs.
	time.Sleep(500 * time.Millisecond)
	s.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"t1": st.AgentID.Value})))
	if st := s.nextUpdate("t1"); st.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("t1, whose executor subscribed: %v, want TASK_RUNNING", st)
	}
}
