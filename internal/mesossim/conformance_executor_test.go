package mesossim

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// The test executor, and conformance tests of the executor API: messages, SHUTDOWN and
// executors that end.

// envTestExecutor makes the test binary a test executor; its value is the mode:
// "normal", "ignore-shutdown" (it does not exit on SHUTDOWN), "hang-on-disconnect"
// (it never subscribes again after losing its agent), "silent" (it never subscribes)
// or "when-told" (it subscribes once the file tellFile is in its sandbox, and writes
// each event it gets, its type and the tasks it names, as a line of eventsFile there).
const envTestExecutor = "MESOS_SIM_TEST_EXECUTOR"

// The files of a "when-told" test executor, in its sandbox.
const (
	tellFile   = "subscribe-now"
	eventsFile = "events"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envTestExecutor); mode != "" {
		os.Exit(runTestExecutor(mode))
	}
	os.Exit(m.Run())
}

// runTestExecutor is a small executor on mesos-go's httpexec client: it runs every task
// it is given (RUNNING), kills on KILL (KILLED), answers a MESSAGE with a MESSAGE
// "echo:<data>", exits on SHUTDOWN, sends the token the agent gave it on every call,
// and, for a checkpointing framework, subscribes again after losing its agent, listing
// its unacknowledged tasks and updates. While the agent is away it makes one update per
// task (RUNNING, "while the agent was away") that it can only hand over in that
// SUBSCRIBE.
func runTestExecutor(mode string) int {
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "Config:", err)
		return 2
	}
	if mode == "silent" {
		select {} // started, but never subscribes
	}
	for mode == "when-told" {
		if _, err := os.Stat(filepath.Join(cfg.Sandbox, tellFile)); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	x := newTestExec(cfg, mode)
	for {
		resp, err := x.subscriber.Send(x.ctx, execcalls.NonStreaming(execcalls.Subscribe(x.unacknowledgedTasks(), x.updates)))
		if err != nil {
			if !x.waitForAgent() {
				return 1
			}
			continue
		}
		x.away = time.Time{}
		if x.readEvents(resp) {
			return 0 // told to SHUT DOWN
		}
		_ = resp.Close()
		if !cfg.Checkpoint {
			return 1 // the agent is gone and will not take it back
		}
		if mode == "hang-on-disconnect" {
			select {} // a hung executor: the agent must kill it
		}
		for id := range x.running {
			x.update(mesos.TaskID{Value: id}, mesos.TASK_RUNNING, "while the agent was away", false)
		}
	}
}

// testExec is the state of the test executor process.
type testExec struct {
	cfg  config.Config
	mode string
	ctx  context.Context
	// sender sends calls; subscriber holds the SUBSCRIBE stream on its own connection.
	sender, subscriber execcalls.Sender

	tasks   map[string]mesos.TaskInfo // not acknowledged
	updates []mexec.Call_Update       // not acknowledged, in order
	running map[string]bool
	// away is when SUBSCRIBE first failed since the agent was last reached.
	away time.Time
}

func newTestExec(cfg config.Config, mode string) *testExec {
	newSender := func(opts ...httpcli.RequestOpt) execcalls.Sender {
		cli := httpcli.New(httpcli.Endpoint("http://"+cfg.AgentEndpoint+"/api/v1/executor"),
			httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]))
		if token := os.Getenv(envExecutorToken); token != "" {
			cli.With(httpcli.DefaultHeader("Authorization", "Bearer "+token))
		}
		return execcalls.SenderWith(httpexec.NewSender(cli.Send, opts...),
			execcalls.Framework(cfg.FrameworkID), execcalls.Executor(cfg.ExecutorID))
	}
	return &testExec{cfg: cfg, mode: mode, ctx: context.Background(),
		sender: newSender(), subscriber: newSender(httpcli.Close(true)),
		tasks: map[string]mesos.TaskInfo{}, running: map[string]bool{}}
}

// unacknowledgedTasks lists the tasks the agent has not acknowledged, for SUBSCRIBE.
func (x *testExec) unacknowledgedTasks() []mesos.TaskInfo {
	var ts []mesos.TaskInfo
	for _, t := range x.tasks {
		ts = append(ts, t)
	}
	return ts
}

