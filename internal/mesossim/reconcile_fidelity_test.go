package mesossim

import (
	"fmt"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// Mesos: src/master/master.cpp Master::reconcile. A task of an agent the master marked
// unreachable is answered, case 4, TASK_UNREACHABLE (TASK_LOST if not PARTITION_AWARE),
// REASON_RECONCILIATION, "Reconciliation: Task is unreachable", with the time the agent
// became unreachable; once the agent is marked gone, case 5, TASK_GONE_BY_OPERATOR
// (TASK_LOST), "Reconciliation: Task is gone", without it. A framework that is not
// PARTITION_AWARE tells the two TASK_LOSTs apart by unreachable_time alone (k8sm:
// podtask.ApplyUpdate).
func TestFidelityReconcileATaskOfAnUnreachableAgent(t *testing.T) {
	for _, partitionAware := range []bool{true, false} {
		t.Run(fmt.Sprintf("partition-aware %t", partitionAware), func(t *testing.T) {
			m, s, o, _, _ := partitionScene(t, aware(partitionAware, true))
			if err := m.PartitionAgent("agent-1"); err != nil {
				t.Fatal(err)
			}
			marked := s.nextMatching("t1 unreachable", updateOf("t1")).GetUpdate().Status
			s.next(scheduler.Event_FAILURE)
			ask := func() mesos.TaskStatus {
				s.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"t1": o.AgentID.Value})))
				return s.nextMatching("t1's answer", updateOf("t1")).GetUpdate().Status
			}

			st := ask()
			if st.GetState() != lostUnless(partitionAware, mesos.TASK_UNREACHABLE) || st.GetReason() != mesos.REASON_RECONCILIATION ||
				st.GetMessage() != "Reconciliation: Task is unreachable" || st.GetSource() != mesos.SOURCE_MASTER || st.UUID != nil ||
				st.UnreachableTime == nil || st.GetUnreachableTime().GetNanoseconds() != marked.GetUnreachableTime().GetNanoseconds() {
				t.Fatalf("while the agent is unreachable: %v, want unreachable since %v", st, marked.GetUnreachableTime())
			}

			if err := m.RemoveAgent("agent-1"); err != nil {
				t.Fatal(err)
			}
			s.nextMatching("t1 gone", updateOf("t1"))
			st = ask()
			if st.GetState() != lostUnless(partitionAware, mesos.TASK_GONE_BY_OPERATOR) || st.GetReason() != mesos.REASON_RECONCILIATION ||
				st.GetMessage() != "Reconciliation: Task is gone" || st.UnreachableTime != nil {
				t.Fatalf("once the agent is marked gone: %v", st)
			}
		})
	}
}
