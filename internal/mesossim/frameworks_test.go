package mesossim

// Every kind of framework, not only k8sm's: with and without MULTI_ROLE, checkpointing
// or not, partition-aware or not, over JSON and protobuf, launching command tasks and
// tasks with an executor. Where the recorded transcripts (transcript_test.go) do not
// reach, each expectation cites the Mesos source it follows.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/recordio"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// codecClient is a scheduler over raw HTTP in either codec.
type codecClient struct {
	*client
	protobuf bool
}

func (c *codecClient) media() string {
	if c.protobuf {
		return mediaProtobuf
	}
	return mediaJSON
}

func (c *codecClient) encode(call *scheduler.Call) []byte {
	if c.protobuf {
		return marshal(c.t, call)
	}
	data, err := json.Marshal(call)
	if err != nil {
		c.t.Fatal(err)
	}
	return data
}

func (c *codecClient) call(call *scheduler.Call) int {
	c.t.Helper()
	call.FrameworkID = &mesos.FrameworkID{Value: c.id}
	return post(c.t, c.url, c.media(), "", c.streamID, c.encode(call)).StatusCode
}

// subscribeIn subscribes a framework in a codec and reads its events.
func subscribeIn(t *testing.T, m *Master, fi mesos.FrameworkInfo, protobuf bool) *codecClient {
	t.Helper()
	c := &codecClient{client: &client{t: t, url: m.URL(), events: make(chan *scheduler.Event, 1024)}, protobuf: protobuf}
	resp := post(t, m.URL(), c.media(), c.media(), "", c.encode(calls.Subscribe(&fi)))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != c.media() {
		t.Fatalf("SUBSCRIBE = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	c.streamID = resp.Header.Get("Mesos-Stream-Id")
	go func() {
		defer close(c.events)
		r := recordio.NewReader(resp.Body)
		for {
			frame, err := r.ReadFrame()
			if err != nil {
				return
			}
			var e scheduler.Event
			if protobuf {
				err = e.Unmarshal(frame)
			} else {
				// mesos-go's JSON decoding refuses the QUOTA_V2 master capability Mesos
				// 1.12 sends (MESOS-PROTOCOL.md), as it does against Mesos itself.
				err = json.Unmarshal(bytes.ReplaceAll(frame, []byte(`"QUOTA_V2"`), []byte(`"UNKNOWN"`)), &e)
			}
			if err != nil {
				t.Errorf("decoding %q: %v", frame, err)
				return
			}
			c.events <- &e
		}
	}()
	e := c.next(scheduler.Event_SUBSCRIBED)
	c.id = e.GetSubscribed().FrameworkID.Value
	if v := e.GetSubscribed().MasterInfo.GetVersion(); v != "1.12.0" {
		t.Fatalf("master version %q", v)
	}
	return c
}

// nextUpdate waits for the next update of a task, acknowledging it if it has a uuid.
func (c *codecClient) nextUpdate(taskID string) mesos.TaskStatus {
	c.t.Helper()
	for {
		st := c.next(scheduler.Event_UPDATE).GetUpdate().Status
		if st.TaskID.Value != taskID {
			continue
		}
		if len(st.UUID) > 0 {
			c.call(calls.Acknowledge(st.AgentID.Value, taskID, st.UUID))
		}
		return st
	}
}

type frameworkKind struct {
	multiRole, protobuf, checkpoint, partitionAware, command bool
}

func (k frameworkKind) String() string {
	return fmt.Sprintf("multirole=%t/protobuf=%t/checkpoint=%t/partition-aware=%t/command=%t",
		k.multiRole, k.protobuf, k.checkpoint, k.partitionAware, k.command)
}

// frameworkInfo registers as such a framework would: a MULTI_ROLE one names its roles
// in `roles`, another its role in `role` (here left to its default "*", as mesos-go's
// example scheduler does) — validation.cpp framework::internal::validateRoles.
func (k frameworkKind) frameworkInfo() mesos.FrameworkInfo {
	fi := mesos.FrameworkInfo{User: "root", Name: "kind", Checkpoint: &k.checkpoint}
	if k.multiRole {
		fi.Roles = []string{"*"}
		fi.Capabilities = append(fi.Capabilities, mesos.FrameworkInfo_Capability{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE})
	}
	if k.partitionAware {
		fi.Capabilities = append(fi.Capabilities, mesos.FrameworkInfo_Capability{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE})
	}
	return fi
}

func TestEveryKindOfFramework(t *testing.T) {
	var kinds []frameworkKind
	for i := 0; i < 32; i++ {
		kinds = append(kinds, frameworkKind{i&1 != 0, i&2 != 0, i&4 != 0, i&8 != 0, i&16 != 0})
	}
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			runKind(t, k)
		})
	}
}

