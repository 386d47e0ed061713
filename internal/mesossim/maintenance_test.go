package mesossim

// The maintenance calls of the operator API, as Mesos 1.12 answers them
// (src/master/http.cpp, src/master/maintenance.cpp): validation, START_MAINTENANCE and
// STOP_MAINTENANCE, what a master failover keeps, and agents refused on a DOWN machine.

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	mastercalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// operatorRaw posts a body to the operator API and returns the status and body of the
// answer.
func operatorRaw(t *testing.T, m *Master, contentType string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, m.URL()+"/api/v1", bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// operatorSend posts a call in protobuf.
func operatorSend(t *testing.T, m *Master, call *master.Call) (int, string) {
	t.Helper()
	body, err := call.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return operatorRaw(t, m, mediaProtobuf, body)
}

func machineID(hostname, ip string) mesos.MachineID {
	return mesos.MachineID{Hostname: &hostname, IP: &ip}
}

// wantError checks that err is a 400 with Mesos's message.
func wantError(t *testing.T, what string, err error, msg string) {
	t.Helper()
	if err == nil || statusOf(err) != http.StatusBadRequest || err.Error() != msg {
		t.Errorf("%s: %v (%d), want 400 %q", what, err, statusOf(err), msg)
	}
}

// Schedules and machine lists Mesos refuses, with its messages
// (maintenance::validation::schedule, machines, machine), over both media types.
func TestMaintenanceValidation(t *testing.T) {
	m := startSim(t, Config{Agents: 1})
	u := unavailability(time.Hour)
	neg := u
	neg.Duration = &mesos.DurationInfo{Nanoseconds: -1}
	a1 := machineID("agent-1", "127.0.0.1")
	for _, tc := range []struct {
		name string
		s    maintenance.Schedule
		msg  string
	}{
		{"empty window", scheduleOf(u), "List of machines in the maintenance window is empty"},
		{"negative duration", scheduleOf(neg, a1), "Unavailability 'duration' is negative"},
		{"no hostname nor ip", scheduleOf(u, mesos.MachineID{Hostname: ptr(""), IP: ptr("")}), "Both 'hostname' and 'ip' for a machine are empty"},
		{"bad ip", scheduleOf(u, machineID("h", "10.0.0")), "Failed to parse IPv4: 10.0.0"},
		{"leading zero", scheduleOf(u, machineID("h", "10.0.0.01")), "Failed to parse IPv4: 10.0.0.01"},
		{"ipv6", scheduleOf(u, machineID("h", "::1")), "Failed to parse IPv4: ::1"},
		{"twice, hostname in another case", scheduleOf(u, a1, machineID("AGENT-1", "127.0.0.1")),
			`Machine '{"hostname":"AGENT-1","ip":"127.0.0.1"}' appears more than once in the schedule`},
	} {
		wantError(t, tc.name, m.UpdateMaintenanceSchedule(tc.s), tc.msg)
		code, body := operatorSend(t, m, mastercalls.UpdateMaintenanceSchedule(tc.s))
		if code != http.StatusBadRequest || body != tc.msg {
			t.Errorf("%s: UPDATE_MAINTENANCE_SCHEDULE answered %d %q, want 400 %q", tc.name, code, body, tc.msg)
		}
	}
	// The same machine with and without an ip are two machines.
	if err := m.UpdateMaintenanceSchedule(scheduleOf(u, a1, mesos.MachineID{Hostname: ptr("agent-1")})); err != nil {
		t.Errorf("agent-1 with and without an ip: %v", err)
	}
	wantError(t, "START of no machine", m.StartMaintenance(), "List of machines is empty")
	wantError(t, "START of a machine twice", m.StartMaintenance(a1, a1), `Machine '{"hostname":"agent-1","ip":"127.0.0.1"}' appears more than once in the schedule`)
	wantError(t, "STOP of a bad machine", m.StopMaintenance(mesos.MachineID{IP: ptr("x")}), "Failed to parse IPv4: x")

	for _, tc := range []struct{ name, contentType, body, msg string }{
		{"no update_maintenance_schedule", mediaJSON, `{"type":"UPDATE_MAINTENANCE_SCHEDULE"}`,
			"Failed to validate master::Call: Expecting 'update_maintenance_schedule' to be present"},
		{"no start_maintenance", mediaJSON, `{"type":"START_MAINTENANCE"}`, "Failed to validate master::Call: Expecting 'start_maintenance' to be present"},
		{"no stop_maintenance", mediaJSON, `{"type":"STOP_MAINTENANCE"}`, "Failed to validate master::Call: Expecting 'stop_maintenance' to be present"},
		{"a window without its unavailability", mediaJSON,
			`{"type":"UPDATE_MAINTENANCE_SCHEDULE","update_maintenance_schedule":{"schedule":{"windows":[{"machine_ids":[{"hostname":"h"}]}]}}}`,
			"Failed to convert JSON into Call protobuf: Missing required fields: update_maintenance_schedule.schedule.windows[0].unavailability"},
	} {
		if code, body := operatorRaw(t, m, tc.contentType, []byte(tc.body)); code != http.StatusBadRequest || body != tc.msg {
			t.Errorf("%s: answered %d %q, want 400 %q", tc.name, code, body, tc.msg)
		}
	}
}

// GET_MAINTENANCE_SCHEDULE answers the schedule as posted; a machine matches an agent
// only by both its hostname (in any case) and the ip of the agent's pid: a machine named
// by its hostname alone names no agent.
func TestMaintenanceScheduleMatchesAgentsByHostnameAndIP(t *testing.T) {
	m := startSim(t, Config{Agents: 2, LoopbackIPs: true})
	u := unavailability(time.Hour)
	s := scheduleOf(u, machineID("AGENT-1", "127.0.0.1"), mesos.MachineID{Hostname: ptr("agent-2")})
	if code, body := operatorSend(t, m, mastercalls.UpdateMaintenanceSchedule(s)); code != http.StatusOK || body != "" {
		t.Fatalf("UPDATE_MAINTENANCE_SCHEDULE answered %d %q, want 200 and no body", code, body)
	}
	for _, media := range []string{mediaProtobuf, mediaJSON} {
		r := operatorCall(t, m.URL(), media, mastercalls.GetMaintenanceSchedule())
		if got := r.GetGetMaintenanceSchedule().Schedule; r.GetType() != master.Response_GET_MAINTENANCE_SCHEDULE || !got.Equal(&s) {
			t.Errorf("%s: GET_MAINTENANCE_SCHEDULE %+v, want %+v", media, got, s)
		}
	}
	c := subscribe(t, m, info())
	seen := map[string]bool{}
	for len(seen) < 2 {
		for _, o := range c.next(scheduler.Event_OFFERS).GetOffers().Offers {
			seen[o.Hostname] = true
			if o.Hostname == "agent-1" && (o.Unavailability == nil || !o.Unavailability.Equal(&u)) {
				t.Errorf("offer of agent-1 (127.0.0.1): unavailability %v, want %v", o.Unavailability, u)
			}
			if o.Hostname == "agent-2" && o.Unavailability != nil {
				t.Errorf("offer of agent-2 (127.0.0.2), scheduled by hostname alone: unavailability %v, want none", o.Unavailability)
			}
		}
	}
	if id, err := m.AgentMachine("agent-2"); err != nil || id.GetIP() != "127.0.0.2" || id.GetHostname() != "agent-2" {
		t.Errorf("AgentMachine(agent-2) = %v, %v", id, err)
	}
}

// START_MAINTENANCE takes only machines that are DRAINING; it removes their agents
// (Master::removeSlave): every task there is TASK_LOST, REASON_SLAVE_REMOVED, whether the
// framework is PARTITION_AWARE or not, then the inverse offers are rescinded and FAILURE
// names the agent; the machine is DOWN, its agent forgotten (reconciliation answers
// TASK_UNKNOWN), and it may not leave the schedule until STOP_MAINTENANCE takes it UP.
func TestMaintenanceStartAndStop(t *testing.T) {
	d := newDrain(t, Config{})
	io, _ := d.schedule(t, d.unav)
	a1, a2 := d.machine, machineID("agent-2", "127.0.0.1")
	nowhere := machineID("nowhere", "10.0.0.9")
	wantError(t, "START of a machine never scheduled", d.m.StartMaintenance(nowhere),
		`Machine '{"hostname":"nowhere","ip":"10.0.0.9"}' is not part of a maintenance schedule`)
	wantError(t, "START of an UP machine", d.m.StartMaintenance(a2),
		`Machine '{"hostname":"agent-2","ip":"127.0.0.1"}' is not in DRAINING mode and cannot be brought down`)
	wantError(t, "STOP of a DRAINING machine", d.m.StopMaintenance(a1),
		`Machine '{"hostname":"agent-1","ip":"127.0.0.1"}' is not in DOWN mode and cannot be brought up`)

	// A framework that is not PARTITION_AWARE, with a task on agent-1 too.
	d.a.mustCall(calls.Decline(d.a.offer("agent-1").ID).With(calls.RefuseSeconds(time.Hour)))
	c := newSched(t, d.m)
	c.subscribe(info())
	o := c.offer("agent-1")
	cio, _ := c.inverseOffer() // an offer is enough (generateInverseOffers follows the offers)
	c.launch(o, simExecutor("e2"), "t2")
	c.waitState("t2", mesos.TASK_RUNNING)

	if code, body := operatorSend(t, d.m, mastercalls.StartMaintenance(a1)); code != http.StatusOK || body != "" {
		t.Fatalf("START_MAINTENANCE answered %d %q", code, body)
	}
	agentID := d.held["agent-1"].AgentID
	for _, f := range []struct {
		s    *sched
		task string
		io   mesos.InverseOffer
	}{{d.a, "t1", io}, {c, "t2", cio}} {
		failure, before := f.s.until(scheduler.Event_FAILURE)
		if failure.GetFailure().GetAgentID().GetValue() != agentID.Value {
			t.Errorf("FAILURE %v, want agent-1", failure.GetFailure())
		}
		checkMachineDown(t, f.task, f.io, before)
	}
	st := d.m.MaintenanceStatus()
	if len(st.DrainingMachines) != 0 || len(st.DownMachines) != 1 || !st.DownMachines[0].Equal(&a1) {
		t.Fatalf("maintenance status %+v, want agent-1's machine down", st)
	}
	if r := operatorCall(t, d.m.URL(), mediaProtobuf, mastercalls.GetAgents()); len(r.GetAgents.Agents) != 1 || r.GetAgents.Agents[0].AgentInfo.Hostname != "agent-2" {
		t.Errorf("GET_AGENTS %+v, want agent-2 alone", r.GetAgents.Agents)
	}
	d.a.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"t1": agentID.Value})))
	if s := d.a.nextUpdate("t1"); s.GetState() != mesos.TASK_UNKNOWN || s.GetMessage() != "Reconciliation: Task is unknown" {
		t.Errorf("reconciliation of t1: %v, want TASK_UNKNOWN", s)
	}
	if err := d.m.HealAgent("agent-1"); statusOf(err) != http.StatusConflict {
		t.Errorf("HealAgent of a removed agent: %v", err)
	}
	wantError(t, "a schedule without the DOWN machine", d.m.UpdateMaintenanceSchedule(maintenance.Schedule{}),
		`Machine '{"hostname":"agent-1","ip":"127.0.0.1"}' is deactivated and cannot be removed from the schedule`)

	if code, body := operatorSend(t, d.m, mastercalls.StopMaintenance(a1)); code != http.StatusOK || body != "" {
		t.Fatalf("STOP_MAINTENANCE answered %d %q", code, body)
	}
	if st := d.m.MaintenanceStatus(); len(st.DrainingMachines)+len(st.DownMachines) != 0 {
		t.Errorf("maintenance status after STOP_MAINTENANCE: %+v, want none", st)
	}
	if s := d.m.MaintenanceSchedule(); len(s.Windows) != 0 {
		t.Errorf("schedule after STOP_MAINTENANCE: %+v, want its only machine gone", s)
	}
	wantError(t, "STOP of an UP machine", d.m.StopMaintenance(a1),
		`Machine '{"hostname":"agent-1","ip":"127.0.0.1"}' is not in DOWN mode and cannot be brought up`)
}

