package scheduler

import (
	"unique"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// keptStatus is an update whose MesosTask create is deferred (records.go), held in less
// than half what the decoded mesos.TaskStatus takes (BenchmarkDeferredRecords): a burst
// defers thousands at once, while the cache holds every pod. Its task id is the
// record's; its agent and executor, which repeat from one task to the next (an executor
// id per cluster, an agent's for all its tasks), are shared; its enums are values, not
// pointers. Everything else is kept as decoded. Its data and container status are not
// kept (deferRecord says why), so status() gives back the update without them, and
// nothing more is left out (TestAKeptStatusIsTheUpdate).
type keptStatus struct {
	agent     unique.Handle[string] // zero: no agent id
	executor  unique.Handle[string] // zero: no executor id
	uuid      []byte
	message   *string
	timestamp float64
	// Rarely set for a TASK_RUNNING or STARTING; kept as they came.
	check       *mesos.CheckStatusInfo
	labels      *mesos.Labels
	unreachable *mesos.TimeInfo
	limitation  *mesos.TaskResourceLimitation
	// The enums, absentEnum when not set.
	state, source, reason int32
	// healthy: 0 not set, 1 false, 2 true.
	healthy      uint8
	hasTimestamp bool
}

// absentEnum stands for an enum the update does not set.
const absentEnum = -1

// keepStatus is ts as a keptStatus.
func keepStatus(ts *mesos.TaskStatus) keptStatus {
	enum := func(v *int32) int32 {
		if v == nil {
			return absentEnum
		}
		return *v
	}
	k := keptStatus{uuid: ts.UUID, message: ts.Message, check: ts.CheckStatus, labels: ts.Labels,
		unreachable: ts.UnreachableTime, limitation: ts.Limitation,
		state: enum((*int32)(ts.State)), source: enum((*int32)(ts.Source)), reason: enum((*int32)(ts.Reason))}
	if ts.AgentID != nil {
		k.agent = unique.Make(ts.AgentID.Value)
	}
	if ts.ExecutorID != nil {
		k.executor = unique.Make(ts.ExecutorID.Value)
	}
	if ts.Timestamp != nil {
		k.timestamp, k.hasTimestamp = *ts.Timestamp, true
	}
	if ts.Healthy != nil {
		k.healthy = 1
		if *ts.Healthy {
			k.healthy = 2
		}
	}
	return k
}

// status is the update again, of the task taskID.
func (k *keptStatus) status(taskID string) mesos.TaskStatus {
	ts := mesos.TaskStatus{TaskID: mesos.TaskID{Value: taskID}, UUID: k.uuid, Message: k.message,
		CheckStatus: k.check, Labels: k.labels, UnreachableTime: k.unreachable, Limitation: k.limitation}
	if k.state != absentEnum {
		ts.State = mesos.TaskState(k.state).Enum()
	}
	if k.source != absentEnum {
		ts.Source = mesos.TaskStatus_Source(k.source).Enum()
	}
	if k.reason != absentEnum {
		ts.Reason = mesos.TaskStatus_Reason(k.reason).Enum()
	}
	if k.agent != (unique.Handle[string]{}) {
		ts.AgentID = &mesos.AgentID{Value: k.agent.Value()}
	}
	if k.executor != (unique.Handle[string]{}) {
		ts.ExecutorID = &mesos.ExecutorID{Value: k.executor.Value()}
	}
	if k.hasTimestamp {
		timestamp := k.timestamp
		ts.Timestamp = &timestamp
	}
	if k.healthy != 0 {
		healthy := k.healthy == 2
		ts.Healthy = &healthy
	}
	return ts
}

// keepStatuses are statuses kept.
func keepStatuses(statuses []mesos.TaskStatus) []keptStatus {
	kept := make([]keptStatus, len(statuses))
	for i := range statuses {
		kept[i] = keepStatus(&statuses[i])
	}
	return kept
}
