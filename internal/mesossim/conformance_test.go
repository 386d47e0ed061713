package mesossim

// Conformance tests: the sim driven by mesos-go's own, unmodified clients — httpsched for
// the scheduler and httpexec for the executor. The executor is this test binary run
// again with MESOS_SIM_TEST_EXECUTOR set (see TestMain), started by the sim's exec mode
// as Mesos would start it, with the MESOS_* environment.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	execcalls "github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// envTestExecutor makes the test binary a test executor; its value is the mode:
// "normal", "ignore-shutdown" (it does not exit on SHUTDOWN), "hang-on-disconnect"
// (it never subscribes again after losing its agent) or "silent" (it never subscribes).
const envTestExecutor = "MESOS_SIM_TEST_EXECUTOR"

func TestMain(m *testing.M) {
	if mode := os.Getenv(envTestExecutor); mode != "" {
		os.Exit(runTestExecutor(mode))
	}
	os.Exit(m.Run())
}

// runTestExecutor is a small executor on mesos-go's httpexec client: it runs every task
// it is given (RUNNING), kills on KILL (KILLED), answers a MESSAGE with a MESSAGE
// "echo:<data>", exits on SHUTDOWN, and, for a checkpointing framework, subscribes
// again after losing its agent, listing its unacknowledged tasks and updates. While the
// agent is away it makes one update per task (RUNNING, "while the agent was away") that
// it can only hand over in that SUBSCRIBE.
func runTestExecutor(mode string) int {
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "Config:", err)
		return 2
	}
	if mode == "silent" {
		select {} // started, but never subscribes
	}
	newSender := func(opts ...httpcli.RequestOpt) execcalls.Sender {
		cli := httpcli.New(httpcli.Endpoint("http://"+cfg.AgentEndpoint+"/api/v1/executor"),
			httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]))
		return execcalls.SenderWith(httpexec.NewSender(cli.Send, opts...),
			execcalls.Framework(cfg.FrameworkID), execcalls.Executor(cfg.ExecutorID))
	}
	sender, subscriber := newSender(), newSender(httpcli.Close(true))
	ctx := context.Background()

	var (
		tasks   = map[string]mesos.TaskInfo{} // not acknowledged
		updates []mexec.Call_Update           // not acknowledged, in order
		running = map[string]bool{}
	)
	update := func(taskID mesos.TaskID, state mesos.TaskState, msg string, send bool) {
		now := float64(time.Now().UnixNano()) / 1e9
		u := uuid.New()
		st := mesos.TaskStatus{TaskID: taskID, State: state.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum(),
			ExecutorID: &mesos.ExecutorID{Value: cfg.ExecutorID}, UUID: u[:], Timestamp: &now}
		if msg != "" {
			st.Message = &msg
		}
		updates = append(updates, mexec.Call_Update{Status: st})
		if send {
			_ = execcalls.SendNoData(ctx, sender, execcalls.NonStreaming(execcalls.Update(st)))
		}
	}
	launch := func(t mesos.TaskInfo, msg string) {
		tasks[t.TaskID.Value] = t
		running[t.TaskID.Value] = true
		update(t.TaskID, mesos.TASK_RUNNING, msg, true)
	}

	away := time.Time{}
	for {
		var ts []mesos.TaskInfo
		for _, t := range tasks {
			ts = append(ts, t)
		}
		resp, err := subscriber.Send(ctx, execcalls.NonStreaming(execcalls.Subscribe(ts, updates)))
		if err != nil {
			if !cfg.Checkpoint {
				return 1
			}
			if away.IsZero() {
				away = time.Now()
			}
			if time.Since(away) > cfg.RecoveryTimeout {
				return 1
			}
			time.Sleep(min(cfg.SubscriptionBackoffMax/4, 100*time.Millisecond))
			continue
		}
		away = time.Time{}
		for {
			var e mexec.Event
			if err := resp.Decode(&e); err != nil {
				break
			}
			switch e.GetType() {
			case mexec.Event_LAUNCH:
				if strings.HasPrefix(e.GetLaunch().Task.TaskID.Value, "forgotten") {
					continue // as if the LAUNCH were lost in an agent restart
				}
				launch(e.GetLaunch().Task, "")
			case mexec.Event_LAUNCH_GROUP:
				group := e.GetLaunchGroup().TaskGroup.Tasks
				for _, t := range group {
					launch(t, fmt.Sprintf("launched in a group of %d", len(group)))
				}
			case mexec.Event_KILL:
				id := e.GetKill().TaskID
				delete(running, id.Value)
				update(id, mesos.TASK_KILLED, "", true)
			case mexec.Event_MESSAGE:
				data := append([]byte("echo:"), e.GetMessage().Data...)
				_ = execcalls.SendNoData(ctx, sender, execcalls.NonStreaming(execcalls.Message(data)))
			case mexec.Event_ACKNOWLEDGED:
				ack := e.GetAcknowledged()
				delete(tasks, ack.TaskID.Value)
				for i, u := range updates {
					if bytes.Equal(u.Status.UUID, ack.UUID) {
						updates = append(updates[:i], updates[i+1:]...)
						break
					}
				}
			case mexec.Event_SHUTDOWN:
				if mode != "ignore-shutdown" {
					return 0
				}
			}
		}
		_ = resp.Close()
		if !cfg.Checkpoint {
			return 1 // the agent is gone and will not take it back
		}
		if mode == "hang-on-disconnect" {
			select {} // a hung executor: the agent must kill it
		}
		for id := range running {
			update(mesos.TaskID{Value: id}, mesos.TASK_RUNNING, "while the agent was away", false)
		}
	}
}