func runKind(t *testing.T, k frameworkKind) {
	m := startSim(t, Config{Agents: 1})
	c := subscribeIn(t, m, k.frameworkInfo(), k.protobuf)
	o := c.next(scheduler.Event_OFFERS).GetOffers().Offers[0]
	checkOfferShape(t, k, o)

	// The task asks for resources without allocation info, as a scheduler that
	// predates MULTI_ROLE does; Mesos injects the offer's (master.cpp: Master::accept,
	// protobuf::injectAllocationInfo), whatever the framework's kind.
	wants := mesos.Resources{scalar("cpus", 0.1), scalar("mem", 32)}
	task := mesos.TaskInfo{Name: "t", TaskID: mesos.TaskID{Value: "t1"}, AgentID: o.AgentID, Resources: wants}
	execID := "t1" // a command task's executor shares its id (slave.cpp: Slave::getExecutorInfo)
	if k.command {
		task.Command = &mesos.CommandInfo{Value: ptr("sleep 1000")}
	} else {
		execID = "e1"
		task.Executor = &mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: execID}, Command: &mesos.CommandInfo{Value: ptr("true")},
			Resources: []mesos.Resource{scalar("cpus", 0.1), scalar("mem", 32)}}
	}
	if got := c.call(calls.Accept(calls.OfferOperations{calls.OpLaunch(task)}.WithOffers(o.ID))); got != http.StatusAccepted {
		t.Fatalf("ACCEPT = %d", got)
	}
	for _, want := range []mesos.TaskState{mesos.TASK_STARTING, mesos.TASK_RUNNING} {
		st := c.nextUpdate("t1")
		cs := st.GetContainerStatus()
		if st.GetState() != want || st.GetSource() != mesos.SOURCE_EXECUTOR || len(st.UUID) != 16 || st.GetExecutorID().Value != execID ||
			cs.GetContainerID().Value == "" || len(cs.GetNetworkInfos()) != 1 {
			t.Fatalf("update %v, want %s from executor %s with its container", st, want, execID)
		}
	}

	// An unknown task on a registered agent: TASK_GONE, TASK_LOST unless
	// PARTITION_AWARE (master.cpp: Master::reconcile, case 3).
	c.call(calls.Reconcile(calls.ReconcileTasks(map[string]string{"ghost": o.AgentID.Value})))
	if st, want := c.nextUpdate("ghost"), lostUnlessAware(k, mesos.TASK_GONE); st.GetState() != want || st.GetMessage() != "Reconciliation: Task is unknown to the agent" {
		t.Fatalf("reconcile of an unknown task: %v, want %s", st, want)
	}

	// The agent restarts: a checkpointing framework's task runs on; another's is lost,
	// TASK_LOST whatever its kind (master.cpp: removeFramework(Slave*, Framework*)).
	if err := m.RestartAgent("agent-1"); err != nil {
		t.Fatal(err)
	}
	<-m.AgentReady("agent-1")
	if !k.checkpoint {
		if st := c.nextUpdate("t1"); st.GetState() != mesos.TASK_LOST || st.GetReason() != mesos.REASON_AGENT_DISCONNECTED {
			t.Fatalf("after the agent restarted: %v", st)
		}
		return
	}
	c.call(calls.Reconcile(calls.ReconcileTasks(map[string]string{"t1": o.AgentID.Value})))
	if st := c.nextUpdate("t1"); st.GetState() != mesos.TASK_RUNNING || st.GetMessage() != "Reconciliation: Latest task state" ||
		(st.ExecutorID != nil) == k.command {
		t.Fatalf("reconcile after the agent restarted: %v", st)
	}
	c.call(calls.Kill("t1", o.AgentID.Value))
	if st := c.nextUpdate("t1"); st.GetState() != mesos.TASK_KILLED {
		t.Fatalf("kill: %v", st)
	}
}

