package scheduler

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// ownerMemory is how long the pod of a task this process launched is remembered after
// its MesosTask was written: longer than the cache takes to show that MesosTask and the
// pod's binding, even on a busy API server.
const ownerMemory = 30 * time.Second

// writtenOwners are the pods of tasks this process launched whose MesosTask it wrote
// lately, by task id: the cache may show neither that MesosTask nor the pod's binding
// when the task's next update comes (a reconciliation answer right behind the agent's
// own update does), and a task whose owner is not found is killed.
type writtenOwners struct {
	pods   map[string]writtenOwner
	pruned time.Time
}

type writtenOwner struct {
	pod types.NamespacedName
	at  time.Time
}

// add remembers the pod of a task whose MesosTask was written at now, and forgets those
// remembered longer than ownerMemory.
func (w *writtenOwners) add(taskID string, pod types.NamespacedName, now time.Time) {
	if w.pods == nil {
		w.pods = map[string]writtenOwner{}
	}
	w.pods[taskID] = writtenOwner{pod: pod, at: now}
	if now.Sub(w.pruned) < ownerMemory {
		return
	}
	for id, o := range w.pods {
		if now.Sub(o.at) > ownerMemory {
			delete(w.pods, id)
		}
	}
	w.pruned = now
}

// launchWritten records that the first update of a task this process launched is
// written: what it knew of the launch is dropped, and its pod remembered a while
// (writtenOwners).
func (s *Scheduler) launchWritten(taskID string) {
	s.mu.Lock()
	delete(s.launches, taskID)
	s.ownerWrittenLocked(taskID)
	s.mu.Unlock()
}

// ownerWrittenLocked moves the pod of a launch whose MesosTask was written from the
// unstored to the written ones; s.mu is held.
func (s *Scheduler) ownerWrittenLocked(taskID string) {
	if pod, ok := s.unstored[taskID]; ok {
		delete(s.unstored, taskID)
		s.written.add(taskID, pod, time.Now())
	}
}

// launchedPod is the pod of a task this process launched whose MesosTask is not written
// yet, or was written lately (the cache may not show it): see ownerOf.
func (s *Scheduler) launchedPod(taskID string) (types.NamespacedName, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if key, ok := s.unstored[taskID]; ok {
		return key, true
	}
	o, ok := s.written.pods[taskID]
	return o.pod, ok
}
