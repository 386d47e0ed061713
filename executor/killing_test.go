package executor

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	corev1 "k8s.io/api/core/v1"
)

// heldRuntime starts pods without reporting anything: the test reports for them, and a
// KILL only reaches the test (kills), as a container that takes its grace period.
type heldRuntime struct{ started chan *heldHandle }

type heldHandle struct {
	report func(Report)
	kills  chan time.Duration
}

func (r heldRuntime) Start(_ *corev1.Pod, _ string, report func(Report)) (Handle, error) {
	h := &heldHandle{report: report, kills: make(chan time.Duration, 4)}
	r.started <- h
	return h, nil
}

func (heldRuntime) Supports(*corev1.Volume) bool { return true }

func (h *heldHandle) Kill(grace time.Duration) { h.kills <- grace }

func (h *heldHandle) waitKill(t *testing.T) time.Duration {
	t.Helper()
	select {
	case g := <-h.kills:
		return g
	case <-time.After(10 * time.Second):
		t.Fatal("the KILL did not reach the runtime")
		return 0
	}
}

// withReady is a pod status of phase with the Ready condition.
func withReady(phase corev1.PodPhase, ready corev1.ConditionStatus) corev1.PodStatus {
	return corev1.PodStatus{Phase: phase, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}}}
}

// A framework with TASK_KILLING_STATE (k8sm's, by default) hears TASK_KILLING when the
// executor starts to kill a running pod, as from Mesos's command and default executors
// (src/launcher/executor.cpp, default_executor.cpp): once, on the first KILL, with the
// pod's last status; a pod being killed is not reported RUNNING or STARTING again, its
// later statuses come as TASK_KILLING. Without the capability, or for a pod not running
// yet (TASK_KILLING would make it Running), the task goes straight to its end.
func TestSendsTaskKillingOnTheFirstKill(t *testing.T) {
	killing := mesos.FrameworkInfo{Capabilities: []mesos.FrameworkInfo_Capability{
		{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE}, {Type: mesos.FrameworkInfo_Capability_TASK_KILLING_STATE}}}
	for _, tc := range []struct {
		name      string
		framework mesos.FrameworkInfo
		running   bool
		want      []mesos.TaskState
	}{
		{"TASK_KILLING_STATE", killing, true, []mesos.TaskState{mesos.TASK_STARTING, mesos.TASK_RUNNING,
			mesos.TASK_KILLING, mesos.TASK_KILLING, mesos.TASK_KILLING, mesos.TASK_KILLED}},
		{"without TASK_KILLING_STATE", mesos.FrameworkInfo{}, true, []mesos.TaskState{mesos.TASK_STARTING, mesos.TASK_RUNNING,
			mesos.TASK_RUNNING, mesos.TASK_STARTING, mesos.TASK_KILLED}},
		{"not running yet", killing, false, []mesos.TaskState{mesos.TASK_STARTING,
			mesos.TASK_STARTING, mesos.TASK_STARTING, mesos.TASK_KILLED}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newFakeAgent(t)
			a.framework = tc.framework
			rt := heldRuntime{started: make(chan *heldHandle, 1)}
			startExecutorWith(t, a, &Executor{Runtime: rt})
			a.waitSubscription(t, 1)
			a.send(&mexec.Event{Type: mexec.Event_LAUNCH, Launch: &mexec.Event_Launch{Task: podTask(t, "t1")}})
			h := <-rt.started
			phase := corev1.PodPending
			if tc.running {
				phase = corev1.PodRunning
				h.report(Report{Status: withReady(phase, corev1.ConditionTrue)})
				waitStates(t, a, "t1", mesos.TASK_STARTING, mesos.TASK_RUNNING)
			}

			kill := func(grace time.Duration) {
				a.send(&mexec.Event{Type: mexec.Event_KILL, Kill: &mexec.Event_Kill{TaskID: mesos.TaskID{Value: "t1"},
					KillPolicy: &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: int64(grace)}}}})
				if got := h.waitKill(t); got != grace {
					t.Fatalf("the runtime was given %s to kill the pod, want %s", got, grace)
				}
			}
			kill(30 * time.Second)
			// The pod's containers stop as they are told (a stopped container may make
			// the pod Pending again); a KILL sent again, with a shorter grace, still
			// reaches the runtime.
			h.report(Report{Status: withReady(phase, corev1.ConditionFalse)})
			h.report(Report{Status: corev1.PodStatus{Phase: corev1.PodPending}})
			kill(time.Second)
			h.report(Report{Killed: true, Status: corev1.PodStatus{Phase: corev1.PodFailed}})
			waitStates(t, a, "t1", tc.want...)
			if got := a.statesOf("t1"); !slices.Equal(got, tc.want) {
				t.Fatalf("updates %v, want %v", got, tc.want)
			}
			if !tc.running || len(tc.framework.Capabilities) == 0 {
				return
			}
			a.mu.Lock()
			first := a.updates[2]
			a.mu.Unlock()
			var ps corev1.PodStatus
			if err := json.Unmarshal(first.Data, &ps); err != nil || ps.Phase != corev1.PodRunning || !podReady(&ps) {
				t.Errorf("TASK_KILLING carries %s (%v), want the pod's last status, Running and ready", first.Data, err)
			}
		})
	}
}

