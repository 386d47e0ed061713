package mesossim

import (
	"encoding/json"
	"net/http"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// The agent's executor API (exec mode): POST /api/v1/executor on each agent's own
// address.

// serveExecutor is an agent's POST /api/v1/executor, with the checks of Mesos's
// src/slave/http.cpp Http::executor, in its order: when executors are authenticated,
// their token first (execauth.go); the body, then a HEARTBEAT is accepted at once; any
// other call but SUBSCRIBE gets 503 while a restarted agent is still recovering; an
// unknown framework or executor 400; a token of another executor 403; a call but
// SUBSCRIBE from an executor that has not subscribed (since the agent started) 403.
func (m *Master) serveExecutor(a *agent, w http.ResponseWriter, r *http.Request) {
	claims, ok := m.authenticateExecutor(w, r)
	if !ok {
		return
	}
	// The agent checks requests as the master does: a missing Content-Type is a bad
	// request, an unknown one unsupported.
	ct, body, ok := readCall(w, r, 64<<20)
	if !ok {
		return
	}
	var call mexec.Call
	if why := decodeExecutorCall(ct, body, &call); why != "" {
		writeError(w, http.StatusBadRequest, why)
		return
	}
	switch {
	case call.Type == mexec.Call_MESSAGE && call.Message == nil:
		writeError(w, http.StatusBadRequest, "Failed to validate Executor::Call: Expecting 'message' to be present")
		return
	case call.Type == mexec.Call_UPDATE && call.Update == nil:
		writeError(w, http.StatusBadRequest, "Failed to validate Executor::Call: Expecting 'update' to be present")
		return
	case call.Type == mexec.Call_UPDATE:
		if why := checkExecutorUpdate(call.GetUpdate().Status, call.FrameworkID, call.ExecutorID); why != "" {
			writeError(w, http.StatusBadRequest, "Failed to validate Executor::Call: "+why)
			return
		}
	case call.Type == mexec.Call_HEARTBEAT:
		w.WriteHeader(http.StatusAccepted)
		return
	}
	run, ok := m.executorRun(a, &call, claims, w)
	if !ok {
		return
	}
	switch call.Type {
	case mexec.Call_SUBSCRIBE:
		// The stream's media type follows Accept, as on the scheduler API.
		protobuf, ok := accepts(r)
		if !ok {
			writeError(w, http.StatusNotAcceptable, "Expecting 'Accept' to allow "+mediaJSON+" or "+mediaProtobuf)
			return
		}
		m.executorSubscribe(run, w, protobuf, r, call.GetSubscribe())
	case mexec.Call_UPDATE:
		st := call.GetUpdate().Status
		m.mu.Lock()
		// The agent acknowledges once it has the update (it checkpoints it).
		if holder := m.executorUpdateLocked(run, st); holder != nil {
			holder.deliver(acknowledged(st))
		}
		m.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	case mexec.Call_MESSAGE:
		// Forwarded to the framework as a scheduler MESSAGE (master.cpp:
		// Master::executorMessage); dropped when the agent is not registered (the master
		// drops it) or has not registered with a failed-over master (the agent drops it
		// while not RUNNING, Slave::executorMessage).
		m.mu.Lock()
		if a.registered() && !run.fw.removed {
			run.fw.send(&scheduler.Event{Type: scheduler.Event_MESSAGE, Message: &scheduler.Event_Message{
				AgentID: mesos.AgentID{Value: a.id}, ExecutorID: run.info.ExecutorID, Data: call.GetMessage().Data}})
		}
		m.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	default:
		writeError(w, http.StatusNotImplemented, "Unsupported call")
	}
}

// decodeExecutorCall decodes an executor call in its content type; it returns the error
// Mesos answers for a body it cannot take, or "".
func decodeExecutorCall(contentType string, body []byte, call *mexec.Call) string {
	if contentType == mediaProtobuf {
		if call.Unmarshal(body) != nil {
			return "Failed to parse body into Call protobuf"
		}
		return ""
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return "Failed to parse body into JSON: " + jsonSyntaxError(body, err)
	}
	if err := json.Unmarshal(body, call); err != nil {
		return "Failed to convert JSON into Call protobuf: " + err.Error()
	}
	return ""
}

// executorRun finds the executor a call (not a HEARTBEAT) comes from, answering the
// request when it may not go on: 503 while the agent recovers (but for SUBSCRIBE), 400
// for an unknown framework or executor, 403 when the caller authenticated with the
// token of another executor (claims not nil), 403 for a call but SUBSCRIBE from an
// executor that has not subscribed.
func (m *Master) executorRun(a *agent, call *mexec.Call, claims map[string]string, w http.ResponseWriter) (*execRun, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	subscribe := call.Type == mexec.Call_SUBSCRIBE
	run := a.runs[call.FrameworkID.Value+"/"+call.ExecutorID.Value]
	mismatch := ""
	if run != nil && claims != nil {
		mismatch = claimsMismatch(claims, call.FrameworkID.Value, call.ExecutorID.Value, run.containerID)
	}
	switch {
	case !subscribe && a.recovering:
		writeError(w, http.StatusServiceUnavailable, "Agent has not finished recovery")
	case run == nil && !m.agentKnowsFrameworkLocked(a, call.FrameworkID.Value):
		writeError(w, http.StatusBadRequest, "Framework cannot be found")
	case run == nil:
		writeError(w, http.StatusBadRequest, "Executor cannot be found")
	case mismatch != "":
		writeError(w, http.StatusForbidden, mismatch)
	case !subscribe && !run.registered:
		writeError(w, http.StatusForbidden, "Executor is not subscribed")
	default:
		return run, true
	}
	return nil, false
}

// agentKnowsFrameworkLocked says whether an agent runs an executor of a framework.
func (m *Master) agentKnowsFrameworkLocked(a *agent, frameworkID string) bool {
	for _, run := range a.runs {
		if run.fw.id == frameworkID {
			return true
		}
	}
	return false
}

// checkExecutorUpdate validates an executor's status update as Mesos does, in its order
// and words (src/common/validation.cpp validateExecutorCall); it returns why it is
// invalid, or "".
func checkExecutorUpdate(st mesos.TaskStatus, frameworkID mesos.FrameworkID, executorID mesos.ExecutorID) string {
	switch {
	case st.UUID == nil:
		return "Expecting 'uuid' to be present"
	case !validUUID(st.UUID):
		return "Not a valid UUID"
	case st.ExecutorID != nil && st.ExecutorID.Value != executorID.Value:
		return "ExecutorID in Call: " + executorID.Value + " does not match ExecutorID in TaskStatus: " + st.ExecutorID.Value
	case st.GetSource() != mesos.SOURCE_EXECUTOR:
		return "Received Call from executor " + executorID.Value + " of framework " + frameworkID.Value +
			" with invalid source, expecting 'SOURCE_EXECUTOR'"
	case st.GetState() == mesos.TASK_STAGING:
		return "Received TASK_STAGING from executor " + executorID.Value + " of framework " + frameworkID.Value +
			" which is not allowed"
	}
	return ""
}

// validUUID is stout's id::UUID::fromBytes test: 16 bytes of a known UUID version.
func validUUID(b []byte) bool {
	return len(b) == 16 && b[6]>>4 >= 1 && b[6]>>4 <= 5
}

// executorUpdateLocked takes a status update from an executor as the agent does (Mesos:
// src/slave/slave.cpp Slave::statusUpdate, _statusUpdate, ___statusUpdate) and returns
// the executor to acknowledge it to, or nil:
//
//   - an update whose status names another agent is dropped, and no one acknowledged
//     (Slave::statusUpdate: "Slave ID mismatch"; the call was answered 202 all the same);
//   - for a framework the agent shuts down, nothing is done and no one acknowledged;
//   - a task the agent knows (an executor of the framework holds it, up to the
//     acknowledgement of its terminal update) gets the update, with its container's
//     status, in its stream, unless the agent has a terminal update of it already
//     (Executor::updateTaskState: "Task is already terminated"), when it is dropped;
//     one the stream had before (same uuid) is not passed on again, as the status
//     update manager ignores duplicates; the executor that holds the task is
//     acknowledged all the same;
//   - a task the agent does not know (never, any more, or one of another agent) gets a
//     stream of its own, which the master forwards to the framework (streams.go
//     strayUpdateLocked); no executor holds the task, so none is acknowledged.
func (m *Master) executorUpdateLocked(run *execRun, st mesos.TaskStatus) *execRun {
	fw, a := run.fw, run.agent
	if st.AgentID != nil && st.AgentID.Value != a.id {
		return nil
	}
	if fw.removed {
		return nil
	}
	st.AgentID = &mesos.AgentID{Value: a.id}
	t := fw.tasks[st.TaskID.Value]
	if t == nil || t.agent != a {
		m.strayUpdateLocked(a, fw, st)
		return nil
	}
	if e := t.info.Executor; e != nil && e.ExecutorID == run.info.ExecutorID {
		run.sentTask = true
	}
	holder := a.runs[fw.id+"/"+executorIDOf(t).Value]
	if (t.last.State != nil && isTerminal(t.last.GetState())) || !t.sawUpdate(st.UUID) {
		return holder
	}
	m.withContainerStatus(t, &st)
	m.queueUpdateLocked(t, st)
	return holder
}

// acknowledged is the agent's ACKNOWLEDGED of an executor's update.
func acknowledged(st mesos.TaskStatus) *mexec.Event {
	return &mexec.Event{Type: mexec.Event_ACKNOWLEDGED, Acknowledged: &mexec.Event_Acknowledged{TaskID: st.TaskID, UUID: st.UUID}}
}

// executorSubscribe serves an executor's SUBSCRIBE as Slave::subscribe does (Mesos:
// src/slave/slave.cpp). An executor told to shut down gets SHUTDOWN and the connection
// closed, nothing else. Any other — subscribing for the first time, again after its
// connection broke, or after an agent restart — first loses its tasks still STAGING
// that the agent sent it (not those held for its SUBSCRIBE) and that it does not list
// as unacknowledged: their LAUNCH never reached it, and they end TASK_DROPPED (TASK_LOST
// if not PARTITION_AWARE), REASON_AGENT_RESTARTED, "Task launched during agent restart",
// whatever the cause. Then the updates it lists as not acknowledged by the agent are
// taken as if sent again, and acknowledged on the new stream. An executor left with no
// task to run gets SHUTDOWN instead of SUBSCRIBED. A new stream replaces an open one.
func (m *Master) executorSubscribe(run *execRun, w http.ResponseWriter, protobuf bool, r *http.Request, sub *mexec.Call_Subscribe) {
	if protobuf {
		w.Header().Set("Content-Type", mediaProtobuf)
	} else {
		w.Header().Set("Content-Type", mediaJSON)
	}
	write := func(e *mexec.Event) bool { return writeFrame(w, protobuf, e) }
	m.mu.Lock()
	if run.terminating {
		m.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		write(&mexec.Event{Type: mexec.Event_SHUTDOWN})
		return
	}
	m.dropUnlistedStagingLocked(run, sub)
	acks := m.takeUnacknowledgedLocked(run, sub)
	run.recovering = false
	run.registered = true
	// The stream is opened under the master's lock, so that what the agent sends the
	// executor from now on goes to it.
	conn, events, queued := run.openStream()
	// An executor left with no task (each was killed before it subscribed,
	// killQueuedLocked, or lost with its LAUNCH) is told to shut down instead: SHUTDOWN
	// is the first event of its stream, with no SUBSCRIBED, and it is killed after its
	// grace period (Mesos: src/slave/slave.cpp Slave::subscribe, MESOS-8411;
	// _shutdownExecutor).
	shutdown := m.idleLocked(run)
	if shutdown {
		m.stopExecutor(run)
	}
	for _, e := range acks {
		run.sendNow(e) // the agent acknowledges once it has them (checkpointed)
	}
	fwInfo := run.fw.info
	port := run.agent.port
	agentInfo := mesos.AgentInfo{ID: &mesos.AgentID{Value: run.agent.id}, Hostname: run.agent.hostname, Port: &port}
	m.mu.Unlock()
	defer run.closeStream(conn)

	w.WriteHeader(http.StatusOK)
	if !shutdown && !write(&mexec.Event{Type: mexec.Event_SUBSCRIBED, Subscribed: &mexec.Event_Subscribed{
		ExecutorInfo: run.info, FrameworkInfo: fwInfo, AgentInfo: agentInfo,
		ContainerID: &mesos.ContainerID{Value: run.containerID}}}) {
		return
	}
	for _, e := range queued {
		if !write(e) {
			return
		}
	}
	m.streamExecutorEvents(run, r, conn, events, write)
}

// takeUnacknowledgedLocked takes the valid updates a SUBSCRIBE lists as not acknowledged
// by the agent, as if the executor sent them again. It returns the ACKNOWLEDGED events
// of those the agent acknowledges to this executor, to send on the new stream.
func (m *Master) takeUnacknowledgedLocked(run *execRun, sub *mexec.Call_Subscribe) []*mexec.Event {
	if sub == nil {
		return nil
	}
	var acks []*mexec.Event
	for _, u := range sub.UnacknowledgedUpdates {
		st := u.Status
		if checkExecutorUpdate(st, mesos.FrameworkID{Value: run.fw.id}, run.info.ExecutorID) != "" {
			continue
		}
		switch holder := m.executorUpdateLocked(run, st); holder {
		case nil:
		case run:
			acks = append(acks, acknowledged(st))
		default:
			holder.deliver(acknowledged(st))
		}
	}
	return acks
}

// dropUnlistedStagingLocked ends the executor's tasks that are STAGING on the agent,
// sent to it (not held for its SUBSCRIBE), and that its SUBSCRIBE does not list: their
// LAUNCH was lost, in an agent restart or with a connection that broke. The agent
// decides on the states it had before the SUBSCRIBE's updates (the executor's updates
// wait for the containerizer, Slave::statusUpdate): an update it lists of such a task
// then comes after its end and is dropped.
func (m *Master) dropUnlistedStagingLocked(run *execRun, sub *mexec.Call_Subscribe) {
	known := map[string]bool{}
	if sub != nil {
		for _, ti := range sub.UnacknowledgedTasks {
			known[ti.TaskID.Value] = true
		}
	}
	state := mesos.TASK_LOST
	if run.fw.partitionAware {
		state = mesos.TASK_DROPPED
	}
	for _, t := range run.fw.tasks {
		if t.agent == run.agent && t.last.State == nil && t.info.Executor != nil &&
			t.info.Executor.ExecutorID == run.info.ExecutorID && !known[t.info.TaskID.Value] && !run.holding(&t.info.TaskID) {
			m.agentStatusLocked(t, state, mesos.SOURCE_AGENT, mesos.REASON_AGENT_RESTARTED.Enum(), "Task launched during agent restart")
		}
	}
}

// openStream marks a new SUBSCRIBE stream open, ending the previous one: what was
// still to be written on that one is lost with it. It returns the channel that is
// closed when a newer stream replaces this one, the stream's events, and the events
// held for the executor until it subscribed.
func (run *execRun) openStream() (conn chan struct{}, events chan *mexec.Event, queued []*mexec.Event) {
	run.mu.Lock()
	defer run.mu.Unlock()
	if run.conn != nil {
		close(run.conn) // the previous stream ends
	}
	conn, events = make(chan struct{}), make(chan *mexec.Event, 1024)
	run.conn, run.events = conn, events
	queued = run.queued
	run.queued = nil
	return conn, events, queued
}

// closeStream marks the stream conn closed, unless a newer stream replaced it: events
// sent to the executor from now on are lost (deliver).
func (run *execRun) closeStream(conn chan struct{}) {
	run.mu.Lock()
	if run.conn == conn {
		run.conn, run.events = nil, nil
	}
	run.mu.Unlock()
}

// streamExecutorEvents writes the executor's events until the stream is replaced, the
// executor exits, the client goes away or the master stops; and a HEARTBEAT every
// Config.ExecutorHeartbeatInterval, the first one interval after SUBSCRIBE, as the
// agent's heartbeater for each subscribed executor does (Mesos: src/slave/slave.cpp
// Slave::subscribe starts a ResponseHeartbeater with DEFAULT_EXECUTOR_HEARTBEAT_INTERVAL,
// 30 minutes, as both its interval and its first delay; src/common/heartbeater.hpp).
func (m *Master) streamExecutorEvents(run *execRun, r *http.Request, conn chan struct{}, events chan *mexec.Event, write func(*mexec.Event) bool) {
	heartbeat := time.NewTicker(m.cfg.ExecutorHeartbeatInterval)
	defer heartbeat.Stop()
	for {
		select {
		case e := <-events:
			if !write(e) {
				return
			}
		case <-heartbeat.C:
			if !write(&mexec.Event{Type: mexec.Event_HEARTBEAT}) {
				return
			}
		case <-conn:
			return
		case <-run.exited:
			return
		case <-r.Context().Done():
			return
		case <-m.stop:
			return
		}
	}
}
