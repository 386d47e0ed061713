package mesossim

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	execcalls "github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/apierrors"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// More of the scheduler API's rules, through mesos-go's httpsched client: failover,
// removal, ACCEPT validation, update retries, and the executor API's validation.

// subscribeUntil subscribes like subscribe, but the stream ends when the returned
// function is called (as when the scheduler process dies). refused is the message of an
// ERROR the master answered the subscription with, if it did.
func (s *sched) subscribeUntil(info mesos.FrameworkInfo) (stop func(), refused string) {
	s.t.Helper()
	if s.id != "" {
		info.ID = &mesos.FrameworkID{Value: s.id}
	}
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := s.caller.Call(ctx, calls.Subscribe(&info))
	if err != nil {
		cancel()
		s.t.Fatalf("SUBSCRIBE: %v", err)
	}
	events := make(chan *scheduler.Event, 1024)
	s.events, s.skippedOffers = events, nil // offers of an earlier subscription are void
	go func() {
		defer close(events)
		for {
			var e scheduler.Event
			if err := resp.Decode(&e); err != nil {
				return
			}
			events <- &e
		}
	}()
	stop = func() { cancel(); _ = resp.Close() }
	s.t.Cleanup(stop)
	e := s.nextMatching("SUBSCRIBED or ERROR", func(e *scheduler.Event) bool {
		return e.Type == scheduler.Event_SUBSCRIBED || e.Type == scheduler.Event_ERROR
	})
	if e.Type == scheduler.Event_ERROR {
		return stop, e.GetError().GetMessage()
	}
	s.subscribed = e.GetSubscribed()
	s.id = s.subscribed.FrameworkID.Value
	return stop, ""
}

// streamClosed waits until the current stream ends, returning the ERROR it carried.
func (s *sched) streamClosed() string {
	s.t.Helper()
	msg := ""
	deadline := time.After(15 * time.Second)
	for {
		select {
		case e, open := <-s.events:
			if !open {
				return msg
			}
			if e.Type == scheduler.Event_ERROR {
				msg = e.GetError().GetMessage()
			}
		case <-deadline:
			s.t.Fatal("the stream did not close")
		}
	}
}