// SHUTDOWN kills every pod as a KILL does: a running pod's task is reported
// TASK_KILLING first when the framework takes it, as Mesos's default executor reports
// it when it shuts down (default_executor.cpp: shutdown, kill).
func TestShutdownReportsTaskKilling(t *testing.T) {
	a := newFakeAgent(t)
	a.framework = mesos.FrameworkInfo{Capabilities: []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_TASK_KILLING_STATE}}}
	rt := heldRuntime{started: make(chan *heldHandle, 1)}
	startExecutorWith(t, a, &Executor{Runtime: rt})
	a.waitSubscription(t, 1)
	a.send(&mexec.Event{Type: mexec.Event_LAUNCH, Launch: &mexec.Event_Launch{Task: podTask(t, "t1")}})
	h := <-rt.started
	h.report(Report{Status: withReady(corev1.PodRunning, corev1.ConditionTrue)})
	waitStates(t, a, "t1", mesos.TASK_STARTING, mesos.TASK_RUNNING)

	a.send(&mexec.Event{Type: mexec.Event_SHUTDOWN})
	h.waitKill(t)
	h.report(Report{Killed: true, Status: corev1.PodStatus{Phase: corev1.PodFailed}})
	want := []mesos.TaskState{mesos.TASK_STARTING, mesos.TASK_RUNNING, mesos.TASK_KILLING, mesos.TASK_KILLED}
	waitStates(t, a, "t1", want...)
	if got := a.statesOf("t1"); !slices.Equal(got, want) {
		t.Fatalf("updates %v, want %v", got, want)
	}
}

// A runtime reports a running pod's statuses from its own goroutines, while KILLs come
// on the event loop: a status taken as RUNNING just before the first KILL must not go
// out after that KILL's TASK_KILLING (the master's task would be RUNNING again, and so
// the pod Ready). Pods report from several goroutines each, without pause, while they
// are killed, to meet the KILL between a report's state and its update.
func TestNoRunningAfterTaskKilling(t *testing.T) {
	const pods = 8
	a := newFakeAgent(t)
	a.framework = mesos.FrameworkInfo{Capabilities: []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_TASK_KILLING_STATE}}}
	rt := heldRuntime{started: make(chan *heldHandle, pods)}
	startExecutorWith(t, a, &Executor{Runtime: rt})
	a.waitSubscription(t, 1)
	ids, handles := make([]string, pods), make([]*heldHandle, pods)
	for i := range ids {
		ids[i] = fmt.Sprintf("t%d", i)
		a.send(&mexec.Event{Type: mexec.Event_LAUNCH, Launch: &mexec.Event_Launch{Task: podTask(t, ids[i])}})
		handles[i] = <-rt.started
		handles[i].report(Report{Status: withReady(corev1.PodRunning, corev1.ConditionTrue)})
		waitStates(t, a, ids[i], mesos.TASK_STARTING, mesos.TASK_RUNNING)
	}
	for _, h := range handles {
		go reportUntilKilled(h)
	}
	for _, id := range ids {
		a.send(&mexec.Event{Type: mexec.Event_KILL, Kill: &mexec.Event_Kill{TaskID: mesos.TaskID{Value: id}}})
	}
	for _, id := range ids {
		eventually(t, "task "+id+" killed", func() bool { return slices.Contains(a.statesOf(id), mesos.TASK_KILLED) })
		got := a.statesOf(id)
		killing := slices.Index(got, mesos.TASK_KILLING)
		if after := slices.Compact(got[max(killing, 0):]); killing < 0 || slices.Contains(after, mesos.TASK_RUNNING) || slices.Contains(after, mesos.TASK_STARTING) {
			t.Errorf("task %s updates from the first TASK_KILLING on %v, want no TASK_RUNNING or TASK_STARTING", id, after)
		}
	}
}

// reportUntilKilled has three goroutines report a running pod's status, changing each
// time, until its KILL comes, then a few more each (its containers stop); then its end.
func reportUntilKilled(h *heldHandle) {
	killed := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready := [2]corev1.ConditionStatus{corev1.ConditionTrue, corev1.ConditionFalse}
			for i, after := 0, 0; after < 3; i++ {
				select {
				case <-killed:
					after++
				default:
				}
				h.report(Report{Status: withReady(corev1.PodRunning, ready[i%2])})
			}
		}()
	}
	<-h.kills
	close(killed)
	wg.Wait()
	h.report(Report{Killed: true, Status: corev1.PodStatus{Phase: corev1.PodFailed}})
}

// A SHUTDOWN gives each pod three quarters of the agent's shutdown grace period
// (spec.executor.shutdownGracePeriod), but no more than the pod's own grace (its task's
// kill policy, from terminationGracePeriodSeconds), as a kubelet stopping it would.
func TestShutdownGivesNoPodMoreThanItsOwnGrace(t *testing.T) {
	a := newFakeAgent(t)
	rt := heldRuntime{started: make(chan *heldHandle, 2)}
	startExecutorWith(t, a, &Executor{Runtime: rt, Config: config.Config{ExecutorShutdownGracePeriod: 4 * time.Second}})
	a.waitSubscription(t, 1)
	own := podTask(t, "own")
	own.KillPolicy = &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: int64(time.Second)}}
	long := podTask(t, "long")
	long.KillPolicy = &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: int64(time.Hour)}}
	none := podTask(t, "none")
	var handles []*heldHandle
	for _, task := range []mesos.TaskInfo{own, long, none} {
		a.send(&mexec.Event{Type: mexec.Event_LAUNCH, Launch: &mexec.Event_Launch{Task: task}})
		handles = append(handles, <-rt.started)
	}
	a.send(&mexec.Event{Type: mexec.Event_SHUTDOWN})
	for i, want := range []time.Duration{time.Second, 3 * time.Second, 3 * time.Second} {
		if got := handles[i].waitKill(t); got != want {
			t.Errorf("task %d was given %s to stop, want %s", i, got, want)
		}
	}
}
