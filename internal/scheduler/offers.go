package scheduler

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/placement"
	"github.com/k8sm/k8sm/internal/podtask"
)

// offerLoop handles each batch of offers in turn, and revives offers that work waits for
// while they are suppressed.
func (s *Scheduler) offerLoop(ctx context.Context) {
	// A safety net: work that waits while offers are suppressed revives them.
	check := time.NewTicker(5 * time.Second)
	defer check.Stop()
	expiry := time.NewTimer(time.Hour)
	expiry.Stop()
	defer expiry.Stop()
	revive := time.NewTimer(time.Hour) // the REVIVE owed to work (reviveOwedAt)
	revive.Stop()
	defer revive.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-s.offers:
			s.handleOffers(ctx, b)
		case <-s.wake:
			// Work came while offers are held: it takes them, and what they do not fit
			// revives offers.
			s.handleOffers(ctx, offerBatch{})
			s.reviveForHeldMisses(time.Now())
			if s.stuck() {
				s.setSuppressed(ctx, false)
			}
		case <-expiry.C:
			s.declineExpired(ctx, time.Now())
		case <-revive.C:
			s.reviveOwedNow(ctx, time.Now())
		case <-check.C:
			if s.stuck() {
				s.setSuppressed(ctx, false)
			}
			s.preempt(ctx, time.Now())
			s.tellWaiting(ctx, time.Now())
			s.tellHeldNames(ctx, time.Now())
		}
		if s.heldForWork() {
			s.wakeOfferLoop() // work that came during the round: the next round tries it
		}
		if next, ok := s.nextExpiry(); ok {
			expiry.Reset(time.Until(next))
		} else {
			expiry.Stop()
		}
		if at, owed := s.reviveOwedAt(); owed {
			revive.Reset(time.Until(at))
		} else {
			revive.Stop()
		}
	}
}

// handleOffers places pending tasks on a new batch of offers and the held ones,
// launches what fits, holds or declines the rest (hold.go), explains what fits nowhere,
// and suppresses offers once nothing waits. A round uses the offers of the subscription
// held as it starts, and binds no pod once that subscription ended (prepareLaunch).
func (s *Scheduler) handleOffers(ctx context.Context, b offerBatch) {
	s.mu.Lock()
	d, mc := s.driver, s.cluster
	s.mu.Unlock()
	if d == nil {
		return
	}
	if id := d.FrameworkID(); id == "" || id != mc.Status.FrameworkID {
		s.awaitFrameworkID(ctx, b)
		return
	}
	if !mc.DeletionTimestamp.IsZero() {
		s.declineWhileDeleted(ctx, b, sourceOf(d))
		return
	}
	s.awaitExecutors(ctx)
	on := sourceOf(d)
	now := time.Now()
	held := s.takeHeld(on, now)
	defer s.recycleHeld(held)
	offers := s.offersOfRound(held, s.notRescinded(s.liveOffers(b, on)))
	if len(offers) == 0 {
		return
	}
	queue := s.queue()
	keys := make(map[string]types.NamespacedName, len(queue))
	seqs := make(map[string]uint64, len(queue))
	for _, p := range queue {
		keys[p.request.ID], seqs[p.request.ID] = p.key, p.seq
	}
	res := s.place(mc, d.MasterRegion(), queue, offers)
	s.noteRooms(res.Left, mc, now)
	refuse := refuseFor(mc)
	unused := s.launchAll(ctx, on, mc, offers, res.Assignments, queuedAs{keys, seqs}, refuse)
	s.settleUnused(ctx, on, offers, unused, held, keys, refuse, holdFor(mc), now)
	for id, why := range res.Unplaced {
		if told, ok := s.noteUnschedulable(id, why, now); ok {
			s.markUnschedulable(ctx, keys[id], id, told)
		}
	}
	for id, why := range res.Waiting {
		// Its room taken by pods placed before it: it waits for the next offers, and is
		// told why only once it has waited long.
		if told, ok := s.noteWaiting(id, why, now); ok {
			s.markUnschedulable(ctx, keys[id], id, told)
		}
	}
	s.setSuppressed(ctx, true)
	s.offersForLateWork(ctx, keys)
}