// waitRemoved waits until the framework is removed (listed as removed, or no longer
// listed: listed says which) and checks that its tasks were killed.
func waitRemoved(t *testing.T, m *Master, id string) (listed bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var fw *FrameworkState
		st := m.State()
		for i := range st.Frameworks {
			if st.Frameworks[i].ID == id {
				fw = &st.Frameworks[i]
			}
		}
		if fw == nil {
			return false
		}
		if fw.Removed {
			for _, task := range fw.Tasks {
				if task.State != "TASK_KILLED" {
					t.Errorf("task %s of a removed framework is %s", task.ID, task.State)
				}
			}
			return true
		}
		if time.Now().After(deadline) {
			t.Fatalf("framework %s was not removed after its failover timeout: %+v", id, st.Frameworks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bothOffers waits for an offer of each of the two agents.
// launchTestExecutor launches a task with the test executor e1 and returns the address of
// the agent's executor API.
func launchTestExecutor(s *sched, m *Master) string {
	s.t.Helper()
	s.subscribe(info())
	o := s.offer("")
	s.launch(o, testExecutor(s.t, "e1", "normal"), "t1")
	s.waitState("t1", mesos.TASK_RUNNING)
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.agents[0].endpoint
}

func bothOffers(s *sched) (agent1, agent2 mesos.Offer) {
	s.t.Helper()
	for agent1.Hostname == "" || agent2.Hostname == "" {
		for _, o := range s.next(scheduler.Event_OFFERS).GetOffers().Offers {
			switch o.Hostname {
			case "agent-1":
				agent1 = o
			case "agent-2":
				agent2 = o
			}
		}
	}
	return agent1, agent2
}

func taskOn(id string, agent mesos.AgentID, cpus float64) mesos.TaskInfo {
	sh := "sleep 1000"
	return mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: agent,
		Resources: []mesos.Resource{scalar("cpus", cpus)}, Command: &mesos.CommandInfo{Value: &sh}}
}

// Point 3: a resubscription fails the old stream over; a framework whose scheduler is
// gone longer than its failover_timeout is removed with its tasks killed, and so is one
// that sends TEARDOWN; a removed framework cannot subscribe again.
func TestConformanceFailoverTimeoutAndTeardown(t *testing.T) {
	m := startSim(t, Config{Agents: 1})
	timeout := 0.5
	fi := info()
	fi.FailoverTimeout = &timeout

	first := newSched(t, m)
	first.subscribeUntil(fi)
	o := first.offer("")
	first.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(taskOn("t1", o.AgentID, 1))}.WithOffers(o.ID)))
	first.waitState("t1", mesos.TASK_RUNNING)

	second := newSched(t, m)
	second.id = first.id
	stopSecond, _ := second.subscribeUntil(fi)
	if second.id != first.id {
		t.Fatalf("failover got framework id %s, want %s", second.id, first.id)
	}
	if msg := first.streamClosed(); msg != "Framework failed over" {
		t.Fatalf("the old stream ended with ERROR %q, want \"Framework failed over\"", msg)
	}
	// The failed-over scheduler's stream id is refused (mesos-go's client would not even
	// send the call, so it goes out raw).
	first.mu.Lock()
	oldStream := first.streamID
	first.mu.Unlock()
	revive := calls.Revive()
	revive.FrameworkID = &mesos.FrameworkID{Value: first.id}
	if resp := post(t, m.URL(), mediaProtobuf, "", oldStream, marshal(t, revive)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a call on the failed-over stream: %d, want 400", resp.StatusCode)
	}

	stopSecond() // the scheduler dies; its failover_timeout runs out
	if !waitRemoved(t, m, first.id) {
		t.Fatal("the removed framework is no longer listed")
	}
	third := newSched(t, m)
	third.id = first.id
	if _, refused := third.subscribeUntil(fi); refused != "Framework has been removed" {
		t.Fatalf("SUBSCRIBE of a removed framework: ERROR %q", refused)
	}

	// TEARDOWN removes at once.
	torn := newSched(t, m)
	torn.subscribe(info())
	torn.mustCall(&scheduler.Call{Type: scheduler.Call_TEARDOWN})
	torn.streamClosed()
	found := false
	for _, f := range m.State().Frameworks {
		if f.ID == torn.id {
			found = f.Removed
		}
	}
	if !found {
		t.Fatal("TEARDOWN did not remove the framework")
	}
}