// testExecutor is the ExecutorInfo of the test executor in a mode.
func testExecutor(t *testing.T, id, mode string) mesos.ExecutorInfo {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	shell := false
	return mesos.ExecutorInfo{
		ExecutorID: mesos.ExecutorID{Value: id},
		Type:       mesos.ExecutorInfo_CUSTOM,
		Command: &mesos.CommandInfo{Value: &self, Shell: &shell, Arguments: []string{self},
			Environment: &mesos.Environment{Variables: []mesos.Environment_Variable{{Name: envTestExecutor, Value: &mode}}}},
		Resources: []mesos.Resource{scalar("cpus", 0.1), scalar("mem", 32)},
	}
}

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

func execConfig() Config {
	return Config{Agents: 1, Exec: true, ExecutorShutdownGracePeriod: 300 * time.Millisecond,
		ExecutorReregistrationTimeout: time.Second, UpdateRetry: time.Minute}
}

// TestConformanceMessageBothWays: a scheduler MESSAGE reaches the executor, and the
// executor's MESSAGE reaches the scheduler naming its agent and executor.
func TestConformanceMessageBothWays(t *testing.T) {
	m := startSim(t, execConfig())
	s := newSched(t, m)
	s.subscribe(info())
	o := s.offer("")
	s.launch(o, testExecutor(t, "e1", "normal"), "t1")
	s.waitState("t1", mesos.TASK_RUNNING)

	s.mustCall(calls.Message(o.AgentID.Value, "e1", []byte("hello")))
	msg := s.next(scheduler.Event_MESSAGE).GetMessage()
	if string(msg.Data) != "echo:hello" || msg.AgentID != o.AgentID || msg.ExecutorID.Value != "e1" {
		t.Fatalf("MESSAGE event %v", msg)
	}
	// Unknown agent or executor: accepted (202) and dropped.
	if err := s.call(calls.Message("no-such-agent", "e1", []byte("x"))); err != nil {
		t.Fatalf("MESSAGE to an unknown agent: %v", err)
	}
	if err := s.call(calls.Message(o.AgentID.Value, "nope", []byte("x"))); err != nil {
		t.Fatalf("MESSAGE to an unknown executor: %v", err)
	}
	// Nothing comes back for the dropped ones: the next echo is of the next message.
	s.mustCall(calls.Message(o.AgentID.Value, "e1", []byte("again")))
	if msg := s.next(scheduler.Event_MESSAGE).GetMessage(); string(msg.Data) != "echo:again" {
		t.Fatalf("MESSAGE event %q, want echo:again", msg.Data)
	}
}