// waitingMarked is how long a pod is queued before it is told why it waits when no
// round said it fits no offer: one whose room other pods of its rounds took
// (placement.Result.Waiting), or one no round has tried (no offers came). Longer than a
// burst keeps pods waiting for offers, short enough that a pod whose agents filled up, or
// to which Mesos offers nothing, is told so.
const waitingMarked = 30 * time.Second

// Why a task waits that no round tried: no offers came since it was queued, as placement
// says of a round without offers, or none can come, worded as placement words its
// explanations.
const (
	whyNoOffers       = placement.NoOffers
	whyNotSubscribed  = "0/0 agents available: not subscribed to the Mesos master."
	tellWaitingAtMost = 100
)

// tellWaiting marks Unschedulable the tasks queued waitingMarked or longer before now
// that no round told why they wait: with the explanation of the last round that left
// one waiting (noteWaiting), else with why no round tried it, which it tells again when
// that changed (the framework subscribed again, and still no offer comes). The oldest
// first, and tellWaitingAtMost of them per pass: each is a few writes, made in the offer
// loop. It also tells again, with its explanation, why preempt found no pods to preempt
// for a task told why it waits before (pendingTask.preemption), for as many tasks a pass
// as preempt weighs (preemptAtMost): a full cluster's queue learns that as slowly as
// preemption weighs it, and each task's next explanation carries it anyway.
func (s *Scheduler) tellWaiting(ctx context.Context, now time.Time) {
	none := whyNoOffers
	if d := s.currentDriver(); d == nil || !d.Subscribed() {
		none = whyNotSubscribed
	}
	var untold, preemption []toldWaiting
	s.mu.Lock()
	for id, p := range s.pending {
		told := p.unschedulable != "" && (p.unschedulable == none || !noRound(p.unschedulable))
		switch {
		case !told && now.Sub(p.queued) >= waitingMarked:
			why := p.waiting
			if why == "" {
				why = none
			}
			untold = append(untold, toldWaiting{p.key, id, why, p.queued})
		case told && p.preemption != "" && !placement.SameReasons(p.preemption, p.toldPreemption):
			preemption = append(preemption, toldWaiting{p.key, id, p.unschedulable, p.queued})
		}
	}
	s.mu.Unlock()
	for _, t := range slices.Concat(oldestWaiting(untold, tellWaitingAtMost), oldestWaiting(preemption, preemptAtMost)) {
		if told, ok := s.noteUnschedulable(t.id, t.why, now); ok {
			s.markUnschedulable(ctx, t.key, t.id, told)
		}
	}
}

// toldWaiting is a task tellWaiting tells why it waits.
type toldWaiting struct {
	key     types.NamespacedName
	id, why string
	queued  time.Time
}

// oldestWaiting are the most tasks queued first (then by id).
func oldestWaiting(tasks []toldWaiting, most int) []toldWaiting {
	slices.SortFunc(tasks, func(a, b toldWaiting) int {
		if c := a.queued.Compare(b.queued); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return tasks[:min(len(tasks), most)]
}

// noRound says whether an explanation is one tellWaiting gives a task no round tried.
func noRound(why string) bool {
	return why == whyNoOffers || why == whyNotSubscribed
}

// offersOfRound are the offers a round places on: the held ones first, in the order of
// held, then the new ones. They go into the room the last round's took: the offer loop
// alone runs rounds, one at a time, and nothing keeps a round's offers past it.
func (s *Scheduler) offersOfRound(held []heldOffer, offers []mesos.Offer) []mesos.Offer {
	if len(held) == 0 {
		return offers
	}
	round := s.roundOffers[:0]
	for i := range held {
		round = append(round, held[i].offer)
	}
	round = append(round, offers...)
	s.roundOffers = round
	return round
}

// notRescinded are the offers whose RESCIND has not come: one may overtake its offer on
// its way to the offer loop (the event loop hands offers over and goes on). A rescinded
// offer in an ACCEPT would void it whole, with the agent's other offers (TASK_DROPPED).
func (s *Scheduler) notRescinded(offers []mesos.Offer) []mesos.Offer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.rescinded) == 0 {
		return offers
	}
	for i := range offers {
		if _, gone := s.rescinded[offers[i].ID.Value]; !gone {
			continue
		}
		kept := slices.Clone(offers[:i])
		for j := i + 1; j < len(offers); j++ {
			if _, gone := s.rescinded[offers[j].ID.Value]; !gone {
				kept = append(kept, offers[j])
			}
		}
		return kept
	}
	return offers
}

