package scheduler

import (
	"context"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// A task no MesosTask owns is killed when Mesos reports it, but not while Mesos cannot
// reach it: Mesos answers a KILL of a task of an unreachable agent (or of one it does
// not know) with a reconciliation, the same state again, and killing at that answer
// would loop for as long as the agent stays away. The task is killed when its agent is
// back and Mesos reports it running.
func TestAnUnownedTaskIsKilledOnlyWhereAKillReachesIt(t *testing.T) {
	for _, tc := range []struct {
		state  mesos.TaskState
		killed bool
	}{
		{mesos.TASK_RUNNING, true},
		{mesos.TASK_STAGING, true},
		{mesos.TASK_KILLING, true},
		{mesos.TASK_UNREACHABLE, false},
		{mesos.TASK_UNKNOWN, false},
		{mesos.TASK_LOST, false},
		{mesos.TASK_KILLED, false},
	} {
		t.Run(tc.state.String(), func(t *testing.T) {
			d := newFakeDriver()
			s, _ := newTestScheduler(fakeAPI(t), d)

			if err := s.persist(context.Background(), masterUpdate("k8sm.gone", tc.state, mesos.REASON_RECONCILIATION).status); err != nil {
				t.Fatal(err)
			}

			if killed := len(d.kills) == 1; killed != tc.killed {
				t.Errorf("killed = %v (%v), want %v", killed, d.kills, tc.killed)
			}
		})
	}
}
