package mesossim

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// recorder keeps what an Observer was told.
type recorder struct {
	mu       sync.Mutex
	launches []ObservedLaunch
	updates  []mesos.TaskStatus
	acks     []scheduler.Call_Acknowledge
	// pendingAtAck is whether the acknowledged update was still in flight when the
	// observer heard of the ACKNOWLEDGE (it is told before the master applies it).
	pendingAtAck []bool
}

func (r *recorder) observer(m **Master) *Observer {
	return &Observer{
		Launch: func(l ObservedLaunch) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.launches = append(r.launches, l)
		},
		Update: func(_ string, st mesos.TaskStatus) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.updates = append(r.updates, st)
		},
		Acknowledge: func(fwID string, ack scheduler.Call_Acknowledge) {
			(*m).mu.Lock() // not held while Acknowledge runs
			t := (*m).frameworks[fwID].tasks[ack.TaskID.Value]
			pending := t != nil && len(t.pending) > 0 && bytes.Equal(t.pending[0].status.UUID, ack.UUID)
			(*m).mu.Unlock()
			r.mu.Lock()
			defer r.mu.Unlock()
			r.acks = append(r.acks, ack)
			r.pendingAtAck = append(r.pendingAtAck, pending)
		},
	}
}

func (r *recorder) snapshot() (launches []ObservedLaunch, updates []mesos.TaskStatus, acks []scheduler.Call_Acknowledge, pending []bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ObservedLaunch(nil), r.launches...), append([]mesos.TaskStatus(nil), r.updates...),
		append([]scheduler.Call_Acknowledge(nil), r.acks...), append([]bool(nil), r.pendingAtAck...)
}

// The Observer hears of every launch (with the live tasks of its id), every update sent
// and every acknowledgement before it is applied.
func TestObserver(t *testing.T) {
	var m *Master
	rec := &recorder{}
	m = startSim(t, Config{Agents: 1, UpdateRetry: time.Minute, TaskStartDelay: 20 * time.Millisecond, Observer: rec.observer(&m)})
	s := newSched(t, m)
	s.subscribe(info(mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	o := s.offer("")
	ti := commandTask("t1", o)
	ti.Resources = []mesos.Resource{scalar("cpus", 0.1)}
	ti.Labels = &mesos.Labels{Labels: []mesos.Label{{Key: "pod", Value: ptr("p1")}}}
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(ti)}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
	s.waitState("t1", mesos.TASK_RUNNING)

	// The same id again while the first runs: the master refuses it, the observer sees
	// the launch and the live task.
	o = s.offer("")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(commandTask("t1", o))}.WithOffers(o.ID)))
	if st := s.nextUpdate("t1"); st.GetState() != mesos.TASK_ERROR {
		t.Fatalf("second launch of t1: %v, want TASK_ERROR", st)
	}

	launches, updates, acks, pending := rec.snapshot()
	if len(launches) != 2 || len(launches[0].Live) != 0 || launches[0].Task.TaskID.Value != "t1" || launches[0].AgentID != o.AgentID.Value {
		t.Fatalf("launches %+v, want t1 on %s with nothing live", launches, o.AgentID.Value)
	}
	if live := launches[1].Live; len(live) != 1 || live[0].State != mesos.TASK_RUNNING || live[0].FrameworkID != s.id {
		t.Fatalf("second launch saw live %+v, want t1 RUNNING in %s", live, s.id)
	}
	var states []mesos.TaskState
	for _, u := range updates {
		states = append(states, u.GetState())
	}
	if len(states) != 3 || states[0] != mesos.TASK_STARTING || states[1] != mesos.TASK_RUNNING || states[2] != mesos.TASK_ERROR {
		t.Fatalf("updates sent %v, want STARTING, RUNNING, ERROR", states)
	}
	if len(acks) != 2 || !bytes.Equal(acks[0].UUID, updates[0].UUID) || !bytes.Equal(acks[1].UUID, updates[1].UUID) {
		t.Fatalf("acknowledgements %v, want those of STARTING and RUNNING", acks)
	}
	if !pending[0] || !pending[1] {
		t.Fatalf("the observer heard of acknowledgements after they were applied: %v", pending)
	}
	st := m.State()
	if tasks := st.Frameworks[0].Tasks; len(tasks) != 1 || len(tasks[0].Labels) != 1 || tasks[0].Labels[0].GetValue() != "p1" {
		t.Fatalf("state tasks %+v, want t1 with its label", tasks)
	}
}

// The Observer hears of each connection the master accepts, not of each request.
func TestObserverConnections(t *testing.T) {
	var conns atomic.Int32
	m := startSim(t, Config{Agents: 1, Observer: &Observer{Connected: func() { conns.Add(1) }}})
	get := func(c *http.Client) {
		t.Helper()
		resp, err := c.Get(m.URL() + "/health")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	kept := &http.Client{Transport: &http.Transport{}}
	get(kept)
	get(kept) // on the same connection
	get(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}})
	if n := conns.Load(); n != 2 {
		t.Fatalf("3 requests on 2 connections: observed %d connections", n)
	}
}

// The Observer hears of a task's end when the master records it, once, before the
// update that says so is sent when an earlier update of the task waits for its
// acknowledgement: a KILL's TASK_KILLED waits behind its TASK_KILLING.
func TestObserverEnded(t *testing.T) {
	var mu sync.Mutex
	var heard []string
	note := func(what string, st mesos.TaskStatus) {
		mu.Lock()
		defer mu.Unlock()
		heard = append(heard, what+" "+st.GetState().String())
	}
	heardSoFar := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(heard)
	}
	m := startSim(t, Config{Agents: 1, UpdateRetry: time.Minute, TaskStartDelay: 20 * time.Millisecond, Observer: &Observer{
		Update: func(_ string, st mesos.TaskStatus) { note("sent", st) },
		Ended:  func(_ string, st mesos.TaskStatus) { note("ended", st) },
	}})
	s := newSched(t, m)
	s.subscribe(info(mesos.FrameworkInfo_Capability_TASK_KILLING_STATE))
	o := s.offer("")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(commandTask("t1", o))}.WithOffers(o.ID)))
	s.waitState("t1", mesos.TASK_RUNNING)

	s.mustCall(calls.Kill("t1", o.AgentID.Value))
	e := s.nextMatching("UPDATE of t1", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_UPDATE })
	if st := e.GetUpdate().Status; st.GetState() != mesos.TASK_KILLING {
		t.Fatalf("first update after the KILL: %v, want TASK_KILLING", st.GetState())
	}
	want := []string{"sent TASK_STARTING", "sent TASK_RUNNING", "sent TASK_KILLING", "ended TASK_KILLED"}
	if got := heardSoFar(); !slices.Equal(got, want) {
		t.Fatalf("before TASK_KILLING is acknowledged the observer heard %v, want %v", got, want)
	}
	st := e.GetUpdate().Status
	s.mustCall(calls.Acknowledge(st.AgentID.Value, "t1", st.UUID))
	s.waitState("t1", mesos.TASK_KILLED)
	want = []string{"sent TASK_STARTING", "sent TASK_RUNNING", "sent TASK_KILLING", "ended TASK_KILLED", "sent TASK_KILLED"}
	if got := heardSoFar(); !slices.Equal(got, want) {
		t.Fatalf("the observer heard %v, want %v", got, want)
	}
}