// frameworkIDWait is how long offers declined while the framework id is not yet written
// stay away: the write follows the subscription within moments.
const frameworkIDWait = time.Second

// awaitFrameworkID declines offers that came before the framework id they were made to
// is written to the cluster's status. Nothing is launched under an id that only this
// process knows: a manager that stopped then would subscribe again as a new framework,
// and launch again, under it, the pods whose tasks run under the old one.
func (s *Scheduler) awaitFrameworkID(ctx context.Context, b offerBatch) {
	if len(b.offers) == 0 {
		return
	}
	s.Log.V(1).Info("Declining offers until the framework id is written to the MesosCluster's status", "frameworkID", b.from.d.FrameworkID(), "offers", len(b.offers))
	s.decline(ctx, b.from, offerIDs(b.offers), frameworkIDWait)
}

// declineWhileDeleted declines the offers of a cluster being deleted, and those held on
// the subscription on, for as long as a framework waiting for its id: nothing is launched
// for a cluster that goes (its pods would run in Mesos with no cluster left), and the
// offers go back to the other frameworks. Not the batch's source for the held: a batch of
// no offers (work came) names none, and the held would be dropped, left to Mesos.
func (s *Scheduler) declineWhileDeleted(ctx context.Context, b offerBatch, on offerSource) {
	held := s.takeHeld(on, time.Now())
	defer s.recycleHeld(held)
	ids := offerIDs(s.liveOffers(b, on))
	for _, o := range held {
		ids = append(ids, o.offer.ID)
	}
	if len(ids) == 0 {
		return
	}
	s.Log.V(1).Info("Declining offers: the MesosCluster is being deleted", "offers", len(ids))
	s.decline(ctx, on, ids, frameworkIDWait)
}

// place runs placement over the queue, in its order, and the offers. The room of the
// pods preempted for a task is kept for it on its Node while it waits for it
// (nominatedUntil): pods of no higher priority take it only when it is placed.
func (s *Scheduler) place(mc *mesosv1alpha1.MesosCluster, masterRegion string, queue []pendingTask, offers []mesos.Offer) placement.Result {
	reqs := make([]placement.Request, len(queue))
	var nominated []placement.Nominated
	now := time.Now()
	for i := range queue {
		p := &queue[i]
		reqs[i] = p.request
		reqs[i].Priority = p.priority
		if p.nominated != "" && now.Before(p.nominatedUntil) {
			nominated = append(nominated, placement.Nominated{Node: p.nominated, ID: p.request.ID, Priority: p.priority,
				CPUs: p.request.CPUs, MemMB: p.request.MemMB, DiskMB: p.request.DiskMB, GPUs: p.request.GPUs})
		}
	}
	strategy := placement.Strategy(mc.Spec.Placement.Strategy)
	if strategy == "" {
		strategy = placement.Strategy(mesosv1alpha1.PlacementSpread)
	}
	start := time.Now()
	podsIn, withTerms := s.antiAffinityInput(context.Background())
	res := placement.Place(placement.Input{
		Requests: reqs, Offers: offers, Strategy: strategy, Cluster: mc.Name, MasterRegion: masterRegion,
		ExecutorID: podtask.ExecutorID(mc), ExecutorResources: podtask.ExecutorRequest(mc), Cache: &s.offerCache,
		RunningExecutor: s.runningExecutor(podtask.ExecutorID(mc)), NodeSpec: s.nodeSpec,
		PodsIn: podsIn, AntiAffinityPods: withTerms, ClusterNodes: s.clusterNodes, NamespaceLabels: s.namespaceLabels,
		Nominated: nominated,
	})
	s.metrics.Placed(time.Since(start))
	return res
}