// waitForAgent is called after a failed SUBSCRIBE. A checkpointing executor waits a
// little and tries again until the recovery timeout has passed; it says whether to.
func (x *testExec) waitForAgent() bool {
	if !x.cfg.Checkpoint {
		return false
	}
	if x.away.IsZero() {
		x.away = time.Now()
	}
	if time.Since(x.away) > x.cfg.RecoveryTimeout {
		return false
	}
	time.Sleep(min(x.cfg.SubscriptionBackoffMax/4, 100*time.Millisecond))
	return true
}

// readEvents handles the events of a SUBSCRIBE stream until it ends, or until the
// executor is to exit; it says which.
func (x *testExec) readEvents(resp mesos.Response) (exit bool) {
	for {
		var e mexec.Event
		if err := resp.Decode(&e); err != nil {
			return false
		}
		if x.handle(&e) {
			return true
		}
	}
}

// handle acts on one event; it says whether the executor is to exit.
func (x *testExec) handle(e *mexec.Event) (exit bool) {
	if x.mode == "when-told" {
		x.record(e)
	}
	switch e.GetType() {
	case mexec.Event_LAUNCH:
		if strings.HasPrefix(e.GetLaunch().Task.TaskID.Value, "forgotten") {
			return false // as if the LAUNCH were lost in an agent restart
		}
		x.launch(e.GetLaunch().Task, "")
	case mexec.Event_LAUNCH_GROUP:
		group := e.GetLaunchGroup().TaskGroup.Tasks
		for _, t := range group {
			x.launch(t, fmt.Sprintf("launched in a group of %d", len(group)))
		}
	case mexec.Event_KILL:
		id := e.GetKill().TaskID
		delete(x.running, id.Value)
		x.update(id, mesos.TASK_KILLED, "", true)
	case mexec.Event_MESSAGE:
		data := append([]byte("echo:"), e.GetMessage().Data...)
		_ = execcalls.SendNoData(x.ctx, x.sender, execcalls.NonStreaming(execcalls.Message(data)))
	case mexec.Event_ACKNOWLEDGED:
		x.acknowledged(e.GetAcknowledged())
	case mexec.Event_SHUTDOWN:
		return x.mode != "ignore-shutdown"
	}
	return false
}

