package mesossim

import (
	"maps"
	"slices"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
)

// getTasks lists the tasks the master knows, as GET_TASKS does in Mesos 1.12
// (readonly_handler.cpp, jsonifyGetTasks and serializeGetTasks): for every framework,
// registered or removed, the tasks it holds (Framework::tasks: launched and not ended,
// or ended with the terminal update not acknowledged yet) and the unreachable ones
// (Framework::unreachableTasks), each as protobuf::createTask makes it from its
// TaskInfo, with its state and latest status. pending_tasks is not filled (1.12 leaves
// it out), nor completed_tasks: the sim forgets a task once its end is acknowledged. A
// master that failed over holds no task of an agent that has not registered with it.
func (m *Master) getTasks() *master.Response_GetTasks {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := &master.Response_GetTasks{}
	for _, id := range slices.Sorted(maps.Keys(m.frameworks)) {
		fw := m.frameworks[id]
		for _, tid := range slices.Sorted(maps.Keys(fw.tasks)) {
			t := fw.tasks[tid]
			switch {
			case t.unreachable:
				out.UnreachableTasks = append(out.UnreachableTasks, operatorTask(fw, t))
			case t.agent.registered() && t.heldByMaster():
				out.Tasks = append(out.Tasks, operatorTask(fw, t))
			}
		}
	}
	return out
}

// operatorTask is a task as the operator API shows it (protobuf::createTask, then the
// state and statuses the master recorded): the last of its statuses is the latest, the
// agent's, or for an unreachable task the master's TASK_UNREACHABLE with the time its
// agent became so.
func operatorTask(fw *framework, t *task) mesos.Task {
	info := t.info
	// The state as the framework was told it (TASK_LOST for TASK_UNREACHABLE unless it is
	// PARTITION_AWARE): Master::updateTask records the update's.
	state := forFramework(fw, t.state)
	out := mesos.Task{Name: info.Name, TaskID: info.TaskID, FrameworkID: mesos.FrameworkID{Value: fw.id},
		AgentID: mesos.AgentID{Value: t.agent.id}, State: &state, Resources: info.Resources,
		Labels: info.Labels, Discovery: info.Discovery, Container: info.Container,
		HealthCheck: info.HealthCheck, KillPolicy: info.KillPolicy}
	if info.Executor != nil {
		id := info.Executor.ExecutorID
		out.ExecutorID = &id
	}
	switch {
	case info.Command != nil && info.Command.User != nil:
		out.User = info.Command.User
	case info.Executor != nil && info.Executor.Command != nil && info.Executor.Command.User != nil:
		out.User = info.Executor.Command.User
	}
	if t.last.State != nil {
		last := t.last
		last.Data = nil // the master keeps no status's data (Master::updateTask)
		out.Statuses = append(out.Statuses, last)
	}
	if t.unreachable {
		st := taskStatus(fw, t, t.state, mesos.REASON_AGENT_REMOVED, msgUnreachable)
		if t.agent.gone && !t.agent.unreachable.IsZero() {
			st.UnreachableTime = t.agent.unreachableTime()
		}
		out.Statuses = append(out.Statuses, st)
	}
	if t.sentState != nil {
		s := *t.sentState
		out.StatusUpdateState = &s
	}
	return out
}