// nodeSpec is placement's Input.NodeSpec: whether an agent's Node is cordoned, its
// taints and labels, and whether it is not the cluster's Node (another cluster's, or a kubelet's
// of the same name, whose kubelet would run a pod bound there too), from the cache (its
// own object, to read only).
func (s *Scheduler) nodeSpec(name string) (placement.NodeState, bool) {
	node := &corev1.Node{}
	if err := s.Client.Get(context.Background(), client.ObjectKey{Name: name}, node, client.UnsafeDisableDeepCopy); err != nil {
		return placement.NodeState{}, false
	}
	return placement.NodeState{Unschedulable: node.Spec.Unschedulable, Taints: node.Spec.Taints,
		OtherCluster: agentnode.ClusterOfNode(node) != s.clusterName(), Labels: node.Labels}, true
}

// refuseFor is how long declined offers are filtered: the cluster's refuseSeconds, 5s
// by default.
func refuseFor(mc *mesosv1alpha1.MesosCluster) time.Duration {
	if r := mc.Spec.Placement.RefuseSeconds; r != nil {
		return time.Duration(*r) * time.Second
	}
	return 5 * time.Second
}

// launchAll launches the assignments, one ACCEPT per agent and allocation role with
// all its offers used (acceptGroups), and returns the offers left unused, by their index
// in offers: those nothing was placed on or launched with. The groups' launches are
// prepared launchWorkers at a time in the groups' order, and each group's ACCEPT goes
// out as soon as its own are ready: started all at once, the groups took turns at the
// workers, and every ACCEPT of a large round waited for nearly all its pods to be bound
// (at 1,000 agents, tens of seconds with the first tasks bound and not launched), then
// went out together, a connection each.
func (s *Scheduler) launchAll(ctx context.Context, on offerSource, mc *mesosv1alpha1.MesosCluster, offers []mesos.Offer,
	assignments []placement.Assignment, queued queuedAs, refuse time.Duration) []int {
	l := offerLaunch{s: s, on: on, executor: podtask.ExecutorInfo(mc, on.d.FrameworkID()), security: podtask.SecurityFor(mc), queued: queued, refuse: refuse,
		slots: make(chan struct{}, launchWorkers)}
	groups, unused := acceptGroups(offers, assignments)
	failed := make([]bool, len(groups)) // each launch sets its own
	var wg sync.WaitGroup
	for i := range groups {
		prepared := l.prepare(ctx, groups[i].asgs)
		wg.Add(1)
		go func() {
			defer wg.Done()
			failed[i] = !l.launch(ctx, groups[i].offerIDs(offers), groups[i].asgs, prepared())
		}()
	}
	wg.Wait()
	for i, f := range failed {
		if f {
			unused = append(unused, groups[i].offers...)
		}
	}
	return unused
}

// acceptGroup is what one ACCEPT takes: offers (by index) of one agent and one
// allocation role, and the assignments placed on them.
type acceptGroup struct {
	offers []int
	asgs   []placement.Assignment
}

func (g *acceptGroup) offerIDs(offers []mesos.Offer) []mesos.OfferID {
	ids := make([]mesos.OfferID, len(g.offers))
	for i, o := range g.offers {
		ids[i] = offers[o].ID
	}
	return ids
}

