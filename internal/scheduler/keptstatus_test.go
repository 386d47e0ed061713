package scheduler

import (
	"reflect"
	"slices"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/utils/ptr"
)

// A deferred update kept is the update again, less its data and container status, for
// every field a TaskStatus has: set or not, an enum at its zero value or not.
func TestAKeptStatusIsTheUpdate(t *testing.T) {
	// Every field of mesos-go's TaskStatus is one keepStatus takes or leaves: a field
	// added to it would be lost unnoticed.
	var fields []string
	for f := range reflect.TypeFor[mesos.TaskStatus]().Fields() {
		if f.IsExported() {
			fields = append(fields, f.Name)
		}
	}
	known := []string{"TaskID", "State", "Message", "Source", "Reason", "Data", "AgentID", "ExecutorID", "Timestamp",
		"UUID", "Healthy", "CheckStatus", "Labels", "ContainerStatus", "UnreachableTime", "Limitation"}
	if slices.Sort(fields); !slices.Equal(fields, slices.Sorted(slices.Values(known))) {
		t.Fatalf("TaskStatus has the fields %v, keepStatus knows %v", fields, known)
	}

	full := mesos.TaskStatus{
		TaskID:          mesos.TaskID{Value: "t1"},
		State:           mesos.TASK_RUNNING.Enum(),
		Message:         ptr.To("running"),
		Source:          mesos.SOURCE_EXECUTOR.Enum(),
		Reason:          mesos.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED.Enum(),
		Data:            []byte(`{"phase":"Running"}`),
		AgentID:         &mesos.AgentID{Value: "agent-1"},
		ExecutorID:      &mesos.ExecutorID{Value: "k8sm-executor-c-0123456789"},
		Timestamp:       ptr.To(1764950400.25),
		UUID:            []byte("0123456789abcdef"),
		Healthy:         ptr.To(true),
		CheckStatus:     &mesos.CheckStatusInfo{Type: mesos.CheckInfo_COMMAND.Enum()},
		Labels:          &mesos.Labels{Labels: []mesos.Label{{Key: "k", Value: ptr.To("v")}}},
		ContainerStatus: &mesos.ContainerStatus{ContainerID: &mesos.ContainerID{Value: "c-1"}},
		UnreachableTime: &mesos.TimeInfo{Nanoseconds: 7},
		Limitation:      &mesos.TaskResourceLimitation{Resources: []mesos.Resource{{Name: "mem"}}},
	}
	for _, tc := range []struct {
		name string
		ts   mesos.TaskStatus
	}{
		{"every field set", full},
		{"only the task and its state", mesos.TaskStatus{TaskID: mesos.TaskID{Value: "t1"}, State: mesos.TASK_STARTING.Enum()}},
		{"no state", mesos.TaskStatus{TaskID: mesos.TaskID{Value: "t1"}}},
		{"enums at their zero value", mesos.TaskStatus{TaskID: mesos.TaskID{Value: "t1"}, State: mesos.TASK_STAGING.Enum(),
			Source: mesos.SOURCE_MASTER.Enum(), Reason: mesos.REASON_COMMAND_EXECUTOR_FAILED.Enum()}},
		{"unhealthy, at time 0, empty ids", mesos.TaskStatus{TaskID: mesos.TaskID{Value: "t1"}, State: mesos.TASK_RUNNING.Enum(),
			Healthy: ptr.To(false), Timestamp: ptr.To(0.0), AgentID: &mesos.AgentID{}, ExecutorID: &mesos.ExecutorID{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.ts
			want.Data, want.ContainerStatus = nil, nil
			got := deferredRecord{kept: keepStatuses([]mesos.TaskStatus{tc.ts})}.statuses("t1")
			if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
				t.Errorf("kept and given back:\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}
