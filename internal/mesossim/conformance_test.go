package mesossim

// Conformance tests: the sim driven by mesos-go's own, unmodified clients — httpsched for
// the scheduler and httpexec for the executor. The executor is this test binary run
// again with MESOS_SIM_TEST_EXECUTOR set (see TestMain in conformance_executor_test.go),
// started by the sim's exec mode as Mesos would start it, with the MESOS_* environment.
//
// This file holds the scheduler client the tests share and the tests of scheduler
// calls; conformance_executor_test.go the test executor and executor tests,
// conformance_faults_test.go the injected faults, conformance_rules_test.go the
// rules Mesos enforces.

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

func scalar(name string, v float64) mesos.Resource {
	return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
}

// sched is a framework on mesos-go's httpsched client.
type sched struct {
	t        *testing.T
	caller   calls.Caller
	id       string
	events   chan *scheduler.Event
	mu       sync.Mutex
	streamID string // of the latest SUBSCRIBE, as the master sent it
	// subscribed is the latest SUBSCRIBED event.
	subscribed *scheduler.Event_Subscribed
	// skippedOffers are OFFERS events read while waiting for other events.
	skippedOffers []*scheduler.Event
}

func newSched(t *testing.T, m *Master) *sched {
	s := &sched{t: t}
	do := func(req *http.Request) (*http.Response, error) {
		resp, err := http.DefaultClient.Do(req)
		if err == nil && resp.Header.Get("Mesos-Stream-Id") != "" {
			s.mu.Lock()
			s.streamID = resp.Header.Get("Mesos-Stream-Id")
			s.mu.Unlock()
		}
		return resp, err
	}
	cli := httpcli.New(httpcli.Endpoint(m.URL()+"/api/v1/scheduler"),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]), httpcli.Do(do))
	s.caller = httpsched.NewCaller(cli)
	return s
}

// subscribe subscribes (again) and streams the events; it returns SUBSCRIBED, and fails
// the test when the master refuses.
func (s *sched) subscribe(info mesos.FrameworkInfo) *scheduler.Event_Subscribed {
	s.t.Helper()
	if _, refused := s.subscribeUntil(info); refused != "" {
		s.t.Fatalf("SUBSCRIBE refused: %s", refused)
	}
	return s.subscribed
}

// call sends a call for the framework.
func (s *sched) call(c *scheduler.Call) error {
	c.FrameworkID = &mesos.FrameworkID{Value: s.id}
	resp, err := s.caller.Call(context.Background(), c)
	if resp != nil {
		_ = resp.Close()
	}
	return err
}

func (s *sched) mustCall(c *scheduler.Call) {
	s.t.Helper()
	if err := s.call(c); err != nil {
		s.t.Fatalf("%s: %v", c.GetType(), err)
	}
}

// next waits for the next event of a type, skipping others.
func (s *sched) next(typ scheduler.Event_Type) *scheduler.Event {
	s.t.Helper()
	return s.nextMatching(typ.String(), func(e *scheduler.Event) bool { return e.Type == typ })
}

func (s *sched) nextMatching(what string, ok func(*scheduler.Event) bool) *scheduler.Event {
	s.t.Helper()
	// Offers skipped while waiting for something else are kept: a framework that never
	// saw an offer holds it, and the master would not offer its resources again.
	for i, e := range s.skippedOffers {
		if ok(e) {
			s.skippedOffers = append(s.skippedOffers[:i], s.skippedOffers[i+1:]...)
			return e
		}
	}
	deadline := time.After(15 * time.Second)
	for {
		select {
		case e, open := <-s.events:
			if !open {
				s.t.Fatalf("stream closed while waiting for %s", what)
			}
			if ok(e) {
				return e
			}
			if e.Type == scheduler.Event_OFFERS {
				s.skippedOffers = append(s.skippedOffers, e)
			}
		case <-deadline:
			s.t.Fatalf("no %s event", what)
		}
	}
}

// nextUpdate waits for an update of a task, acknowledging every update with a uuid.
func (s *sched) nextUpdate(taskID string) mesos.TaskStatus {
	s.t.Helper()
	e := s.nextMatching("UPDATE of "+taskID, func(e *scheduler.Event) bool {
		return e.Type == scheduler.Event_UPDATE && e.GetUpdate().Status.TaskID.Value == taskID
	})
	st := e.GetUpdate().Status
	if len(st.UUID) > 0 {
		s.mustCall(calls.Acknowledge(st.AgentID.Value, taskID, st.UUID))
	}
	return st
}

// waitState waits until a task reaches a state.
func (s *sched) waitState(taskID string, state mesos.TaskState) mesos.TaskStatus {
	s.t.Helper()
	for {
		st := s.nextUpdate(taskID)
		if st.GetState() == state {
			return st
		}
		if isTerminal(st.GetState()) {
			s.t.Fatalf("task %s ended %s (%s, %s) while waiting for %s", taskID, st.GetState(), st.GetReason(), st.GetMessage(), state)
		}
	}
}

// offer waits for an offer, of the agent named if one is.
func (s *sched) offer(hostname string) mesos.Offer {
	s.t.Helper()
	for {
		for _, o := range s.next(scheduler.Event_OFFERS).GetOffers().Offers {
			if hostname == "" || o.Hostname == hostname {
				return o
			}
		}
	}
}

// launch launches tasks with an executor on an offer.
func (s *sched) launch(o mesos.Offer, exec mesos.ExecutorInfo, taskIDs ...string) {
	s.t.Helper()
	var ts []mesos.TaskInfo
	for _, id := range taskIDs {
		e := exec
		ts = append(ts, mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID,
			Resources: []mesos.Resource{scalar("cpus", 0.1), scalar("mem", 16)}, Executor: &e})
	}
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(ts...)}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
}