// Point 5: ACCEPT validation answers with Mesos's states and reasons, from the master
// (no uuid): invalid offers drop every task (TASK_DROPPED for partition-aware frameworks,
// TASK_LOST for others, REASON_INVALID_OFFERS); an invalid task fails alone with
// TASK_ERROR, REASON_TASK_INVALID.
func TestConformanceAcceptValidation(t *testing.T) {
	m := startSim(t, Config{Agents: 2})
	aware := newSched(t, m)
	aware.subscribe(info(mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	o1, o2 := bothOffers(aware)

	expect := func(s *sched, id string, state mesos.TaskState, reason mesos.TaskStatus_Reason, msg string) {
		t.Helper()
		st := s.nextUpdate(id)
		if st.GetState() != state || st.GetReason() != reason || st.GetSource() != mesos.SOURCE_MASTER || len(st.UUID) != 0 ||
			!strings.Contains(st.GetMessage(), msg) {
			t.Fatalf("%s: %s %s %q (uuid %d bytes), want %s %s containing %q", id, st.GetState(), st.GetReason(), st.GetMessage(), len(st.UUID), state, reason, msg)
		}
	}

	// Another framework's offer (both agents are offered to the first); for a framework
	// that is not partition-aware the tasks are LOST.
	plain := newSched(t, m)
	plain.subscribe(info())
	plain.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(taskOn("y1", o2.AgentID, 0.1))}.WithOffers(o2.ID)))
	expect(plain, "y1", mesos.TASK_LOST, mesos.REASON_INVALID_OFFERS, "has invalid framework")

	// Offers of two agents in one ACCEPT.
	aware.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(taskOn("x1", o1.AgentID, 0.1))}.WithOffers(o1.ID, o2.ID)).With(calls.RefuseSeconds(0)))
	expect(aware, "x1", mesos.TASK_DROPPED, mesos.REASON_INVALID_OFFERS, "must belong to one single agent")
	// An offer the master does not know.
	aware.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(taskOn("x2", o1.AgentID, 0.1))}.WithOffers(mesos.OfferID{Value: "no-such-offer"})))
	expect(aware, "x2", mesos.TASK_DROPPED, mesos.REASON_INVALID_OFFERS, "no longer valid")

	o1 = aware.offer("agent-1")
	sh := "true"
	exec := mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: "e1"}, Command: &mesos.CommandInfo{Value: &sh},
		Resources: []mesos.Resource{scalar("cpus", 0.1)}}
	other := exec
	otherCmd := "false"
	other.Command = &mesos.CommandInfo{Value: &otherCmd}
	withExec := func(id string, e mesos.ExecutorInfo) mesos.TaskInfo {
		ti := taskOn(id, o1.AgentID, 0.1)
		ti.Command = nil
		ti.Executor = &e
		return ti
	}
	neither := taskOn("v-neither", o1.AgentID, 0.1)
	neither.Command = nil
	wrongAgent := taskOn("v-agent", o2.AgentID, 0.1)
	aware.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(
		taskOn("ok-1", o1.AgentID, 0.1),
		taskOn("ok-1", o1.AgentID, 0.1), // duplicate id
		neither,
		taskOn("v-big", o1.AgentID, 1000),
		wrongAgent,
		withExec("ok-2", exec),
		withExec("v-exec", other), // same executor id, another command
	)}.WithOffers(o1.ID)).With(calls.RefuseSeconds(0)))
	// The master answers the invalid tasks at once, in order; the valid ones run.
	want := map[string]string{
		"ok-1":      "duplicate ID",
		"v-neither": "CommandInfo or ExecutorInfo",
		"v-big":     "is more than available",
		"v-agent":   "uses invalid agent",
		"v-exec":    "not compatible",
	}
	for len(want) > 0 {
		e := aware.nextMatching("UPDATE", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_UPDATE })
		st := e.GetUpdate().Status
		if len(st.UUID) > 0 {
			aware.mustCall(calls.Acknowledge(st.AgentID.Value, st.TaskID.Value, st.UUID))
		}
		if st.GetState() != mesos.TASK_ERROR {
			continue
		}
		msg, ok := want[st.TaskID.Value]
		if !ok || st.GetReason() != mesos.REASON_TASK_INVALID || st.GetSource() != mesos.SOURCE_MASTER || len(st.UUID) != 0 ||
			!strings.Contains(st.GetMessage(), msg) {
			t.Fatalf("%s: %s %s %q: want TASK_ERROR REASON_TASK_INVALID from the master containing %q", st.TaskID.Value, st.GetState(), st.GetReason(), st.GetMessage(), msg)
		}
		delete(want, st.TaskID.Value)
	}
	aware.waitState("ok-2", mesos.TASK_RUNNING)

}

// A task's id stays taken until its terminal update is acknowledged (Mesos:
// src/master/validation.cpp validateUniqueTaskID looks in Framework::tasks, from which
// Master::acknowledge removes a task only once the update acknowledged is its latest and
// terminal): a LAUNCH of the id before then gets TASK_ERROR, REASON_TASK_INVALID, "Task
// has duplicate ID: <id>", from the master without a uuid, and the old task's terminal
// update is still sent again until acknowledged. Once it is, the id launches a new
// task, and nothing of the old one comes after.
func TestConformanceTaskIDTakenUntilTerminalUpdateAcknowledged(t *testing.T) {
	m := startSim(t, Config{Agents: 1, UpdateRetry: 100 * time.Millisecond})
	s := newSched(t, m)
	s.subscribe(info(mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	launch := func() {
		o := s.offer("agent-1")
		s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(taskOn("d1", o.AgentID, 0.1))}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
	}
	launch()
	running := s.waitState("d1", mesos.TASK_RUNNING)
	s.mustCall(calls.Kill("d1", running.AgentID.Value))
	killed := s.nextMatching("TASK_KILLED of d1", updateOf("d1", mesos.TASK_KILLED)).GetUpdate().Status
	if len(killed.UUID) != 16 {
		t.Fatalf("TASK_KILLED %v: want an agent's update, with a uuid", killed)
	}

	launch() // the KILLED is not acknowledged
	var refused *mesos.TaskStatus
	for resent := 0; refused == nil || resent == 0; {
		st := s.nextMatching("UPDATE of d1", updateOf("d1")).GetUpdate().Status
		switch {
		case st.GetState() == mesos.TASK_KILLED && bytes.Equal(st.UUID, killed.UUID):
			resent++
		case refused == nil:
			refused = &st
		default:
			t.Fatalf("update %v while the id is taken", st)
		}
	}
	if refused.GetState() != mesos.TASK_ERROR || refused.GetReason() != mesos.REASON_TASK_INVALID || refused.GetSource() != mesos.SOURCE_MASTER ||
		refused.GetMessage() != "Task has duplicate ID: d1" || len(refused.UUID) != 0 {
		t.Fatalf("LAUNCH of an id whose terminal update is not acknowledged: %v, want TASK_ERROR REASON_TASK_INVALID %q from the master",
			refused, "Task has duplicate ID: d1")
	}

	s.mustCall(calls.Acknowledge(killed.AgentID.Value, "d1", killed.UUID))
	launch()
	for _, want := range []mesos.TaskState{mesos.TASK_STARTING, mesos.TASK_RUNNING} {
		st := s.nextUpdate("d1")
		if st.GetState() == mesos.TASK_KILLED && bytes.Equal(st.UUID, killed.UUID) {
			st = s.nextUpdate("d1") // sent again before the acknowledgement got there
		}
		if st.GetState() != want || bytes.Equal(st.UUID, killed.UUID) {
			t.Fatalf("the task launched again after the acknowledgement: %v, want %s", st, want)
		}
	}
	// Several retry intervals later, nothing of the old task has come.
	time.Sleep(time.Second)
	s.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"marker": "no-such-agent"})))
	before, _ := s.eventsUntil("the marker", updateOf("marker"))
	for _, e := range before {
		if e.Type == scheduler.Event_UPDATE {
			t.Fatalf("after the new task ran: %v", e.GetUpdate().Status)
		}
	}
}

