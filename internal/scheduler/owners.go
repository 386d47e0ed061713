package scheduler

import (
	"context"
	"slices"
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
	delete(s.uncertain, taskID)
	s.ownerWrittenLocked(taskID)
	s.mu.Unlock()
}

// ownerWrittenLocked moves the pod of a launch whose MesosTask was written from the
// unstored to the written ones; s.mu is held.
func (s *Scheduler) ownerWrittenLocked(taskID string) {
	if pod, ok := s.storedLocked(taskID); ok {
		s.written.add(taskID, pod, time.Now())
	}
}

// unwrittenHere says whether this process launched a task and has not written its
// MesosTask.
func (s *Scheduler) unwrittenHere(taskID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.unstored[taskID]
	return ok
}

// storeLaterLocked notes a launch whose MesosTask is not written yet, and its pod; s.mu
// is held.
func (s *Scheduler) storeLaterLocked(taskID string, pod types.NamespacedName) {
	if old, ok := s.unstored[taskID]; ok && old == pod {
		return
	}
	s.storedLocked(taskID)
	s.unstored[taskID] = pod
	s.unstoredOf[pod] = append(s.unstoredOf[pod], taskID)
}

// storedLocked forgets a launch as one whose MesosTask is not written yet, and says
// whose pod it was; s.mu is held.
func (s *Scheduler) storedLocked(taskID string) (types.NamespacedName, bool) {
	pod, ok := s.unstored[taskID]
	if !ok {
		return pod, false
	}
	delete(s.unstored, taskID)
	ids := slices.DeleteFunc(s.unstoredOf[pod], func(id string) bool { return id == taskID })
	if len(ids) == 0 {
		delete(s.unstoredOf, pod)
	} else {
		s.unstoredOf[pod] = ids
	}
	return pod, true
}

// PodGone kills the tasks this process launched for a pod that is gone (deleted at
// once, without a grace period) while their MesosTasks were not written: a burst's
// deferred create (records.go), or a launch no update has reported yet. A MesosTask's
// finalizer has its task killed when its pod goes; without one nothing else would until
// the task's next update or its deferred create, at the end of the burst. Each task is
// still remembered as launched, so that its last update finds the pod gone (ownerOf).
func (s *Scheduler) PodGone(ctx context.Context, pod types.NamespacedName) {
	s.mu.Lock()
	ids := slices.Clone(s.unstoredOf[pod])
	agents := make([]string, len(ids))
	for i, id := range ids {
		agents[i] = s.launches[id].AgentID
	}
	s.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	d := s.currentDriver()
	if d == nil {
		return // the reconciliation after the next subscription finds no owner
	}
	for i, id := range ids {
		s.Log.Info("Killing the task of a pod deleted before its MesosTask was written", "pod", pod.String(), "task", id)
		if err := d.Kill(ctx, id, agents[i], nil); err != nil {
			s.Log.V(1).Info("Could not kill the task; its next update or its MesosTask's write does", "task", id, "error", err.Error())
		}
	}
}

// writtenLately says whether this process launched a task and wrote its MesosTask less
// than ownerMemory ago.
func (s *Scheduler) writtenLately(taskID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.written.pods[taskID]
	return ok && time.Since(o.at) < ownerMemory
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