// TestMessageSimulatedIsDropped: without executor processes a MESSAGE is accepted and
// dropped.
func TestMessageSimulatedIsDropped(t *testing.T) {
	m := startSim(t, Config{Agents: 1})
	s := newSched(t, m)
	s.subscribe(info())
	o := s.offer("")
	if err := s.call(calls.Message(o.AgentID.Value, "e1", []byte("x"))); err != nil {
		t.Fatalf("MESSAGE: %v", err)
	}
}

// TestConformanceShutdownExecutor: SHUTDOWN reaches the executor, which exits; its live
// task ends TASK_FAILED, REASON_EXECUTOR_TERMINATED from the agent, and the framework
// gets FAILURE naming the executor with its exit status (slave.cpp: executorTerminated).
func TestConformanceShutdownExecutor(t *testing.T) {
	cfg := execConfig()
	cfg.ExecutorShutdownGracePeriod = 10 * time.Second // it exits long before
	m := startSim(t, cfg)
	s := newSched(t, m)
	s.subscribe(info())
	o := s.offer("")
	s.launch(o, testExecutor(t, "e1", "normal"), "t1")
	s.waitState("t1", mesos.TASK_RUNNING)

	s.mustCall(calls.Shutdown("e1", o.AgentID.Value))
	st := s.nextUpdate("t1")
	if st.GetState() != mesos.TASK_FAILED || st.GetReason() != mesos.REASON_EXECUTOR_TERMINATED ||
		st.GetSource() != mesos.SOURCE_AGENT || len(st.UUID) != 16 {
		t.Fatalf("task after SHUTDOWN: %v", st)
	}
	f := s.next(scheduler.Event_FAILURE).GetFailure()
	if f.GetExecutorID().GetValue() != "e1" || f.GetAgentID().GetValue() != o.AgentID.Value || f.Status == nil || f.GetStatus() != 0 {
		t.Fatalf("FAILURE %v, want executor e1 on %s with status 0", f, o.AgentID.Value)
	}
	// A second SHUTDOWN of the gone executor, and one of an unknown agent, are accepted.
	s.mustCall(calls.Shutdown("e1", o.AgentID.Value))
	s.mustCall(calls.Shutdown("e1", "no-such-agent"))
}

// TestConformanceShutdownGracePeriod: an executor that ignores SHUTDOWN is killed once
// the shutdown grace period has passed, not before.
func TestConformanceShutdownGracePeriod(t *testing.T) {
	m := startSim(t, execConfig())
	s := newSched(t, m)
	s.subscribe(info())
	o := s.offer("")
	s.launch(o, testExecutor(t, "e1", "ignore-shutdown"), "t1")
	s.waitState("t1", mesos.TASK_RUNNING)

	start := time.Now()
	s.mustCall(calls.Shutdown("e1", o.AgentID.Value))
	if st := s.nextUpdate("t1"); st.GetState() != mesos.TASK_FAILED || st.GetReason() != mesos.REASON_EXECUTOR_TERMINATED {
		t.Fatalf("task after the kill: %v", st)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("killed after %v, before the 300ms grace period", waited)
	}
	if f := s.next(scheduler.Event_FAILURE).GetFailure(); f.GetExecutorID().GetValue() != "e1" || f.GetStatus() != 9 {
		t.Fatalf("FAILURE %v, want executor e1 killed by SIGKILL (status 9)", f)
	}
}