// Point 6: an agent's update carries a 16-byte uuid and is sent again, with backoff,
// until acknowledged; the next update of the task waits for it (one in flight per
// task); an ACKNOWLEDGE whose uuid is not a uuid is refused with 400.
func TestConformanceUpdatesRetriedUntilAcknowledged(t *testing.T) {
	m := startSim(t, Config{Agents: 1, UpdateRetry: 100 * time.Millisecond})
	s := newSched(t, m)
	s.subscribe(info())
	o := s.offer("")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(taskOn("t1", o.AgentID, 0.1))}.WithOffers(o.ID)))

	update := func() (mesos.TaskStatus, time.Time) {
		e := s.nextMatching("UPDATE of t1", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_UPDATE })
		return e.GetUpdate().Status, time.Now()
	}
	first, at1 := update()
	if len(first.UUID) != 16 || first.GetSource() == mesos.SOURCE_MASTER {
		t.Fatalf("agent update %v: want a 16-byte uuid", first)
	}
	again, at2 := update()
	third, at3 := update()
	for _, u := range []mesos.TaskStatus{again, third} {
		if !bytes.Equal(u.UUID, first.UUID) || u.GetState() != first.GetState() {
			t.Fatalf("before its acknowledgement %s was followed by %s: only it may be in flight", first.GetState(), u.GetState())
		}
	}
	if gap1, gap2 := at2.Sub(at1), at3.Sub(at2); gap2 < gap1 {
		t.Errorf("retries every %s then %s: want a growing backoff", gap1, gap2)
	}
	// Raw, as mesos-go's client drops its subscription on a refused call.
	bad := calls.Acknowledge(o.AgentID.Value, "t1", []byte("bad"))
	bad.FrameworkID = &mesos.FrameworkID{Value: s.id}
	s.mu.Lock()
	streamID := s.streamID
	s.mu.Unlock()
	if resp := post(t, m.URL(), mediaProtobuf, "", streamID, marshal(t, bad)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("ACKNOWLEDGE with a bad uuid: %d, want 400", resp.StatusCode)
	}
	s.mustCall(calls.Acknowledge(o.AgentID.Value, "t1", first.UUID))
	next, _ := update()
	if bytes.Equal(next.UUID, first.UUID) || next.GetState() == first.GetState() {
		t.Fatalf("after the acknowledgement got %v, want the next state", next)
	}
}