// checkOfferShape: per MESOS-8237 (master.cpp: Master::offer) a framework that is not
// MULTI_ROLE gets offers without allocation info, in the offer and in its resources, so
// that comparing resources whole, as such a scheduler does, finds what it asks for.
func checkOfferShape(t *testing.T, k frameworkKind, o mesos.Offer) {
	t.Helper()
	if (o.AllocationInfo != nil) != k.multiRole {
		t.Fatalf("offer allocation_info %v for multi-role %t", o.AllocationInfo, k.multiRole)
	}
	for _, r := range o.Resources {
		if (r.AllocationInfo != nil) != k.multiRole || r.GetRole() != "*" {
			t.Fatalf("offered resource %v for multi-role %t", r, k.multiRole)
		}
	}
	if o.URL == nil || o.URL.Address.Port != 5051 || o.URL.GetPath() != "/slave(1)" {
		t.Fatalf("offer url %v", o.URL)
	}
	wants := mesos.Resources{scalar("cpus", 0.1), scalar("mem", 32)}
	if fits := resources.ContainsAll(resources.Flatten(o.Resources), wants); fits == k.multiRole {
		t.Fatalf("a pre-MULTI_ROLE scheduler's match of %v in %v: %t", wants, o.Resources, fits)
	}
}

func lostUnlessAware(k frameworkKind, s mesos.TaskState) mesos.TaskState {
	if k.partitionAware {
		return s
	}
	return mesos.TASK_LOST
}

// TestSubscribeRefusals: what the master refuses after the 200, as an ERROR event and
// a closed stream (master.cpp: Master::subscribe, validateFramework; validation.cpp:
// framework::internal::validateRoles; roles.cpp: roles::validate).
func TestSubscribeRefusals(t *testing.T) {
	m := startSim(t, Config{Agents: 1})
	multi := []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE}}
	for _, tc := range []struct {
		name string
		fi   mesos.FrameworkInfo
		want string
	}{
		{"roles without MULTI_ROLE", mesos.FrameworkInfo{Roles: []string{"a"}},
			"'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"},
		{"role with MULTI_ROLE", mesos.FrameworkInfo{Role: ptr("a"), Capabilities: multi},
			"'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"},
		{"bad role", mesos.FrameworkInfo{Role: ptr("-a")},
			"'FrameworkInfo.role' is not a valid role: Role component '-a' is invalid because it starts with a dash"},
		{"bad roles", mesos.FrameworkInfo{Roles: []string{"a/./b"}, Capabilities: multi},
			"'FrameworkInfo.roles' contains invalid role: Role 'a/./b' cannot include '.' as a component"},
		{"duplicate roles", mesos.FrameworkInfo{Roles: []string{"a", "a"}, Capabilities: multi},
			"'FrameworkInfo.roles' contains duplicate items: { a }"},
		{"failover timeout", mesos.FrameworkInfo{FailoverTimeout: ptr(1e300)},
			"The framework failover_timeout (1e+300) is invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fi := tc.fi
			fi.User, fi.Name = "root", "refused"
			resp := post(t, m.URL(), mediaProtobuf, mediaProtobuf, "", marshal(t, calls.Subscribe(&fi)))
			frame, err := recordio.NewReader(resp.Body).ReadFrame()
			var e scheduler.Event
			if err != nil || e.Unmarshal(frame) != nil || e.Type != scheduler.Event_ERROR || e.GetError().Message != tc.want {
				t.Fatalf("%d %v %v, want ERROR %q", resp.StatusCode, e, err, tc.want)
			}
		})
	}
	// A MULTI_ROLE framework without roles subscribes, and is offered nothing: the
	// allocator has no role to offer it resources for.
	c := subscribe(t, m, mesos.FrameworkInfo{User: "root", Name: "no roles", Capabilities: multi})
	quiet := time.After(300 * time.Millisecond)
	for {
		select {
		case e := <-c.events:
			if e.Type == scheduler.Event_OFFERS {
				t.Fatalf("offers for a framework without roles: %v", e)
			}
		case <-quiet:
			return
		}
	}
}