// record writes an event's type, and the tasks a LAUNCH or LAUNCH_GROUP carries, as a
// line of eventsFile.
func (x *testExec) record(e *mexec.Event) {
	line := e.GetType().String()
	if e.GetType() == mexec.Event_LAUNCH {
		line += " " + e.GetLaunch().Task.TaskID.Value
	}
	for _, t := range e.GetLaunchGroup().GetTaskGroup().Tasks {
		line += " " + t.TaskID.Value
	}
	f, err := os.OpenFile(filepath.Join(x.cfg.Sandbox, eventsFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	_, _ = f.WriteString(line + "\n")
	_ = f.Close()
}

// acknowledged forgets the task and the update the agent acknowledged.
func (x *testExec) acknowledged(ack *mexec.Event_Acknowledged) {
	delete(x.tasks, ack.TaskID.Value)
	for i, u := range x.updates {
		if bytes.Equal(u.Status.UUID, ack.UUID) {
			x.updates = append(x.updates[:i], x.updates[i+1:]...)
			break
		}
	}
}

// update makes a status update of a task, kept until acknowledged; send says whether to
// send it now (not while the agent is away).
func (x *testExec) update(taskID mesos.TaskID, state mesos.TaskState, msg string, send bool) {
	now := float64(time.Now().UnixNano()) / 1e9
	u := uuid.New()
	st := mesos.TaskStatus{TaskID: taskID, State: state.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum(),
		ExecutorID: &mesos.ExecutorID{Value: x.cfg.ExecutorID}, UUID: u[:], Timestamp: &now}
	if msg != "" {
		st.Message = &msg
	}
	x.updates = append(x.updates, mexec.Call_Update{Status: st})
	if send {
		_ = execcalls.SendNoData(x.ctx, x.sender, execcalls.NonStreaming(execcalls.Update(st)))
	}
}

// launch runs a task: it is RUNNING at once.
func (x *testExec) launch(t mesos.TaskInfo, msg string) {
	x.tasks[t.TaskID.Value] = t
	x.running[t.TaskID.Value] = true
	x.update(t.TaskID, mesos.TASK_RUNNING, msg, true)
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

// TestConformanceShutdownExecutor: SHUTDOWN reaches the executor, which exits; the
// framework gets FAILURE naming the executor with its exit status, then its live task
// ends TASK_FAILED, REASON_EXECUTOR_TERMINATED from the agent (slave.cpp:
// executorTerminated).
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
	f := s.next(scheduler.Event_FAILURE).GetFailure()
	if f.GetExecutorID().GetValue() != "e1" || f.GetAgentID().GetValue() != o.AgentID.Value || f.Status == nil || f.GetStatus() != 0 {
		t.Fatalf("FAILURE %v, want executor e1 on %s with status 0", f, o.AgentID.Value)
	}
	st := s.nextUpdate("t1")
	if st.GetState() != mesos.TASK_FAILED || st.GetReason() != mesos.REASON_EXECUTOR_TERMINATED ||
		st.GetSource() != mesos.SOURCE_AGENT || len(st.UUID) != 16 {
		t.Fatalf("task after SHUTDOWN: %v", st)
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
	if f := s.next(scheduler.Event_FAILURE).GetFailure(); f.GetExecutorID().GetValue() != "e1" || f.GetStatus() != 9 {
		t.Fatalf("FAILURE %v, want executor e1 killed by SIGKILL (status 9)", f)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("killed after %v, before the 300ms grace period", waited)
	}
	if st := s.nextUpdate("t1"); st.GetState() != mesos.TASK_FAILED || st.GetReason() != mesos.REASON_EXECUTOR_TERMINATED {
		t.Fatalf("task after the kill: %v", st)
	}
}

// Mesos: src/slave/slave.cpp, an executor told to shut down (Executor::TERMINATING)
// takes nothing more until it is gone: a KILL of its task is ignored (Slave::kill), and a
// new task for it ends TASK_DROPPED (TASK_LOST if not PARTITION_AWARE),
// REASON_EXECUTOR_TERMINATED, "Executor terminating", from the agent with a uuid and no
// executor id (Slave::__run). Its task ends with it, failed.
func TestConformanceAnExecutorShuttingDownTakesNoMore(t *testing.T) {
	cfg := execConfig()
	cfg.ExecutorShutdownGracePeriod = 5 * time.Second
	m := startSim(t, cfg)
	s := newSched(t, m)
	s.subscribe(info(mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	o := s.offer("")
	exec := testExecutor(t, "e1", "ignore-shutdown")
	s.launch(o, exec, "t1")
	s.waitState("t1", mesos.TASK_RUNNING)

	s.mustCall(calls.Shutdown("e1", o.AgentID.Value))
	s.mustCall(calls.Kill("t1", o.AgentID.Value))
	s.launch(s.offer("agent-1"), exec, "t2")
	if st := s.nextUpdate("t2"); st.GetState() != mesos.TASK_DROPPED || st.GetReason() != mesos.REASON_EXECUTOR_TERMINATED ||
		st.GetSource() != mesos.SOURCE_AGENT || st.GetMessage() != "Executor terminating" || len(st.UUID) != 16 || st.ExecutorID != nil {
		t.Fatalf("a task for an executor shutting down: %v, want TASK_DROPPED REASON_EXECUTOR_TERMINATED %q from the agent", st, "Executor terminating")
	}
	if f := s.next(scheduler.Event_FAILURE).GetFailure(); f.GetExecutorID().GetValue() != "e1" || f.GetStatus() != 9 {
		t.Fatalf("FAILURE %v, want executor e1 killed at the end of its grace period", f)
	}
	if st := s.nextUpdate("t1"); st.GetState() != mesos.TASK_FAILED || st.GetReason() != mesos.REASON_EXECUTOR_TERMINATED {
		t.Fatalf("the task of the executor told to shut down, killed meanwhile: %v, want it ended with its executor", st)
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
	if f := s.next(scheduler.Event_FAILURE).GetFailure(); f.GetExecutorID().GetValue() != "e1" {
		t.Fatalf("FAILURE %v", f)
	}
	if st := s.nextUpdate("t1"); st.GetState() != mesos.TASK_FAILED || st.GetReason() != mesos.REASON_EXECUTOR_TERMINATED {
		t.Fatalf("task after SHUTDOWN: %v", st)
	}
}

// TestConformanceKillExecutor: FAILURE names a killed executor, then its task ends
// TASK_FAILED, REASON_EXECUTOR_TERMINATED.
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
	if f := s.next(scheduler.Event_FAILURE).GetFailure(); f.GetExecutorID().GetValue() != "e1" || f.GetAgentID().GetValue() != o.AgentID.Value || f.GetStatus() != 9 {
		t.Fatalf("FAILURE %v", f)
	}
	if st := s.nextUpdate("t1"); st.GetState() != mesos.TASK_FAILED || st.GetReason() != mesos.REASON_EXECUTOR_TERMINATED {
		t.Fatalf("after the kill: %v", st)
	}
}

// Mesos: src/slave/slave.cpp Slave::kill, for an executor still registering (started,
// not subscribed): the agent does not pass the KILL on. It takes the task's LAUNCH off
// what it holds for the executor and ends the task TASK_KILLED, SOURCE_SLAVE,
// REASON_TASK_KILLED_DURING_LAUNCH, "Killed before delivery to the executor", with a
// uuid and the executor id, and no TASK_KILLING before; a task of a LAUNCH_GROUP takes
// the whole group with it, each task ending "A task within the task group was killed
// before delivery to the executor". The executor's other tasks reach it when it
// subscribes; one left with none gets SHUTDOWN instead of SUBSCRIBED (Slave::subscribe,
// MESOS-8411) and exits, and the framework gets its FAILURE
// (Master::exitedExecutor).
func TestConformanceKillBeforeTheExecutorSubscribes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		group  bool
		others []string // launched with k1, not killed
		killed []string // k1 and the tasks that end with it
		events []string // what the executor gets, in order
	}{
		{name: "its only task", killed: []string{"k1"}, events: []string{"SHUTDOWN"}},
		{name: "another task left", others: []string{"k2"}, killed: []string{"k1"}, events: []string{"SUBSCRIBED", "LAUNCH k2"}},
		{name: "in a group", group: true, others: []string{"k2"}, killed: []string{"k1", "k2"}, events: []string{"SHUTDOWN"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := execConfig()
			cfg.WorkDir = t.TempDir()
			m := startSim(t, cfg)
			s := newSched(t, m)
			s.subscribe(info(mesos.FrameworkInfo_Capability_PARTITION_AWARE, mesos.FrameworkInfo_Capability_TASK_KILLING_STATE))
			o := s.offer("")
			exec := testExecutor(t, "e1", "when-told")
			ids := append([]string{"k1"}, tc.others...)
			if tc.group {
				var group []mesos.TaskInfo
				for _, id := range ids {
					group = append(group, mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID,
						Resources: []mesos.Resource{scalar("cpus", 0.1), scalar("mem", 16)}})
				}
				s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunchGroup(exec, group...)}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
			} else {
				s.launch(o, exec, ids...)
			}
			s.mustCall(calls.Kill("k1", o.AgentID.Value))
			msg := "Killed before delivery to the executor"
			if tc.group {
				msg = "A task within the task group was killed before delivery to the executor"
			}
			for _, id := range tc.killed {
				st := s.nextUpdate(id)
				if st.GetState() != mesos.TASK_KILLED || st.GetSource() != mesos.SOURCE_AGENT || st.GetReason() != mesos.REASON_TASK_KILLED_DURING_LAUNCH ||
					st.GetMessage() != msg || len(st.UUID) != 16 || st.GetExecutorID().GetValue() != "e1" || st.ContainerStatus != nil {
					t.Fatalf("%s after the KILL: %v, want TASK_KILLED REASON_TASK_KILLED_DURING_LAUNCH %q from the agent", id, st, msg)
				}
			}

			runs, err := filepath.Glob(filepath.Join(cfg.WorkDir, "agents", "*", "frameworks", "*", "executors", "e1", "runs", "*"))
			if err != nil || len(runs) != 1 {
				t.Fatalf("the executor's sandbox: %v %v", runs, err)
			}
			if err := os.WriteFile(filepath.Join(runs[0], tellFile), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if len(tc.killed) == len(ids) {
				f := s.next(scheduler.Event_FAILURE).GetFailure()
				if f.GetExecutorID().GetValue() != "e1" || f.Status == nil || f.GetStatus() != 0 {
					t.Fatalf("FAILURE %v, want executor e1 exited with status 0", f)
				}
			} else {
				s.waitState("k2", mesos.TASK_RUNNING)
			}
			data, err := os.ReadFile(filepath.Join(runs[0], eventsFile))
			var got []string
			for _, e := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				if e != "ACKNOWLEDGED" { // of k2's RUNNING
					got = append(got, e)
				}
			}
			if err != nil || !slices.Equal(got, tc.events) {
				t.Fatalf("the executor got %q (%v), want %q", got, err, tc.events)
			}
		})
	}
}
