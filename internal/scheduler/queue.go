package scheduler

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/placement"
	"github.com/k8sm/k8sm/internal/podtask"
)

// pendingTask is a MesosTask waiting for an offer.
type pendingTask struct {
	key     types.NamespacedName
	request placement.Request
	// priority and created (the pod's) give the queue its order, as kube-scheduler's:
	// higher priority first, then the oldest pod; queued (when this process first queued
	// it) orders pods created in the same second.
	priority int32
	created  time.Time
	queued   time.Time
	// unschedulable is the explanation last written for the task, at told, so that it
	// is written again only when it changes (noteUnschedulable).
	unschedulable string
	told          time.Time
	// waiting is the explanation of the last round that left the task waiting for the
	// next offers (placement.Result.Waiting), not written yet.
	waiting string
	// preemption is why no pods are preempted for the task (preempt: "preemption: 0/3
	// agents available: …"), told after its explanation; toldPreemption is what was told
	// with unschedulable.
	preemption, toldPreemption string
	// stored: the task's MesosTask is written (else the pod alone stands for it).
	stored bool
	// nameFixed: the pod's name was not generated; its owner may make it again under
	// it (namehold.go).
	nameFixed bool
	// seq tells this queuing of the task from the next (Enqueue): a launch takes out of
	// the queue only the entry it launched (dequeueLaunched).
	seq uint64
	// preemptNever: the pod's preemptionPolicy is Never. nominatedUntil is until when it
	// waits for the room of the pods preempted for it on the Node nominated, and
	// preemptTried when a pass last weighed pods to preempt for it (preempt).
	preemptNever                 bool
	nominated                    string
	nominatedUntil, preemptTried time.Time
}

// Enqueue adds a MesosTask to the queue (again), handing it the offers held (hold.go),
// or reviving offers if they were suppressed. One whose id Mesos may still hold waits
// aside until it lets go (taskids.go), and so does a pod of a fixed name while an
// earlier pod of its name may run unseen (namehold.go).
// A pod the cluster is to bind is queued with its MesosTask unwritten (podtask.NewMesosTask).
// A pod with scheduling gates is not queued (see the Pod reconciler).
func (s *Scheduler) Enqueue(ctx context.Context, mt *mesosv1alpha1.MesosTask, pod *corev1.Pod) {
	id := mt.Spec.TaskID
	if len(pod.Spec.SchedulingGates) > 0 {
		s.Dequeue(id)
		return
	}
	req := podtask.RequestFor(pod, mt)
	s.mu.Lock()
	before, known := s.pending[id]
	if d, waits := s.deferred[id]; waits {
		before = d
	}
	p := pendingTask{key: client.ObjectKeyFromObject(mt), request: req, created: pod.CreationTimestamp.Time,
		queued: before.queued, unschedulable: before.unschedulable, told: before.told, waiting: before.waiting,
		preemption: before.preemption, toldPreemption: before.toldPreemption,
		stored: mt.ResourceVersion != "", nameFixed: nameFixed(pod.GenerateName), nominated: before.nominated, nominatedUntil: before.nominatedUntil,
		preemptTried: before.preemptTried,
		preemptNever: pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == corev1.PreemptNever}
	if p.queued.IsZero() {
		p.queued = time.Now()
	}
	if pod.Spec.Priority != nil {
		p.priority = *pod.Spec.Priority
	}
	s.enqueued++
	p.seq = s.enqueued
	if _, held := s.holds[id]; held || s.nameHeldLocked(p) {
		s.deferred[id] = p
		s.countPendingLocked()
		s.mu.Unlock()
		return
	}
	w := s.queueLocked(p, known)
	s.mu.Unlock()
	s.wakeFor(ctx, w)
}

// wakeup is what new work in the queue asks for.
type wakeup int

const (
	wakeNothing       wakeup = iota
	wakeHeld                 // the offer loop, for the offers held
	wakeRevive               // a REVIVE: offers are suppressed
	wakeRefilter             // a REVIVE: declined offers are filtered
	wakeRefilterLater        // the same, once minRevive has passed since the last (reviveOwed)
)

