package executor

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
)

// ackAll acknowledges every update the agent got for a task.
func (a *fakeAgent) ackAll(id string) {
	a.mu.Lock()
	var acks []*mexec.Event
	for _, u := range a.updates {
		if u.TaskID.Value == id {
			acks = append(acks, &mexec.Event{Type: mexec.Event_ACKNOWLEDGED, Acknowledged: &mexec.Event_Acknowledged{TaskID: u.TaskID, UUID: u.UUID}})
		}
	}
	a.mu.Unlock()
	for _, ev := range acks {
		a.send(ev)
	}
}

func known(e *Executor, id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.tasks[id]
	return ok
}

// An executor that runs pods for months keeps nothing of a pod once it ended: its task
// goes from memory when the agent acknowledged its terminal update, and its sandbox
// (logs, emptyDirs) once more ended pods are kept than the bound, oldest first. A task
// still running is kept whatever its updates' acknowledgements.
func TestEndedTasksAndTheirSandboxesArePruned(t *testing.T) {
	a := newFakeAgent(t)
	e, _ := startExecutor(t, a, true, 5*time.Second)
	e.mu.Lock()
	e.KeepEndedSandboxes = 1
	e.mu.Unlock()
	a.waitSubscription(t, 1)
	for _, id := range []string{"t1", "t2", "t3"} {
		if err := os.MkdirAll(filepath.Join(e.sandboxOf(id), "containers"), 0o755); err != nil {
			t.Fatal(err)
		}
		a.send(&mexec.Event{Type: mexec.Event_LAUNCH, Launch: &mexec.Event_Launch{Task: podTask(t, id)}})
		waitStates(t, a, id, mesos.TASK_STARTING, mesos.TASK_RUNNING)
	}
	for _, id := range []string{"t1", "t2"} {
		a.send(&mexec.Event{Type: mexec.Event_KILL, Kill: &mexec.Event_Kill{TaskID: mesos.TaskID{Value: id}}})
		waitStates(t, a, id, mesos.TASK_STARTING, mesos.TASK_RUNNING, mesos.TASK_KILLED)
		a.ackAll(id)
	}
	a.ackAll("t3")
	deadline := time.Now().Add(10 * time.Second)
	for known(e, "t1") || known(e, "t2") || exists(e.sandboxOf("t1")) {
		if time.Now().After(deadline) {
			t.Fatalf("ended tasks still known (t1 %v, t2 %v) or t1's sandbox kept (%v)", known(e, "t1"), known(e, "t2"), exists(e.sandboxOf("t1")))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !exists(e.sandboxOf("t2")) {
		t.Error("the newest ended pod's sandbox went, want it kept (KeepEndedSandboxes 1)")
	}
	if !known(e, "t3") || !exists(e.sandboxOf("t3")) {
		t.Error("the running task or its sandbox went")
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// trimmingRuntime is fakeRuntime with a Trimmer's Trim, which records its sandboxes.
type trimmingRuntime struct {
	fakeRuntime
	mu      sync.Mutex
	trimmed []string
}

func (r *trimmingRuntime) Trim(sandbox string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trimmed = append(r.trimmed, sandbox)
}

func (r *trimmingRuntime) wasTrimmed(sandbox string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.trimmed, sandbox)
}

// An ended pod's emptyDirs and working directories go from the executor's sandbox as
// soon as the agent acknowledged its terminal update: Mesos has released the pod's disk
// then, and with a disk quota over the executor's container (disk/du,
// --enforce_container_disk_quota) what the pod wrote would count against the other pods
// and get the whole executor destroyed. A running pod, whose updates the agent
// acknowledged too, keeps its own.
func TestAnEndedPodsSandboxIsTrimmedOnceItsEndIsAcknowledged(t *testing.T) {
	a := newFakeAgent(t)
	rt := &trimmingRuntime{}
	e, _ := startExecutorWith(t, a, &Executor{Runtime: rt})
	a.waitSubscription(t, 1)
	for _, id := range []string{"t1", "t2"} {
		a.send(&mexec.Event{Type: mexec.Event_LAUNCH, Launch: &mexec.Event_Launch{Task: podTask(t, id)}})
		waitStates(t, a, id, mesos.TASK_STARTING, mesos.TASK_RUNNING)
	}
	a.ackAll("t2")
	a.send(&mexec.Event{Type: mexec.Event_KILL, Kill: &mexec.Event_Kill{TaskID: mesos.TaskID{Value: "t1"}}})
	waitStates(t, a, "t1", mesos.TASK_STARTING, mesos.TASK_RUNNING, mesos.TASK_KILLED)
	if rt.wasTrimmed(e.sandboxOf("t1")) {
		t.Fatal("the ended pod's sandbox was trimmed before the agent acknowledged its end")
	}
	a.ackAll("t1")
	deadline := time.Now().Add(10 * time.Second)
	for !rt.wasTrimmed(e.sandboxOf("t1")) {
		if time.Now().After(deadline) {
			t.Fatal("the ended pod's sandbox was not trimmed once its end was acknowledged")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rt.wasTrimmed(e.sandboxOf("t2")) {
		t.Error("the running pod's sandbox was trimmed")
	}
}

// A KILL of a task that ended and was forgotten (the agent routes KILLs to the executor
// until the framework acknowledged the end) gets no second terminal update; a KILL of a
// task the executor never heard of is still answered TASK_KILLED.
func TestAKillOfAnEndedTaskIsIgnored(t *testing.T) {
	a := newFakeAgent(t)
	e, _ := startExecutor(t, a, true, 5*time.Second)
	a.waitSubscription(t, 1)
	a.send(&mexec.Event{Type: mexec.Event_LAUNCH, Launch: &mexec.Event_Launch{Task: podTask(t, "t1")}})
	waitStates(t, a, "t1", mesos.TASK_STARTING, mesos.TASK_RUNNING)
	a.send(&mexec.Event{Type: mexec.Event_KILL, Kill: &mexec.Event_Kill{TaskID: mesos.TaskID{Value: "t1"}}})
	waitStates(t, a, "t1", mesos.TASK_STARTING, mesos.TASK_RUNNING, mesos.TASK_KILLED)
	a.ackAll("t1")
	for deadline := time.Now().Add(10 * time.Second); known(e, "t1"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the ended task is still known")
		}
	}
	a.send(&mexec.Event{Type: mexec.Event_KILL, Kill: &mexec.Event_Kill{TaskID: mesos.TaskID{Value: "t1"}}})
	a.send(&mexec.Event{Type: mexec.Event_KILL, Kill: &mexec.Event_Kill{TaskID: mesos.TaskID{Value: "never"}}})
	waitStates(t, a, "never", mesos.TASK_KILLED) // after the KILL of t1, in order
	if got := a.statesOf("t1"); len(got) != 3 {
		t.Errorf("t1's updates = %v, want no second terminal one", got)
	}
}