// TestShutdownSimulatedExecutor: without executor processes SHUTDOWN ends the
// executor's tasks as if it had exited.
func TestShutdownSimulatedExecutor(t *testing.T) {
	m := startSim(t, Config{Agents: 1})
	s := newSched(t, m)
	s.subscribe(info())
	o := s.offer("")
	s.launch(o, testExecutor(t, "e1", "normal"), "t1")
	s.waitState("t1", mesos.TASK_RUNNING)
	s.mustCall(calls.Shutdown("e1", o.AgentID.Value))
	if st := s.nextUpdate("t1"); st.GetState() != mesos.TASK_FAILED || st.GetReason() != mesos.REASON_EXECUTOR_TERMINATED {
		t.Fatalf("task after SHUTDOWN: %v", st)
	}
	if f := s.next(scheduler.Event_FAILURE).GetFailure(); f.GetExecutorID().GetValue() != "e1" {
		t.Fatalf("FAILURE %v", f)
	}
}

func checkpointing(caps ...mesos.FrameworkInfo_Capability_Type) mesos.FrameworkInfo {
	fi := info(caps...)
	fi.Checkpoint = ptr(true)
	return fi
}

func waitReady(t *testing.T, m *Master, hostname string) {
	t.Helper()
	select {
	case <-m.AgentReady(hostname):
	case <-time.After(10 * time.Second):
		t.Fatalf("agent %s does not serve again", hostname)
	}
}