// commandTask is a simulated task (no executor) on an offer.
func commandTask(id string, o mesos.Offer) mesos.TaskInfo {
	shell := "sleep 1000"
	return mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID,
		Resources: []mesos.Resource{scalar("cpus", 0.5)}, Command: &mesos.CommandInfo{Value: &shell}}
}

// streamEnds waits for the event stream to end; it fails on an ERROR event.
func (s *sched) streamEnds() {
	s.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case e, open := <-s.events:
			if !open {
				return
			}
			if e.Type == scheduler.Event_ERROR {
				s.t.Fatalf("ERROR event %q", e.GetError().Message)
			}
		case <-deadline:
			s.t.Fatal("the stream did not end")
		}
	}
}

// TestConformanceOfferTimeout: an offer left unused past the offer timeout is rescinded
// and its resources offered again.
func TestConformanceOfferTimeout(t *testing.T) {
	m := startSim(t, Config{Agents: 1, OfferTimeout: 200 * time.Millisecond})
	s := newSched(t, m)
	s.subscribe(info())
	o := s.offer("")
	if r := s.next(scheduler.Event_RESCIND).GetRescind(); r.OfferID != o.ID {
		t.Fatalf("RESCIND %v, want %v", r.OfferID, o.ID)
	}
	again := s.offer("agent-1")
	if again.ID == o.ID || scalars(again.Resources)["cpus"] != scalars(o.Resources)["cpus"] {
		t.Fatalf("re-offer %v after %v", again, o)
	}
	// A rescinded offer cannot be used: its task is dropped as with any invalid offer.
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(commandTask("t1", o))}.WithOffers(o.ID)))
	if st := s.nextUpdate("t1"); st.GetState() != mesos.TASK_LOST || st.GetReason() != mesos.REASON_INVALID_OFFERS {
		t.Fatalf("launch on a rescinded offer: %v", st)
	}
}

// TestConformanceSchedulerCalls: DECLINE, SUPPRESS, REVIVE, LAUNCH_GROUP, RECONCILE and
// KILL through httpsched, with the test executor running the tasks.
func TestConformanceSchedulerCalls(t *testing.T) {
	m := startSim(t, execConfig())
	s := newSched(t, m)
	s.subscribe(info(mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	o := s.offer("")
	s.mustCall(calls.Decline(o.ID).With(calls.RefuseSeconds(time.Hour)))
	s.mustCall(calls.Suppress())
	s.mustCall(calls.Revive()) // clears the filter and the suppression
	o = s.offer("agent-1")

	exec := testExecutor(t, "e1", "normal")
	var group []mesos.TaskInfo
	for _, id := range []string{"g1", "g2"} {
		group = append(group, mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID,
			Resources: []mesos.Resource{scalar("cpus", 0.1), scalar("mem", 16)}})
	}
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunchGroup(exec, group...)}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
	for _, id := range []string{"g1", "g2"} {
		// One LAUNCH_GROUP event carries the whole group to the executor.
		if st := s.waitState(id, mesos.TASK_RUNNING); st.GetMessage() != "launched in a group of 2" {
			t.Fatalf("%s: %q, want the executor to have got one LAUNCH_GROUP of 2", id, st.GetMessage())
		}
	}

	// A group is launched whole or not at all: one task asking for more than the offer
	// fails them all, TASK_ERROR with REASON_TASK_GROUP_INVALID.
	o = s.offer("agent-1")
	bad := []mesos.TaskInfo{
		{Name: "h1", TaskID: mesos.TaskID{Value: "h1"}, AgentID: o.AgentID, Resources: []mesos.Resource{scalar("cpus", 0.1)}},
		{Name: "h2", TaskID: mesos.TaskID{Value: "h2"}, AgentID: o.AgentID, Resources: []mesos.Resource{scalar("cpus", 1000)}},
	}
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunchGroup(exec, bad...)}.WithOffers(o.ID)))
	for _, id := range []string{"h1", "h2"} {
		if st := s.nextUpdate(id); st.GetState() != mesos.TASK_ERROR || st.GetReason() != mesos.REASON_TASK_GROUP_INVALID || len(st.UUID) != 0 {
			t.Fatalf("%s of an invalid group: %v", id, st)
		}
	}

	s.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"g1": o.AgentID.Value})))
	if st := s.nextUpdate("g1"); st.GetState() != mesos.TASK_RUNNING || st.GetReason() != mesos.REASON_RECONCILIATION || len(st.UUID) != 0 {
		t.Fatalf("reconcile: %v", st)
	}
	s.mustCall(calls.Kill("g2", o.AgentID.Value))
	if st := s.nextUpdate("g2"); st.GetState() != mesos.TASK_KILLED || st.GetSource() != mesos.SOURCE_EXECUTOR {
		t.Fatalf("kill: %v", st)
	}
	// A KILL of a task the master does not know is answered by explicit reconciliation
	// (master.cpp: Master::kill): on a registered agent TASK_GONE for this
	// PARTITION_AWARE framework (TASK_LOST for others).
	s.mustCall(calls.Kill("ghost", o.AgentID.Value))
	if st := s.nextUpdate("ghost"); st.GetState() != mesos.TASK_GONE || st.GetReason() != mesos.REASON_RECONCILIATION {
		t.Fatalf("kill of an unknown task: %v", st)
	}
}