// Point 8: the executor API refuses (400) an UPDATE with TASK_STAGING, with a source
// other than the executor, or from an executor the agent does not know.
func TestConformanceExecutorUpdateValidation(t *testing.T) {
	m := startSim(t, execConfig())
	s := newSched(t, m)
	endpoint := launchTestExecutor(s, m)

	send := func(executorID string, st mesos.TaskStatus) error {
		cli := httpcli.New(httpcli.Endpoint("http://"+endpoint+"/api/v1/executor"), httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]))
		sender := execcalls.SenderWith(httpexec.NewSender(cli.Send), execcalls.Framework(s.id), execcalls.Executor(executorID))
		return execcalls.SendNoData(context.Background(), sender, execcalls.NonStreaming(execcalls.Update(st)))
	}
	status := func(state mesos.TaskState, source mesos.TaskStatus_Source) mesos.TaskStatus {
		u := newUUID()
		return mesos.TaskStatus{TaskID: mesos.TaskID{Value: "t1"}, State: state.Enum(), Source: source.Enum(), UUID: u}
	}
	for _, tc := range []struct {
		name     string
		executor string
		status   mesos.TaskStatus
	}{
		{"STAGING", "e1", status(mesos.TASK_STAGING, mesos.SOURCE_EXECUTOR)},
		{"not from the executor", "e1", status(mesos.TASK_RUNNING, mesos.SOURCE_MASTER)},
		{"unknown executor", "nobody", status(mesos.TASK_RUNNING, mesos.SOURCE_EXECUTOR)},
	} {
		if err := send(tc.executor, tc.status); !apierrors.CodeMalformedRequest.Matches(err) {
			t.Errorf("%s: %v, want 400", tc.name, err)
		}
	}
}

// The executor API's SUBSCRIBE picks the stream's media type from Accept, and answers 406
// when Accept allows neither.
func TestExecutorSubscribeFollowsAccept(t *testing.T) {
	m := startSim(t, execConfig())
	s := newSched(t, m)
	endpoint := launchTestExecutor(s, m)
	body, err := execcalls.Subscribe(nil, nil).With(execcalls.Framework(s.id), execcalls.Executor("e1")).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		accept, wantType string
		want             int
	}{
		{"text/html", "", http.StatusNotAcceptable},
		// The call is protobuf; the stream is JSON because Accept says so. (Only one
		// subscription succeeds: it takes the test executor's stream, which then exits.)
		{mediaJSON, mediaJSON, http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+endpoint+"/api/v1/executor", bytes.NewReader(body))
		req.Header.Set("Content-Type", mediaProtobuf)
		req.Header.Set("Accept", tc.accept)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		if resp.StatusCode != tc.want || (tc.wantType != "" && resp.Header.Get("Content-Type") != tc.wantType) {
			t.Errorf("Accept %s: %d %s, want %d %s", tc.accept, resp.StatusCode, resp.Header.Get("Content-Type"), tc.want, tc.wantType)
		}
		cancel()
		_ = resp.Body.Close()
	}
}

// Point 9: /health answers 200 and /state (also /master/state) shows agents, frameworks
// and tasks as JSON.
func TestStateAndHealth(t *testing.T) {
	m := startSim(t, Config{Agents: 2})
	s := newSched(t, m)
	s.subscribe(info())
	o := s.offer("")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(taskOn("t1", o.AgentID, 0.5))}.WithOffers(o.ID)))
	s.waitState("t1", mesos.TASK_RUNNING)
	resp, err := http.Get(m.URL() + "/health")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/health = %d", resp.StatusCode)
	}
	for _, path := range []string{"/state", "/master/state"} {
		resp, err := http.Get(m.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		var st State
		err = json.NewDecoder(resp.Body).Decode(&st)
		_ = resp.Body.Close()
		if err != nil || resp.Header.Get("Content-Type") != mediaJSON {
			t.Fatalf("%s: %v (%s)", path, err, resp.Header.Get("Content-Type"))
		}
		if len(st.Agents) != 2 || len(st.Frameworks) != 1 || len(st.Frameworks[0].Tasks) != 1 ||
			st.Frameworks[0].Tasks[0].State != "TASK_RUNNING" || st.Frameworks[0].Tasks[0].AgentID != o.AgentID.Value {
			t.Fatalf("%s: %+v", path, st)
		}
	}
}