// TestConformanceRestartAgentCheckpointing: the executor of a checkpointing framework
// survives an agent restart, subscribes again, and the update it could not deliver while
// the agent was away reaches the framework; the agent offers again and the executor
// still answers messages.
func TestConformanceRestartAgentCheckpointing(t *testing.T) {
	m := startSim(t, execConfig())
	s := newSched(t, m)
	s.subscribe(checkpointing(mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	o := s.offer("")
	s.launch(o, testExecutor(t, "e1", "normal"), "t1")
	s.waitState("t1", mesos.TASK_RUNNING)

	if err := m.RestartAgent("agent-1"); err != nil {
		t.Fatal(err)
	}
	if err := m.RestartAgent("agent-1"); err == nil {
		t.Fatal("restarting a restarting agent must fail")
	}
	waitReady(t, m, "agent-1")
	st := s.nextUpdate("t1")
	if st.GetState() != mesos.TASK_RUNNING || st.GetMessage() != "while the agent was away" || st.GetSource() != mesos.SOURCE_EXECUTOR {
		t.Fatalf("after the restart: %v, want the executor's unacknowledged RUNNING update", st)
	}
	s.offer("agent-1") // registered again
	s.mustCall(calls.Message(o.AgentID.Value, "e1", []byte("still there")))
	if msg := s.next(scheduler.Event_MESSAGE).GetMessage(); string(msg.Data) != "echo:still there" {
		t.Fatalf("MESSAGE %q", msg.Data)
	}
}

// TestConformanceRestartAgentNotCheckpointing: a framework that does not checkpoint
// loses its tasks when their agent restarts (TASK_LOST from the master,
// REASON_AGENT_DISCONNECTED) and gets their resources offered again.
func TestConformanceRestartAgentNotCheckpointing(t *testing.T) {
	m := startSim(t, execConfig())
	s := newSched(t, m)
	s.subscribe(info(mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	o := s.offer("")
	s.launch(o, testExecutor(t, "e1", "normal"), "t1")
	s.waitState("t1", mesos.TASK_RUNNING)

	if err := m.RestartAgent("agent-1"); err != nil {
		t.Fatal(err)
	}
	st := s.nextUpdate("t1")
	if st.GetState() != mesos.TASK_LOST || st.GetReason() != mesos.REASON_AGENT_DISCONNECTED || st.GetSource() != mesos.SOURCE_MASTER || len(st.UUID) != 0 {
		t.Fatalf("after the restart: %v", st)
	}
	waitReady(t, m, "agent-1")
	for scalars(s.offer("agent-1").Resources)["cpus"] != 4 {
		// until the task's and the executor's cpus are back
	}
}

// TestConformanceRestartAgentExecutorTimeout: an executor of a checkpointing framework
// that does not subscribe again in time is killed; its task ends TASK_GONE,
// REASON_EXECUTOR_REREGISTRATION_TIMEOUT, and FAILURE names it.
func TestConformanceRestartAgentExecutorTimeout(t *testing.T) {
	m := startSim(t, execConfig())
	s := newSched(t, m)
	s.subscribe(checkpointing(mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	o := s.offer("")
	s.launch(o, testExecutor(t, "e1", "hang-on-disconnect"), "t1")
	s.waitState("t1", mesos.TASK_RUNNING)

	if err := m.RestartAgent("agent-1"); err != nil {
		t.Fatal(err)
	}
	st := s.nextUpdate("t1")
	if st.GetState() != mesos.TASK_GONE || st.GetReason() != mesos.REASON_EXECUTOR_REREGISTRATION_TIMEOUT || st.GetSource() != mesos.SOURCE_AGENT {
		t.Fatalf("after the restart: %v", st)
	}
	if f := s.next(scheduler.Event_FAILURE).GetFailure(); f.GetExecutorID().GetValue() != "e1" || f.GetStatus() != 9 {
		t.Fatalf("FAILURE %v", f)
	}
}

// faultOverHTTP posts a fault and returns the status code.
func faultOverHTTP(t *testing.T, m *Master, path string) int {
	t.Helper()
	resp, err := http.Post(m.URL()+path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestRestartAgentOverHTTP(t *testing.T) {
	m := startSim(t, Config{Agents: 1})
	s := newSched(t, m)
	s.subscribe(info())
	o := s.offer("")
	if got := faultOverHTTP(t, m, "/faults/restart-agent?agent=nope"); got != http.StatusNotFound {
		t.Fatalf("unknown agent: %d", got)
	}
	if got := faultOverHTTP(t, m, "/faults/restart-agent?agent=agent-1"); got != http.StatusAccepted {
		t.Fatalf("restart: %d", got)
	}
	if got := faultOverHTTP(t, m, "/faults/restart-agent?agent=agent-1"); got != http.StatusConflict {
		t.Fatalf("restart while restarting: %d", got)
	}
	if r := s.next(scheduler.Event_RESCIND).GetRescind(); r.OfferID != o.ID {
		t.Fatalf("RESCIND %v, want %v", r.OfferID, o.ID)
	}
	waitReady(t, m, "agent-1")
	s.offer("agent-1")
}

// An ACCEPT can fail with its launch applied (the answer lost) or not. The master applies
// an ACCEPT before it answers, so the task exists, or not, when the call returns.
func TestFailAcceptsOverHTTP(t *testing.T) {
	for _, processed := range []bool{true, false} {
		m := startSim(t, Config{Agents: 1})
		s := newSched(t, m)
		s.subscribe(info())
		if got := faultOverHTTP(t, m, fmt.Sprintf("/faults/fail-accepts?n=1&processed=%v", processed)); got != http.StatusAccepted {
			t.Fatalf("fail-accepts: %d", got)
		}
		o := s.offer("")
		if err := s.call(calls.Accept(calls.OfferOperations{calls.OpLaunch(commandTask("t", o))}.WithOffers(o.ID))); err == nil {
			t.Fatalf("processed=%v: the ACCEPT succeeded; want it answered with an error", processed)
		}
		if launched := len(m.State().Frameworks[0].Tasks) == 1; launched != processed {
			t.Fatalf("processed=%v: task launched = %v", processed, launched)
		}
	}
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

// TestConformanceFailoverMaster: after a master failover the framework's stream ends
// without ERROR; the new master refuses its calls until it subscribes again (403 with
// tasks, 400 without); SUBSCRIBE with its id gives it the same id from a master with a
// new id, its task and its unacknowledged update; the old stream id is refused.
func TestConformanceFailoverMaster(t *testing.T) {
	m := startSim(t, Config{Agents: 1, UpdateRetry: time.Minute})
	oldMaster := m.ID()
	s := newSched(t, m)
	s.subscribe(info())
	idle := newSched(t, m)
	idle.subscribe(info())
	o := s.offer("")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(commandTask("t1", o))}.WithOffers(o.ID)))
	starting := s.nextMatching("STARTING", func(e *scheduler.Event) bool {
		return e.Type == scheduler.Event_UPDATE && e.GetUpdate().Status.GetState() == mesos.TASK_STARTING
	}).GetUpdate().Status // not acknowledged
	s.mu.Lock()
	oldStream := s.streamID
	s.mu.Unlock()

	if got := faultOverHTTP(t, m, "/faults/failover-master"); got != http.StatusAccepted {
		t.Fatalf("failover-master = %d", got)
	}
	s.streamEnds()
	idle.streamEnds()
	if m.ID() == oldMaster {
		t.Fatal("the master kept its id")
	}
	revive := func(id, stream string) int {
		return post(t, m.URL(), mediaProtobuf, "", stream, marshal(t, calls.Revive().With(calls.Framework(id)))).StatusCode
	}
	if got := revive(s.id, oldStream); got != http.StatusForbidden {
		t.Fatalf("call of a framework with tasks before it subscribes again = %d, want 403", got)
	}
	if got := revive(idle.id, oldStream); got != http.StatusBadRequest {
		t.Fatalf("call of a framework the new master does not know = %d, want 400", got)
	}

	oldID := s.id
	sub := s.subscribe(info())
	if sub.FrameworkID.Value != oldID || sub.MasterInfo.ID == oldMaster || sub.MasterInfo.ID != m.ID() {
		t.Fatalf("SUBSCRIBED %v: want framework %s from a master with a new id", sub, oldID)
	}
	again := s.nextUpdate("t1")
	if again.GetState() != mesos.TASK_STARTING || !bytes.Equal(again.UUID, starting.UUID) {
		t.Fatalf("redelivered %v, want the unacknowledged STARTING", again)
	}
	s.waitState("t1", mesos.TASK_RUNNING)
	if got := revive(s.id, oldStream); got != http.StatusBadRequest {
		t.Fatalf("old stream id = %d, want 400", got)
	}
	if idle.subscribe(info()).FrameworkID.Value != idle.id {
		t.Fatal("a framework the new master did not know must get its id back")
	}
}

// TestConformanceKillExecutor: a killed executor's task ends TASK_FAILED,
// REASON_EXECUTOR_TERMINATED, and FAILURE names the executor.
func TestConformanceKillExecutor(t *testing.T) {
	m := startSim(t, execConfig())
	s := newSched(t, m)
	s.subscribe(info())
	o := s.offer("")
	s.launch(o, testExecutor(t, "e1", "normal"), "t1")
	s.waitState("t1", mesos.TASK_RUNNING)

	if got := faultOverHTTP(t, m, "/faults/kill-executor?agent=agent-1&framework="+s.id+"&executor=nope"); got != http.StatusNotFound {
		t.Fatalf("unknown executor = %d", got)
	}
	if got := faultOverHTTP(t, m, "/faults/kill-executor?agent=agent-1&framework="+s.id+"&executor=e1"); got != http.StatusAccepted {
		t.Fatalf("kill-executor = %d", got)
	}
	if st := s.nextUpdate("t1"); st.GetState() != mesos.TASK_FAILED || st.GetReason() != mesos.REASON_EXECUTOR_TERMINATED {
		t.Fatalf("after the kill: %v", st)
	}
	if f := s.next(scheduler.Event_FAILURE).GetFailure(); f.GetExecutorID().GetValue() != "e1" || f.GetAgentID().GetValue() != o.AgentID.Value || f.GetStatus() != 9 {
		t.Fatalf("FAILURE %v", f)
	}
}

// TestConformanceHealAgent: a partitioned agent that comes back brings its task back for
// PARTITION_AWARE frameworks (UNREACHABLE, then RUNNING) and others (LOST, then RUNNING)
// alike, as Mesos 1.5+ does, and offers again.
func TestConformanceHealAgent(t *testing.T) {
	for _, tc := range []struct {
		name string
		fi   mesos.FrameworkInfo
		cut  mesos.TaskState
	}{
		{"partition-aware", info(mesos.FrameworkInfo_Capability_PARTITION_AWARE), mesos.TASK_UNREACHABLE},
		{"not partition-aware", info(), mesos.TASK_LOST},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := startSim(t, Config{Agents: 1})
			s := newSched(t, m)
			s.subscribe(tc.fi)
			o := s.offer("")
			s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(commandTask("t1", o))}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
			s.waitState("t1", mesos.TASK_RUNNING)
			if got := faultOverHTTP(t, m, "/faults/heal?agent=agent-1"); got != http.StatusConflict {
				t.Fatalf("healing a connected agent = %d, want 409", got)
			}
			if err := m.PartitionAgent("agent-1"); err != nil {
				t.Fatal(err)
			}
			if st := s.nextUpdate("t1"); st.GetState() != tc.cut {
				t.Fatalf("after the partition: %v", st)
			}
			if got := faultOverHTTP(t, m, "/faults/heal?agent=agent-1"); got != http.StatusAccepted {
				t.Fatalf("heal = %d", got)
			}
			st := s.nextUpdate("t1")
			if st.GetState() != mesos.TASK_RUNNING || st.GetReason() != mesos.REASON_AGENT_REREGISTERED || st.GetSource() != mesos.SOURCE_MASTER {
				t.Fatalf("after healing: %v", st)
			}
			s.offer("agent-1")
			if err := m.RemoveAgent("agent-1"); err != nil {
				t.Fatal(err)
			}
			if err := m.HealAgent("agent-1"); err == nil {
				t.Fatal("a removed agent must not come back")
			}
		})
	}
}

// TestDuplicateAndDelayedUpdates: with DuplicateUpdates every agent update arrives twice
// with its uuid; with DelayUpdates it arrives only after the delay, still in order.
func TestDuplicateAndDelayedUpdates(t *testing.T) {
	m := startSim(t, Config{Agents: 1, UpdateRetry: time.Minute})
	s := newSched(t, m)
	s.subscribe(info())
	if got := faultOverHTTP(t, m, "/faults/duplicate-updates?on=true"); got != http.StatusAccepted {
		t.Fatalf("duplicate-updates = %d", got)
	}
	o := s.offer("")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(commandTask("t1", o))}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
	isT1 := func(e *scheduler.Event) bool {
		return e.Type == scheduler.Event_UPDATE && e.GetUpdate().Status.TaskID.Value == "t1"
	}
	first := s.nextMatching("UPDATE", isT1).GetUpdate().Status
	second := s.nextMatching("UPDATE", isT1).GetUpdate().Status
	if first.GetState() != mesos.TASK_STARTING || !bytes.Equal(first.UUID, second.UUID) || second.GetState() != first.GetState() {
		t.Fatalf("updates %v then %v, want one update twice", first, second)
	}
	s.mustCall(calls.Acknowledge(o.AgentID.Value, "t1", first.UUID))
	s.waitState("t1", mesos.TASK_RUNNING)
	m.DuplicateUpdates(false)

	if got := faultOverHTTP(t, m, "/faults/delay-updates?for=300ms"); got != http.StatusAccepted {
		t.Fatalf("delay-updates = %d", got)
	}
	o = s.offer("")
	start := time.Now()
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(commandTask("t2", o))}.WithOffers(o.ID)))
	if st := s.nextUpdate("t2"); st.GetState() != mesos.TASK_STARTING {
		t.Fatalf("first update %v, want STARTING", st)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("update after %v, before the 300ms delay", waited)
	}
	if st := s.nextUpdate("t2"); st.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("second update %v, want RUNNING", st)
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
	s.mustCall(calls.Kill("ghost", o.AgentID.Value))
	if st := s.nextUpdate("ghost"); st.GetState() != mesos.TASK_LOST || st.GetReason() != mesos.REASON_RECONCILIATION {
		t.Fatalf("kill of an unknown task: %v", st)
	}
}