// checkMachineDown checks what a framework got before FAILURE when agent-1's machine went
// DOWN: its task's TASK_LOST, then the rescinded inverse offer.
func checkMachineDown(t *testing.T, task string, io mesos.InverseOffer, before []*scheduler.Event) {
	t.Helper()
	lost, rescinded := -1, -1
	for i, e := range before {
		switch {
		case e.Type == scheduler.Event_UPDATE && e.GetUpdate().Status.TaskID.Value == task:
			lost = i
			s := e.GetUpdate().Status
			if s.GetState() != mesos.TASK_LOST || s.GetReason() != mesos.REASON_AGENT_REMOVED || s.GetSource() != mesos.SOURCE_MASTER ||
				s.GetMessage() != "Agent agent-1 removed: Operator initiated 'Machine DOWN'" || len(s.UUID) != 0 ||
				s.UnreachableTime != nil || s.GetExecutorID().GetValue() == "" {
				t.Errorf("update of %s: %v", task, s)
			}
		case e.Type == scheduler.Event_RESCIND_INVERSE_OFFER:
			rescinded = i
			if e.GetRescindInverseOffer().InverseOfferID != io.OfferID {
				t.Errorf("%s's framework: RESCIND_INVERSE_OFFER %v, want %s", task, e.GetRescindInverseOffer(), io.OfferID.Value)
			}
		}
	}
	if lost < 0 || rescinded < lost {
		t.Errorf("%s's framework got %v before FAILURE, want the task lost, then the inverse offer rescinded", task, before)
	}
}

