package scheduler

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/utils/ptr"
)

// BenchmarkDeferredRecords reports the heap a burst's deferred MesosTask creates hold per
// task (its STARTING and RUNNING, decoded as they come from the master), kept as
// keptStatus ("kept") and as the decoded updates ("decoded").
func BenchmarkDeferredRecords(b *testing.B) {
	const tasks = 10000
	decode := func(i int, state mesos.TaskState) mesos.TaskStatus {
		ts := mesos.TaskStatus{TaskID: mesos.TaskID{Value: fmt.Sprintf("k8sm.default.pod-%05d.0123456789abcdef0123456789abcdef", i)},
			State: state.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum(), Reason: mesos.REASON_TASK_CHECK_STATUS_UPDATED.Enum(),
			AgentID:    &mesos.AgentID{Value: fmt.Sprintf("b3d1b3a4-8c5e-4a5e-9b7f-2f2b3c4d5e6f-S%d", i%1000)},
			ExecutorID: &mesos.ExecutorID{Value: "k8sm-executor-cluster-0123456789"}, Timestamp: ptr.To(1764950400.25),
			UUID: []byte("0123456789abcdef"), Healthy: ptr.To(true)}
		raw, err := ts.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		var out mesos.TaskStatus
		if err := out.Unmarshal(raw); err != nil {
			b.Fatal(err)
		}
		return out
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	for _, kept := range []bool{true, false} {
		b.Run(map[bool]string{true: "kept", false: "decoded"}[kept], func(b *testing.B) {
			for b.Loop() {
				before := heap()
				var records map[string]deferredRecord
				var decoded map[string][]mesos.TaskStatus
				if kept {
					records = make(map[string]deferredRecord, tasks)
				} else {
					decoded = make(map[string][]mesos.TaskStatus, tasks)
				}
				for i := range tasks {
					statuses := []mesos.TaskStatus{decode(i, mesos.TASK_STARTING), decode(i, mesos.TASK_RUNNING)}
					if kept {
						records[statuses[1].TaskID.Value] = deferredRecord{kept: keepStatuses(statuses), since: time.Now()}
					} else {
						decoded[statuses[1].TaskID.Value] = statuses
					}
				}
				b.ReportMetric(float64(heap()-before)/tasks, "B/task")
				runtime.KeepAlive(records)
				runtime.KeepAlive(decoded)
			}
		})
	}
}