// queueLocked puts a task in the queue, s.mu held, and says what it asks for: new work
// (not known, queued before) takes the offers held for it, else revives offers:
// suppressed, or declined with a refuse filter that has not run out (a new pod would
// otherwise wait it out, up to spec.placement.refuseSeconds, though the declined
// resources fit it). Within minRevive of the last REVIVE, which may have come before the
// round that declined the offers, it is owed one once minRevive has passed (reviveOwed).
func (s *Scheduler) queueLocked(p pendingTask, known bool) wakeup {
	s.pending[p.request.ID] = p
	s.countPendingLocked()
	if known {
		return wakeNothing
	}
	return s.offersWantedLocked(time.Now(), p.request.ID)
}

// offersWantedLocked, s.mu held, says what the tasks of ids, which may fit offers they
// did not fit before, ask for: the offers held (they are noted for reviveForHeldMisses),
// else a REVIVE (queueLocked).
func (s *Scheduler) offersWantedLocked(now time.Time, ids ...string) wakeup {
	switch {
	case len(s.held) > 0:
		for _, id := range ids {
			s.heldNew[id] = struct{}{}
		}
		return wakeHeld
	case s.suppressed:
		return wakeRevive
	case s.filtersHideLocked(now):
		return wakeRefilter
	case now.Before(s.filteredUntil):
		s.reviveOwed = true
		return wakeRefilterLater
	}
	return wakeNothing
}

// NodeOpened has the tasks waiting placed again, as new work is (queueLocked): a Node of
// the cluster may now take pods it could not (uncordoned, a taint removed, its labels
// changed), and a round declined its agent's offers with a refuse filter that would
// otherwise keep them away for up to spec.placement.refuseSeconds.
func (s *Scheduler) NodeOpened(ctx context.Context) {
	w := wakeNothing
	s.mu.Lock()
	if len(s.pending) > 0 {
		w = s.offersWantedLocked(time.Now(), slices.Collect(maps.Keys(s.pending))...)
	}
	s.mu.Unlock()
	s.wakeFor(ctx, w)
}

// reviveForHeldMisses, after a round on the offers held for new work, owes that work a
// REVIVE if some of it still waits while resources declined, or left unused by an
// ACCEPT, may be filtered: the held offers were not all there is, and work queued while
// none are held is revived for at once (queueLocked). Like that, once per new work: what
// fits no offer at all waits out the filters.
func (s *Scheduler) reviveForHeldMisses(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Before(s.filteredUntil) {
		for id := range s.heldNew {
			if _, waits := s.pending[id]; waits {
				s.reviveOwed = true
				break
			}
		}
	}
	clear(s.heldNew)
}

// offersForLateWork asks for offers, as queueLocked does, for the work queued during a
// round, which the round did not try (it is not among tried): it came before the round's
// ACCEPTs and DECLINEs set their refuse filters, so it asked for no REVIVE, and would
// otherwise wait the filters out though what they hold back may fit it.
func (s *Scheduler) offersForLateWork(ctx context.Context, tried map[string]types.NamespacedName) {
	var late []string
	w := wakeNothing
	s.mu.Lock()
	for id := range s.pending {
		if _, ok := tried[id]; !ok {
			late = append(late, id)
		}
	}
	if len(late) > 0 {
		w = s.offersWantedLocked(time.Now(), late...)
	}
	s.mu.Unlock()
	s.wakeFor(ctx, w)
}

// wakeFor does what queueLocked asked for.
func (s *Scheduler) wakeFor(ctx context.Context, w wakeup) {
	switch w {
	case wakeHeld:
		s.wakeOfferLoop()
	case wakeRevive:
		s.setSuppressed(ctx, false)
	case wakeRefilter:
		s.reviveFiltered(ctx)
	case wakeRefilterLater:
		s.wakeOfferLoop() // which times the REVIVE owed (reviveOwedAt)
	}
}

// countPendingLocked records how many tasks wait to be launched, those waiting aside
// included.
func (s *Scheduler) countPendingLocked() {
	s.metrics.Pending(len(s.pending) + len(s.deferred))
}

// minRevive is the least time between two REVIVEs for new work while offers are not
// suppressed: a REVIVE brings back every agent's declined resources, so a burst of new
// pods makes one a second at most.
const minRevive = time.Second

// filtersHideLocked says whether resources declined with a refuse filter may still be
// kept from the framework, and no REVIVE cleared them within minRevive.
func (s *Scheduler) filtersHideLocked(now time.Time) bool {
	return now.Before(s.filteredUntil) && now.Sub(s.revived) >= minRevive
}

