package mesossim

import (
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// A command without a shell is exec'd as Mesos's launcher does it (src/slave/
// containerizer/mesos/launch.cpp): value the program, arguments the whole argv,
// argv[0] included. An executor started from an image (k8sm's ExecutorInfo) is.
func TestConformanceACommandWithoutAShellHasItsArgumentsForArgv(t *testing.T) {
	cfg := execConfig()
	cfg.WorkDir = t.TempDir()
	m := startSim(t, cfg)
	s := newSched(t, m)
	s.subscribe(info())
	o := s.offer("")
	ti := commandTask("t1", o)
	shell, sh := false, "/bin/sh"
	// With argv[0] passed twice, sh would read a script named "sh-argv0" and fail.
	ti.Command = &mesos.CommandInfo{Value: &sh, Shell: &shell, Arguments: []string{"sh-argv0", "-c", `test "$0" = sh-argv0 && exit 0; exit 3`}}
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(ti)}.WithOffers(o.ID)))
	st := s.nextUpdate("t1")
	for !isTerminal(st.GetState()) {
		st = s.nextUpdate("t1")
	}
	if st.GetState() != mesos.TASK_FINISHED {
		t.Fatalf("the command ended %v (%s), want TASK_FINISHED", st.GetState(), st.GetMessage())
	}
}
