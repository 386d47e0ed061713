package mesossim

import (
	"slices"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// Mesos's master and agent never make TASK_KILLING: executors do, Mesos's command and
// default executors on the first KILL of a task of a framework with TASK_KILLING_STATE
// (src/launcher/executor.cpp, default_executor.cpp). In exec mode a KILL of a custom
// executor's task reaches the executor, and the framework hears what the executor says
// (the test executor: TASK_KILLED alone); a command task's is what Mesos's command
// executor says. A simulated task's executor is the sim's, which answers as Mesos's
// executors, and k8sm's, do.
func TestConformanceTaskKillingComesFromTheExecutor(t *testing.T) {
	killing := info(mesos.FrameworkInfo_Capability_TASK_KILLING_STATE)
	for _, tc := range []struct {
		name      string
		exec      bool
		command   bool
		framework mesos.FrameworkInfo
		want      []mesos.TaskState
	}{
		{"an executor's task", true, false, killing, []mesos.TaskState{mesos.TASK_KILLED}},
		{"a command task", true, true, killing, []mesos.TaskState{mesos.TASK_KILLING, mesos.TASK_KILLED}},
		{"a simulated task", false, false, killing, []mesos.TaskState{mesos.TASK_KILLING, mesos.TASK_KILLED}},
		{"a simulated task, without TASK_KILLING_STATE", false, false, info(), []mesos.TaskState{mesos.TASK_KILLED}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Agents: 1}
			if tc.exec {
				cfg = execConfig()
				cfg.WorkDir = t.TempDir()
			}
			m := startSim(t, cfg)
			s := newSched(t, m)
			s.subscribe(tc.framework)
			o := s.offer("")
			if tc.command {
				s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(commandTask("t1", o))}.WithOffers(o.ID)))
			} else {
				s.launch(o, testExecutor(t, "e1", "normal"), "t1")
			}
			s.waitState("t1", mesos.TASK_RUNNING)

			s.mustCall(calls.Kill("t1", o.AgentID.Value))
			var got []mesos.TaskState
			for len(got) == 0 || !isTerminal(got[len(got)-1]) {
				st := s.nextUpdate("t1")
				if st.GetSource() != mesos.SOURCE_EXECUTOR {
					t.Fatalf("%v: want updates from the executor", st)
				}
				got = append(got, st.GetState())
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("after the KILL: %v, want %v", got, tc.want)
			}
		})
	}
}