// reviveOwedAt is when the REVIVE owed to work that came within minRevive of the last
// one is due, if one is owed.
func (s *Scheduler) reviveOwedAt() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revived.Add(minRevive), s.reviveOwed
}

// reviveOwedNow REVIVEs offers for work that came within minRevive of the last REVIVE,
// once minRevive has passed by now, if declined offers may still be filtered.
func (s *Scheduler) reviveOwedNow(ctx context.Context, now time.Time) {
	s.mu.Lock()
	due := s.reviveOwed && now.Sub(s.revived) >= minRevive
	if due {
		s.reviveOwed = false
	}
	s.mu.Unlock()
	if due {
		s.reviveFiltered(ctx)
	}
}

// reviveFiltered REVIVEs offers, clearing the refuse filters of earlier declines.
func (s *Scheduler) reviveFiltered(ctx context.Context) {
	s.offerCalls.Lock()
	defer s.offerCalls.Unlock()
	s.mu.Lock()
	d, hide := s.driver, s.filtersHideLocked(time.Now())
	s.mu.Unlock()
	if d != nil && hide {
		s.reviveLocked(ctx, d)
	}
}

// reviveLocked, with offerCalls held, REVIVEs offers and records it: offers are no
// longer suppressed, and the refuse filters of the declines before it are cleared (not
// one a decline set meanwhile: declines do not wait for offerCalls).
func (s *Scheduler) reviveLocked(ctx context.Context, d Driver) {
	s.mu.Lock()
	filtered := s.filteredUntil
	s.revived, s.reviveOwed = time.Now(), false // it serves the work that came before it
	s.mu.Unlock()
	if err := d.Revive(ctx); err != nil {
		s.Log.V(1).Info("Could not revive offers", "error", err.Error())
		return
	}
	s.mu.Lock()
	s.suppressed = false
	if s.filteredUntil.Equal(filtered) {
		s.filteredUntil = time.Time{}
	}
	s.mu.Unlock()
}

// wakeOfferLoop has the offer loop place the queue on the held offers.
func (s *Scheduler) wakeOfferLoop() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Dequeue removes a task from the queue, or from those waiting aside.
func (s *Scheduler) Dequeue(taskID string) {
	s.mu.Lock()
	delete(s.pending, taskID)
	delete(s.deferred, taskID)
	delete(s.boundUnsent, taskID)
	s.countPendingLocked()
	s.mu.Unlock()
}

// dequeueLaunched takes a task just launched out of the queue: the entry the round
// launched, queued as seq, in the queue or moved aside since (holdID), and not one
// queued again since. Mesos may answer the launch before its ACCEPT returns (TASK_DROPPED,
// or a refusal for an id it still holds: podtask.IDTaken), and that answer queues the pod
// again, or aside until Mesos lets go of the id: it must not be lost to the end of the
// launch.
func (s *Scheduler) dequeueLaunched(taskID string, seq uint64) {
	s.mu.Lock()
	if p, ok := s.pending[taskID]; ok && p.seq == seq {
		delete(s.pending, taskID)
	}
	if p, ok := s.deferred[taskID]; ok && p.seq == seq {
		delete(s.deferred, taskID)
	}
	s.countPendingLocked()
	s.mu.Unlock()
}

// Unstored counts the tasks whose MesosTask is not written yet: queued (or waiting
// aside), and launched with no update written, for the cluster's task counts.
func (s *Scheduler) Unstored() (queued, launching int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ps := range []map[string]pendingTask{s.pending, s.deferred} {
		for _, p := range ps {
			if !p.stored {
				queued++
			}
		}
	}
	return queued, len(s.unstored)
}

// Pending says whether a task waits to be launched: in the queue, or aside until Mesos
// lets go of its id.
func (s *Scheduler) Pending(taskID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, queued := s.pending[taskID]
	_, waits := s.deferred[taskID]
	return queued || waits
}

// queue is a copy of the pending tasks in placement order.
func (s *Scheduler) queue() []pendingTask {
	s.mu.Lock()
	q := make([]pendingTask, 0, len(s.pending))
	for _, p := range s.pending {
		q = append(q, p)
	}
	s.mu.Unlock()
	sortQueue(q)
	return q
}

