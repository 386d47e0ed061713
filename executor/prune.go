package executor

import (
	"os"
	"path/filepath"
	"time"
)

// What the executor keeps of ended pods. An executor runs for as long as its agent runs
// pods of its cluster, so whatever it keeps per pod must end with the pod: a task whose
// terminal update the agent acknowledged is forgotten at once (the agent never sends it
// again, and Mesos task ids are not reused), and so is most of its sandbox directory
// when the runtime is a Trimmer: the pod's emptyDirs and working directories. What is
// left of it (its logs, for `kubectl logs` of the ended pod) is removed once more than
// KeepEndedSandboxes ended pods are kept, oldest first, or once it is older than
// KeepEndedFor, like the agent's own sandbox GC (--gc_delay) one level down.
const (
	DefaultKeepEndedSandboxes = 256
	DefaultKeepEndedFor       = 24 * time.Hour
)

// Trimmer is a Runtime that can free at once what an ended pod's sandbox holds and
// nothing serves any more, keeping what it still serves of the pod (its logs).
type Trimmer interface {
	// Trim frees what the ended pod that ran in sandbox left there. It is called once the
	// agent acknowledged the pod's terminal update: Mesos has released the pod's
	// resources, its disk among them, and with a disk quota over the executor's container
	// (disk/du with --enforce_container_disk_quota) whatever the pod wrote would count
	// against the pods still running, until the agent destroys the executor with all of
	// them.
	Trim(sandbox string)
}

// endedTask is a task forgotten with its sandbox still on disk.
type endedTask struct {
	id string
	at time.Time
}

// sandboxOf is where a task's pod runs (the runtime's sandbox).
func (e *Executor) sandboxOf(id string) string {
	return filepath.Join(e.Config.Sandbox, "pods", id)
}

// forgetLocked drops a task whose terminal update the agent acknowledged, has the
// runtime trim its sandbox (Trimmer), and keeps what is left for a while. Called with
// e.mu held.
func (e *Executor) forgetLocked(id string, now time.Time) {
	if _, ok := e.tasks[id]; !ok {
		return
	}
	delete(e.tasks, id)
	delete(e.unackedTasks, id)
	e.ended = append(e.ended, endedTask{id: id, at: now})
	if t, ok := e.Runtime.(Trimmer); ok {
		go t.Trim(e.sandboxOf(id)) // out of e.mu: it may remove gigabytes
	}
}

// endedLocked says whether a task ended and was forgotten lately (the ended pods
// kept). Under e.mu.
func (e *Executor) endedLocked(id string) bool {
	for i := range e.ended {
		if e.ended[i].id == id {
			return true
		}
	}
	return false
}

// pruneSandboxes removes the sandboxes of ended tasks beyond the count or age kept.
func (e *Executor) pruneSandboxes(now time.Time) {
	e.mu.Lock()
	keep, age := e.KeepEndedSandboxes, e.KeepEndedFor
	if keep <= 0 {
		keep = DefaultKeepEndedSandboxes
	}
	if age <= 0 {
		age = DefaultKeepEndedFor
	}
	var drop []endedTask
	for len(e.ended) > 0 && (len(e.ended) > keep || now.Sub(e.ended[0].at) > age) {
		drop = append(drop, e.ended[0])
		e.ended = e.ended[1:]
	}
	e.mu.Unlock()
	for _, t := range drop {
		if err := os.RemoveAll(e.sandboxOf(t.id)); err != nil {
			e.Log.Info("Could not remove an ended pod's sandbox", "task", t.id, "error", err.Error())
		}
	}
}