// acceptGroups gathers the offers of each agent and allocation role that got tasks into
// one ACCEPT, as Mesos takes them together (offers of one agent and one role), all of
// them: placement takes them as one (placement.AllocationRole), and a task may need
// resources of several, as when Mesos offered again what a task freed on an agent while
// an offer of it was held. Apart, the ACCEPT whose task starts the agent's executor pays
// for the executor, and another ACCEPT of the agent reaching Mesos first would be charged
// for it instead (in Mesos the first task to name a new executor pays), and fail if its
// offer cannot. Each offer goes into one ACCEPT at most. It returns the groups in the
// order of their first offer, and the offers of agents and roles nothing was placed on.
func acceptGroups(offers []mesos.Offer, assignments []placement.Assignment) ([]acceptGroup, []int) {
	byOffer := make(map[string][]placement.Assignment, len(offers))
	for _, a := range assignments {
		byOffer[a.OfferID.Value] = append(byOffer[a.OfferID.Value], a)
	}
	var groups []acceptGroup
	index := map[string]int{} // agent id + role -> group
	key := func(o *mesos.Offer) string { return o.AgentID.Value + "\x00" + placement.AllocationRole(o) }
	for i := range offers {
		asgs := byOffer[offers[i].ID.Value]
		if len(asgs) == 0 {
			continue
		}
		k := key(&offers[i])
		g, ok := index[k]
		if !ok {
			g = len(groups)
			index[k] = g
			groups = append(groups, acceptGroup{})
		}
		groups[g].asgs = append(groups[g].asgs, asgs...)
	}
	unused := make([]int, 0, len(offers))
	for i := range offers {
		if g, ok := index[key(&offers[i])]; ok {
			groups[g].offers = append(groups[g].offers, i)
		} else {
			unused = append(unused, i)
		}
	}
	return groups, unused
}

// queuedAs is how a round found its tasks queued: their MesosTasks' keys and their
// queuings (pendingTask.seq), by task id.
type queuedAs struct {
	keys map[string]types.NamespacedName
	seqs map[string]uint64
}

// offerLaunch is what the launches of one batch of offers share.
type offerLaunch struct {
	s *Scheduler
	// on is the subscription the offers came on.
	on       offerSource
	executor mesos.ExecutorInfo
	security podtask.Security
	queued   queuedAs
	refuse   time.Duration
	// slots bounds the launches prepared at once across the batch.
	slots chan struct{}
}

// prepare starts to record, bind and build every task of an ACCEPT, each once a worker
// is free, and returns once every one has started; what it returns waits for them and
// returns them, nil where a task is not to be launched.
func (l *offerLaunch) prepare(ctx context.Context, asgs []placement.Assignment) func() []*preparedLaunch {
	tasks := make([]*preparedLaunch, len(asgs))
	var wg sync.WaitGroup
	for i, a := range asgs {
		wg.Add(1)
		l.slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-l.slots }()
			tasks[i] = l.prepareLaunch(ctx, a)
		}()
	}
	return func() []*preparedLaunch {
		wg.Wait()
		return tasks
	}
}

// launch sends the ACCEPT of its offers with the tasks prepared for it. It says whether
// the offers were used (or the ACCEPT tried); false leaves them to be declined.
func (l *offerLaunch) launch(ctx context.Context, offerIDs []mesos.OfferID, asgs []placement.Assignment, tasks []*preparedLaunch) bool {
	s := l.s
	var launch []mesos.TaskInfo
	var prepared []*preparedLaunch
	for _, t := range tasks {
		if t != nil {
			launch = append(launch, t.info)
			prepared = append(prepared, t)
		}
	}
	if len(launch) == 0 {
		return false
	}
	s.launchSent(launch)
	if log := s.Log.V(1); log.Enabled() {
		ids := make([]string, len(launch))
		for i := range launch {
			ids[i] = launch[i].TaskID.Value
		}
		log.Info("Launching", "agent", launch[0].AgentID.Value, "offers", len(offerIDs), "tasks", ids)
	}
	if err := l.on.d.Launch(ctx, l.on.subscription, offerIDs, launch, l.refuse); err != nil {
		for _, t := range prepared {
			s.event(t, false)
		}
		if errors.Is(err, framework.ErrSubscriptionEnded) {
			s.launchNotSent(ctx, prepared)
			return true
		}
		s.launchFailed(ctx, l.on, offerIDs, launch, l.queued.seqs, err)
		return true
	}
	s.metrics.TasksLaunched(len(launch))
	s.filtered(l.refuse) // what the tasks leave of the offers
	s.executorLaunched(asgs, launch)
	for _, t := range prepared {
		s.dequeueLaunched(t.info.TaskID.Value, l.queued.seqs[t.info.TaskID.Value])
		s.launched(&t.info)
		s.event(t, true)
	}
	return true
}