// Point 8: an executor that has not subscribed gets 403 for other calls, and while a
// restarted agent waits for its executors to come back, calls but SUBSCRIBE get 503.
func TestExecutorCallsBeforeSubscribeAndDuringRecovery(t *testing.T) {
	cfg := execConfig()
	cfg.ExecutorReregistrationTimeout = 5 * time.Second
	m := startSim(t, cfg)
	s := newSched(t, m)
	s.subscribe(checkpointing())
	o := s.offer("")
	s.launch(o, testExecutor(t, "quiet", "silent"), "q1")
	s.launch(s.offer(""), testExecutor(t, "e1", "hang-on-disconnect"), "t1")
	s.waitState("t1", mesos.TASK_RUNNING)
	m.mu.Lock()
	endpoint := m.agents[0].endpoint
	m.mu.Unlock()
	update := func(executorID, taskID string) error {
		cli := httpcli.New(httpcli.Endpoint("http://"+endpoint+"/api/v1/executor"), httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]))
		sender := execcalls.SenderWith(httpexec.NewSender(cli.Send), execcalls.Framework(s.id), execcalls.Executor(executorID))
		st := mesos.TaskStatus{TaskID: mesos.TaskID{Value: taskID}, State: mesos.TASK_RUNNING.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum(), UUID: newUUID()}
		return execcalls.SendNoData(context.Background(), sender, execcalls.NonStreaming(execcalls.Update(st)))
	}
	if err := update("quiet", "q1"); !apierrors.CodeUnsubscribed.Matches(err) {
		t.Fatalf("UPDATE from an executor that never subscribed: %v, want 403", err)
	}

	if err := m.RestartAgent("agent-1"); err != nil {
		t.Fatal(err)
	}
	waitReady(t, m, "agent-1")
	// e1 does not come back, so the agent keeps waiting for it (five seconds here).
	if err := update("e1", "t1"); !apierrors.CodeMesosUnavailable.Matches(err) {
		t.Fatalf("UPDATE while the agent recovers: %v, want 503", err)
	}
}

// After an agent restart, a task still STAGING that its executor does not list when it
// subscribes again was lost with the restart: TASK_DROPPED (TASK_LOST if not
// PARTITION_AWARE), REASON_AGENT_RESTARTED, "Task launched during agent restart", from
// the agent with a uuid and the executor id (Mesos: src/slave/slave.cpp
// Slave::subscribe).
func TestRestartAgentDropsUnlistedStagingTasks(t *testing.T) {
	for _, aware := range []bool{true, false} {
		m := startSim(t, execConfig())
		s := newSched(t, m)
		fi := checkpointing()
		want := mesos.TASK_LOST
		if aware {
			fi = checkpointing(mesos.FrameworkInfo_Capability_PARTITION_AWARE)
			want = mesos.TASK_DROPPED
		}
		s.subscribe(fi)
		o := s.offer("")
		// The executor never reports forgotten-1: it stays STAGING.
		s.launch(o, testExecutor(t, "e1", "normal"), "t1", "forgotten-1")
		s.waitState("t1", mesos.TASK_RUNNING)
		if err := m.RestartAgent("agent-1"); err != nil {
			t.Fatal(err)
		}
		st := s.nextUpdate("forgotten-1")
		if st.GetState() != want || st.GetReason() != mesos.REASON_AGENT_RESTARTED || st.GetSource() != mesos.SOURCE_AGENT ||
			st.GetMessage() != "Task launched during agent restart" || st.GetExecutorID().GetValue() != "e1" || len(st.UUID) != 16 {
			t.Fatalf("partition-aware %v: %v, want %s REASON_AGENT_RESTARTED from the agent", aware, st, want)
		}
	}
}

// The executor API checks requests as the scheduler API does: 405 for other methods,
// 400 without a Content-Type, 415 for one it does not speak.
func TestExecutorEndpointRefusesBadRequests(t *testing.T) {
	m := startSim(t, execConfig())
	s := newSched(t, m)
	endpoint := launchTestExecutor(s, m)
	for _, tc := range []struct {
		method, contentType string
		want                int
	}{
		{http.MethodGet, mediaProtobuf, http.StatusMethodNotAllowed},
		{http.MethodPost, "", http.StatusBadRequest},
		{http.MethodPost, "text/plain", http.StatusUnsupportedMediaType},
	} {
		req, _ := http.NewRequest(tc.method, "http://"+endpoint+"/api/v1/executor", bytes.NewReader(nil))
		if tc.contentType != "" {
			req.Header.Set("Content-Type", tc.contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s with Content-Type %q: %d, want %d", tc.method, tc.contentType, resp.StatusCode, tc.want)
		}
	}
}