// sortQueue orders pending tasks for placement, which gives earlier ones the first pick:
// higher pod priority first, then older pods, so that a pod that waited for room gets it
// before newer ones.
func sortQueue(q []pendingTask) {
	slices.SortFunc(q, func(a, b pendingTask) int {
		if a.priority != b.priority {
			return cmp.Compare(b.priority, a.priority)
		}
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		if c := a.queued.Compare(b.queued); c != 0 {
			return c
		}
		return strings.Compare(a.request.ID, b.request.ID)
	})
}

// restatedAfter is how long a task's explanation stands while the rounds name the same
// reasons with other numbers of agents ("0/1 agents available: 1 insufficient cpus." and
// then "0/4 …"): in a full cluster each batch of offers has its own number, and would
// have every pending pod, its MesosTask and an event written again. kube-scheduler, too,
// tries a pod nothing changed for again after five minutes.
const restatedAfter = 5 * time.Minute

// noteUnschedulable records the explanation of a task that fits nowhere and says whether
// it is news, to be written, and what to write (pendingTask.tell).
func (s *Scheduler) noteUnschedulable(taskID, why string, now time.Time) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pending[taskID]
	if !ok {
		return "", false
	}
	told, news := p.tell(why, now)
	if !news {
		return "", false
	}
	s.pending[taskID] = p
	return told, true
}

// noteWaiting records why a task waits for the next offers (placement.Result.Waiting) and
// says whether it is to be told so now, and what to write: it was queued waitingMarked or
// longer before now (its agents may be full, their offers not coming again), and it is
// news (pendingTask.tell).
func (s *Scheduler) noteWaiting(taskID, why string, now time.Time) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pending[taskID]
	switch {
	case !ok:
		return "", false
	case now.Sub(p.queued) < waitingMarked:
		if p.waiting != why {
			p.waiting = why
			s.pending[taskID] = p
		}
		return "", false
	}
	told, news := p.tell(why, now)
	if !news {
		return "", false
	}
	s.pending[taskID] = p
	return told, true
}

// tell records why as the task's explanation, told now with why preemption found no
// room, and says whether it is news: the task was not told why, or why or its
// preemption name other reasons, or the same ones restatedAfter after it was told. told
// is what to write: why, then its preemption.
func (p *pendingTask) tell(why string, now time.Time) (told string, news bool) {
	if p.unschedulable == why && p.toldPreemption == p.preemption {
		return "", false
	}
	if p.unschedulable != "" && now.Sub(p.told) < restatedAfter && placement.SameReasons(p.unschedulable, why) &&
		placement.SameReasons(p.toldPreemption, p.preemption) {
		return "", false
	}
	p.unschedulable, p.toldPreemption, p.told, p.waiting = why, p.preemption, now, ""
	return withPreemption(why, p.preemption), true
}

// withPreemption is an explanation followed by why no pods are preempted, as
// kube-scheduler writes them: "0/3 agents available: 3 insufficient cpus. preemption:
// 0/3 agents available: 3 had no pods of lower priority."
func withPreemption(why, preemption string) string {
	if preemption == "" {
		return why
	}
	return why + " " + preemption
}

// setSuppressed suppresses offers (when nothing is pending) or revives them. Calls are
// made one at a time and the decision is taken again under that order, so a SUPPRESS
// can never overtake the REVIVE that new work asked for. Work queued while a SUPPRESS is
// under way saw offers not suppressed yet, and asked for none: it is revived for at once.
func (s *Scheduler) setSuppressed(ctx context.Context, want bool) {
	s.offerCalls.Lock()
	defer s.offerCalls.Unlock()
	s.mu.Lock()
	d, current, idle := s.driver, s.suppressed, len(s.pending) == 0
	s.mu.Unlock()
	if d == nil || current == want || (want && !idle) {
		return
	}
	if !want {
		s.reviveLocked(ctx, d)
		return
	}
	if err := d.Suppress(ctx); err != nil {
		s.Log.V(1).Info("Could not suppress offers", "error", err.Error())
		return
	}
	s.mu.Lock()
	s.suppressed = true
	came := len(s.pending) > 0
	s.mu.Unlock()
	if came {
		s.reviveLocked(ctx, d)
	}
}

// stuck says whether work waits while offers are suppressed.
func (s *Scheduler) stuck() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.suppressed && len(s.pending) > 0
}
