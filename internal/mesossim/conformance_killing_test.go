package mesossim

import (
	"slices"
	"testing"
	"time"

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

// With TaskStopDelay a simulated task ends that long after its first KILL, as a
// container given a grace period: TASK_KILLING at once, the master showing the task
// so meanwhile, and TASK_KILLED once the delay is over; a second KILL changes nothing.
func TestASimulatedTaskTakesTaskStopDelayToEnd(t *testing.T) {
	const delay = 300 * time.Millisecond
	m := startSim(t, Config{Agents: 1, TaskStopDelay: delay})
	s := newSched(t, m)
	s.subscribe(info(mesos.FrameworkInfo_Capability_TASK_KILLING_STATE))
	o := s.offer("")
	s.launch(o, testExecutor(t, "e1", "normal"), "t1")
	s.waitState("t1", mesos.TASK_RUNNING)

	killed := time.Now()
	s.mustCall(calls.Kill("t1", o.AgentID.Value))
	if st := s.nextUpdate("t1"); st.GetState() != mesos.TASK_KILLING {
		t.Fatalf("after the KILL: %v, want TASK_KILLING", st.GetState())
	}
	s.mustCall(calls.Kill("t1", o.AgentID.Value))
	if tasks := m.State().Frameworks[0].Tasks; len(tasks) != 1 || tasks[0].State != "TASK_KILLING" {
		t.Fatalf("while it stops the master holds %+v, want t1 TASK_KILLING", tasks)
	}
	if st := s.nextUpdate("t1"); st.GetState() != mesos.TASK_KILLED {
		t.Fatalf("after TASK_KILLING: %v, want TASK_KILLED", st.GetState())
	}
	if took := time.Since(killed); took < delay {
		t.Fatalf("ended %v after the KILL, before TaskStopDelay (%v)", took, delay)
	}
}