// A master failover keeps the schedule and the machines' modes (the registry has them),
// not the answers to inverse offers nor their filters: the frameworks get inverse offers
// again once they subscribe again.
func TestMaintenanceSurvivesMasterFailover(t *testing.T) {
	d := newDrain(t, Config{})
	io, _ := d.schedule(t, d.unav)
	d.a.mustCall(calls.DeclineInverseOffers(io.OfferID).With(calls.RefuseSeconds(time.Hour)))
	schedule := d.m.MaintenanceSchedule()
	d.m.FailoverMaster()
	if s := d.m.MaintenanceSchedule(); !s.Equal(&schedule) {
		t.Errorf("schedule after the failover: %+v, want %+v", s, schedule)
	}
	st := d.m.MaintenanceStatus()
	if len(st.DrainingMachines) != 1 || !st.DrainingMachines[0].ID.Equal(&d.machine) || len(st.DrainingMachines[0].Statuses) != 0 {
		t.Errorf("maintenance status after the failover: %+v, want agent-1's machine draining, without answers", st)
	}
	d.a.streamClosed()
	d.a.subscribe(info(mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	if again, _ := d.a.inverseOffer(); !again.Unavailability.Equal(&d.unav) {
		t.Errorf("inverse offer after the failover: %v", again)
	}

	if err := d.m.StartMaintenance(d.machine); err != nil {
		t.Fatal(err)
	}
	d.m.FailoverMaster()
	if st := d.m.MaintenanceStatus(); len(st.DownMachines) != 1 || !st.DownMachines[0].Equal(&d.machine) {
		t.Errorf("maintenance status after a failover: %+v, want agent-1's machine down", st)
	}
}

// An agent may not register, nor register again, while its machine is DOWN
// (Master::registerSlave, reregisterSlave): it is told to shut down, and does. An
// unreachable agent stays unreachable, a recovered one recovered.
func TestMaintenanceDownMachineRefusesItsAgents(t *testing.T) {
	m := startSim(t, Config{Agents: 2})
	a1, a2 := machineID("agent-1", "127.0.0.1"), machineID("agent-2", "127.0.0.1")
	if err := m.PartitionAgent("agent-2"); err != nil {
		t.Fatal(err)
	}
	u := unavailability(time.Hour)
	if err := m.UpdateMaintenanceSchedule(scheduleOf(u, a2)); err != nil {
		t.Fatal(err)
	}
	if err := m.StartMaintenance(a2); err != nil {
		t.Fatal(err)
	}
	err := m.HealAgent("agent-2")
	if statusOf(err) != http.StatusConflict || !strings.Contains(err.Error(), "Machine is `DOWN`") {
		t.Fatalf("HealAgent on a DOWN machine: %v", err)
	}
	if err := m.HealAgent("agent-2"); statusOf(err) != http.StatusConflict || !strings.Contains(err.Error(), "shut down") {
		t.Fatalf("HealAgent of an agent shut down: %v", err)
	}
	if r := operatorCall(t, m.URL(), mediaProtobuf, mastercalls.GetAgents()); len(r.GetAgents.Agents) != 1 {
		t.Errorf("GET_AGENTS %+v, want agent-1 alone", r.GetAgents.Agents)
	}

	// The master knows agent-1's machine, UP, since agent-1 registered; a failed-over
	// master knows only the machines of its registry until the agent registers again.
	wantError(t, "START of agent-1's machine", m.StartMaintenance(a1),
		`Machine '{"hostname":"agent-1","ip":"127.0.0.1"}' is not in DRAINING mode and cannot be brought down`)
	if err := m.DelayReregistration(time.Hour, "agent-1"); err != nil {
		t.Fatal(err)
	}
	m.FailoverMaster()
	wantError(t, "START of agent-1's machine after a failover", m.StartMaintenance(a1),
		`Machine '{"hostname":"agent-1","ip":"127.0.0.1"}' is not part of a maintenance schedule`)
	if err := m.UpdateMaintenanceSchedule(scheduleOf(u, a1, a2)); err != nil {
		t.Fatal(err)
	}
	if err := m.StartMaintenance(a1); err != nil {
		t.Fatal(err)
	}
	if err := m.ReregisterAgent("agent-1"); statusOf(err) != http.StatusConflict || !strings.Contains(err.Error(), "Machine is `DOWN`") {
		t.Fatalf("ReregisterAgent on a DOWN machine: %v", err)
	}
	r := operatorCall(t, m.URL(), mediaProtobuf, mastercalls.GetAgents())
	if len(r.GetAgents.Agents) != 0 || len(r.GetAgents.RecoveredAgents) != 1 {
		t.Errorf("GET_AGENTS %+v, want agent-1 still recovered", r.GetAgents)
	}
}