// TestPublicSchedulerWithoutMultiRole: a v1 scheduler written as mesos-go's example
// scheduler is (api/v1/cmd/example-scheduler: role "*" without MULTI_ROLE, the
// RESERVATION_REFINEMENT capability, offers matched with resources.ContainsAll and
// taken with resources.Find) launches command tasks on the sim's offers and runs them
// to their end, as it does on Mesos 1.12. Before the sim shaped offers per MESOS-8237,
// their allocation info made ContainsAll fail and it launched nothing.
func TestPublicSchedulerWithoutMultiRole(t *testing.T) {
	m := startSim(t, execConfig())
	s := newSched(t, m)
	s.subscribe(mesos.FrameworkInfo{User: "root", Name: "example", Role: ptr("*"),
		Capabilities: []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_RESERVATION_REFINEMENT}}})
	wants := mesos.Resources{scalar("cpus", 0.1), scalar("mem", 32)}
	commands := map[string]string{"ok": "exit 0", "fails": "exit 3", "killed": "sleep 30"}
	var tasks []mesos.TaskInfo
	o := s.offer("")
	remaining := mesos.Resources(o.Resources)
	for _, id := range []string{"ok", "fails", "killed"} {
		if !resources.ContainsAll(remaining.ToUnreserved(), wants) {
			t.Fatalf("offer %v does not hold %v for a pre-MULTI_ROLE scheduler", o.Resources, wants)
		}
		found := resources.Find(wants, remaining...)
		remaining.Subtract(found...)
		tasks = append(tasks, mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID, Resources: found,
			Command: &mesos.CommandInfo{Value: ptr(commands[id])}})
	}
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(tasks...)}.WithOffers(o.ID)))

	// The command executor's words (src/launcher/executor.cpp, WSTRINGIFY).
	want := map[string]string{
		"ok":     "TASK_FINISHED Command exited with status 0",
		"fails":  "TASK_FAILED Command exited with status 3",
		"killed": "TASK_KILLED Command terminated with signal Terminated",
	}
	got := map[string]string{}
	for len(got) < len(want) {
		e := s.nextMatching("UPDATE", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_UPDATE })
		st := e.GetUpdate().Status
		id := st.TaskID.Value
		s.mustCall(calls.Acknowledge(st.AgentID.Value, id, st.UUID))
		if st.GetExecutorID().Value != id || st.GetSource() != mesos.SOURCE_EXECUTOR {
			t.Fatalf("%s: %v, want it from its command executor %s", id, st, id)
		}
		switch {
		case isTerminal(st.GetState()):
			got[id] = st.GetState().String() + " " + st.GetMessage()
		case id == "killed" && st.GetState() == mesos.TASK_RUNNING:
			s.mustCall(calls.Kill("killed", o.AgentID.Value))
		}
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %s, want %s", id, got[id], w)
		}
	}
}

// TestAcceptAllocationInfo: an ACCEPT's resources may leave out allocation info, which
// the master then takes from the offer (master.cpp: Master::accept,
// injectAllocationInfo), or carry the offer's; resources allocated to another role are
// not in the offer, and the task is TASK_ERROR (validation.cpp: task::validate, "is
// more than available").
func TestAcceptAllocationInfo(t *testing.T) {
	m := startSim(t, Config{Agents: 1})
	c := subscribe(t, m, info())
	o := c.next(scheduler.Event_OFFERS).GetOffers().Offers[0]
	withRole := func(id, role string) mesos.TaskInfo {
		cpus := scalar("cpus", 0.1)
		if role != "" {
			cpus.AllocationInfo = &mesos.Resource_AllocationInfo{Role: ptr(role)}
		}
		return mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID, Resources: []mesos.Resource{cpus},
			Command: &mesos.CommandInfo{Value: ptr("sleep 1000")}}
	}
	c.call(calls.Accept(calls.OfferOperations{calls.OpLaunch(withRole("none", ""), withRole("star", "*"), withRole("other", "other"))}.WithOffers(o.ID)))
	seen := map[string]string{}
	for len(seen) < 3 {
		st := c.next(scheduler.Event_UPDATE).GetUpdate().Status
		if _, done := seen[st.TaskID.Value]; !done {
			seen[st.TaskID.Value] = st.GetState().String()
		}
	}
	if seen["none"] != "TASK_STARTING" || seen["star"] != "TASK_STARTING" || seen["other"] != "TASK_ERROR" {
		t.Fatalf("first updates %v", seen)
	}
}
