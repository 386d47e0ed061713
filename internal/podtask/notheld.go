package podtask

import (
	mesos "github.com/mesos/mesos-go/api/v1/lib"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// What Mesos's updates say of a launch it may not hold: never run, refused for an id it
// holds, or of an agent unreachable or gone (ApplyUpdate reads them).

// neverSeen says whether an update means a launched task that Mesos never ran: the
// MesosTask has had no update since its launch, and Mesos says it does not know the task
// (a launch lost to a restart, or dropped). Such a task is launched again.
// A TASK_LOST with unreachable_time is an unreachable agent's task (unreachableLost),
// which Mesos may still hold: it is not taken for a launch Mesos never ran, as
// TASK_UNREACHABLE is not. Nor is the task of an agent marked gone for good
// (agentMarkedGone), which may have run there while no update of it was written: its
// pod is bound to that agent's Node, where no launch could go again, and it ends Gone,
// its pod Failed for its controller to make again elsewhere.
func neverSeen(st *mesosv1alpha1.MesosTaskStatus, ts mesos.TaskStatus) bool {
	return st.MesosState == "" && NotHeld(ts) && !agentMarkedGone(ts)
}

// agentMarkedGone says whether an update says the task's agent was marked gone for good
// (an operator's MARK_AGENT_GONE): TASK_GONE_BY_OPERATOR, at the marking or in a
// reconciliation's answer, or what a framework that is not PARTITION_AWARE hears instead
// at the marking, TASK_LOST with REASON_AGENT_REMOVED and no unreachable_time
// (src/master/master.cpp Master::markGone, __removeSlave).
func agentMarkedGone(ts mesos.TaskStatus) bool {
	switch ts.GetState() {
	case mesos.TASK_GONE_BY_OPERATOR:
		return true
	case mesos.TASK_LOST:
		return ts.GetReason() == mesos.REASON_AGENT_REMOVED && ts.UnreachableTime == nil
	}
	return false
}

// NotHeld says whether an update says Mesos holds no task of its id: dropped, gone, lost
// (not with an unreachable agent), or unknown.
func NotHeld(ts mesos.TaskStatus) bool {
	if unreachableLost(ts) {
		return false
	}
	switch ts.GetState() {
	case mesos.TASK_DROPPED, mesos.TASK_LOST, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR, mesos.TASK_UNKNOWN:
		return true
	}
	return false
}

// unreachableLost says whether an update is TASK_LOST for a task of an agent Mesos
// marked unreachable: what a framework without PARTITION_AWARE hears instead of
// TASK_UNREACHABLE, with the time the agent became so (unreachable_time), both when the
// agent is marked unreachable (src/master/master.cpp Master::__removeSlave) and when a
// reconciliation asks about the task while it is (Master::reconcile, case 4: "Task is
// unreachable"). The task may come back with its agent (TASK_RUNNING,
// REASON_AGENT_REREGISTERED).
func unreachableLost(ts mesos.TaskStatus) bool {
	return ts.GetState() == mesos.TASK_LOST && ts.UnreachableTime != nil
}

// IDTaken says whether an update is the master's refusal of a launch because Mesos still
// holds a task of the same id (src/master/validation.cpp validateUniqueTaskID): TASK_ERROR,
// REASON_TASK_INVALID, with "Task has duplicate ID: <id>" (a task the master holds, which
// it does until that task's terminal update is acknowledged) or "Task reuses the ID of an
// unreachable task: <id>". A task id is a pod's for good (TaskIDFor), so for a pod
// launched again after Mesos never ran its task, that task is the earlier launch, whose
// end Mesos reported and waits to hear acknowledged.
func IDTaken(ts mesos.TaskStatus) bool {
	if ts.GetState() != mesos.TASK_ERROR || ts.GetReason() != mesos.REASON_TASK_INVALID || ts.GetSource() != mesos.SOURCE_MASTER {
		return false
	}
	msg, id := ts.GetMessage(), ts.TaskID.Value
	return msg == "Task has duplicate ID: "+id || msg == "Task reuses the ID of an unreachable task: "+id
}
