package scheduler

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Pods of fixed names wait while an earlier pod of the name may run unseen.
//
// A pod made again under the name of one removed (a StatefulSet's pod, force-deleted)
// waits for the earlier pod's task to end: its MesosTask, kept by its finalizer, holds
// the name (PodReconciler.awaitEarlierTask). With the MesosTasks in this process's memory
// a new leader holds none, and records the tasks of pods gone from what the master lists
// (learnEarlierTasks). A master that failed over lists no task of an agent that has not
// registered with it again, and tells the framework nothing of them when it does: until
// such an agent is back (awaitRecoveredAgents), a task there of a pod gone is known to
// no one. So meanwhile, with TasksInMemory, every pod whose name was not generated
// (metadata.generateName: its owner cannot make it again under that name) waits aside
// (deferred, as a task whose id Mesos may still hold), told why; the others are placed as
// ever. With the CRD the MesosTask holds the name, and nothing waits.
//
// The hold ends once every such agent is back, its tasks looked at, or after
// recoveredAgentsWait (Mesos takes an agent that does not register again for unreachable
// after --agent_reregister_timeout, 10 minutes by default); a subscription that ends
// first leaves the decision to the next one's look (learnEarlierTasks).

// whyNameHeld is what a pod of a fixed name is told while it waits.
var whyNameHeld = fmt.Sprintf("Waiting for the Mesos agents that the master recovered after a failover to register with it again (for at most %s): "+
	"a task of an earlier pod of this name may still run on one of them.", recoveredAgentsWait)

// nameFixed says whether a pod's name is its own, not generated: its owner may make it
// again under that name.
func nameFixed(generateName string) bool { return generateName == "" }

// holdNames starts the hold of fixed names for a subscription, with TasksInMemory: the
// pods of fixed names queued are set aside, and told why.
func (s *Scheduler) holdNames(ctx context.Context, subscription uint64) {
	if !s.TasksInMemory {
		return
	}
	s.mu.Lock()
	s.namesHeldFor = subscription
	for id, p := range s.pending {
		if p.nameFixed {
			delete(s.pending, id)
			s.deferred[id] = p
		}
	}
	s.countPendingLocked()
	s.mu.Unlock()
	s.Log.Info("Pods of fixed names wait until the agents the master recovered are back: an earlier pod of the name may run on one")
	s.tellHeldNames(ctx, time.Now())
}

// releaseNames ends the hold of fixed names of a subscription (any, for 0), and queues
// the pods that waited for it alone.
func (s *Scheduler) releaseNames(ctx context.Context, subscription uint64) {
	s.mu.Lock()
	if s.namesHeldFor == 0 || (subscription != 0 && s.namesHeldFor != subscription) {
		s.mu.Unlock()
		return
	}
	s.namesHeldFor = 0
	var ids []string
	for id, p := range s.deferred {
		if _, held := s.holds[id]; held || !p.nameFixed {
			continue
		}
		delete(s.deferred, id)
		s.pending[id] = p
		ids = append(ids, id)
	}
	w := wakeNothing
	if len(ids) > 0 {
		w = s.offersWantedLocked(time.Now(), ids...)
	}
	s.countPendingLocked()
	s.mu.Unlock()
	s.Log.Info("Pods of fixed names are placed again", "pods", len(ids))
	if ctx.Err() == nil {
		s.wakeFor(ctx, w)
	}
}

// nameHeldLocked, s.mu held, says whether a task waits aside for the hold of fixed names.
func (s *Scheduler) nameHeldLocked(p pendingTask) bool {
	return s.namesHeldFor != 0 && p.nameFixed
}

// tellHeldNames tells the pods that wait for the hold of fixed names why, once each
// (pendingTask.tell).
func (s *Scheduler) tellHeldNames(ctx context.Context, now time.Time) {
	type toTell struct {
		key       types.NamespacedName
		id, about string
	}
	var tell []toTell
	s.mu.Lock()
	for id, p := range s.deferred {
		if _, held := s.holds[id]; held || !s.nameHeldLocked(p) {
			continue
		}
		if told, news := p.tell(whyNameHeld, now); news {
			s.deferred[id] = p
			tell = append(tell, toTell{p.key, id, told})
		}
	}
	s.mu.Unlock()
	for _, t := range tell {
		s.markUnschedulable(ctx, t.key, t.id, t.about)
	}
}
