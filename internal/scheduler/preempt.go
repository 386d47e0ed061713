package scheduler

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/placement"
	"github.com/k8sm/k8sm/internal/podtask"
)

const (
	// preemptAfter is how long a task waits in the queue, placed nowhere, before pods
	// of lower priority are preempted for it: a burst's pods are placed within moments
	// when there is room (1,000 × 10,000 in the bench: all bound within 7 s of their
	// create), and none is preempted for them meanwhile.
	preemptAfter = 10 * time.Second
	// preemptAtMost is how many tasks a pass preempts for: each is a few writes, made
	// in the offer loop.
	preemptAtMost = 10
	// nominationMargin is how long, past its victims' grace periods, a task waits for
	// the room they free before pods are preempted for it again.
	nominationMargin = 30 * time.Second
	// noVictimsFor is how long, after a pass found no pod of lower priority than its
	// tasks' running, tasks of no higher priority preempt nothing: in a cluster full of
	// pods of one priority, the pods of every Node would be listed at every pass.
	noVictimsFor = 30 * time.Second
	// ReasonPreempted is the reason of the event on a pod preempted, and
	// ReasonPreempting of that on the pod it is preempted for.
	ReasonPreempted  = "Preempted"
	ReasonPreempting = "Preempting"
)

// preemptor is a queued task that may have pods preempted for it.
type preemptor struct {
	id      string
	key     types.NamespacedName
	request placement.Request
	// tried, priority and queued order the preemptors: the one weighed least lately
	// first (never weighed: first of all), then the more important, then the one that
	// waited longest.
	tried    time.Time
	priority int32
	queued   time.Time
}

// preempt deletes pods of lower priority for the tasks that have waited preemptAfter in
// the queue, as kube-scheduler's DefaultPreemption does for a pod that fits no Node: on
// the agent where the fewest and least important pods make room (placement.Preempt).
// A full cluster may send no offer at all, so a task no round placed is not waited on
// to be told why (tellWaiting tells it only after waitingMarked). The victims get a
// DisruptionTarget condition and an event, and are deleted with their grace periods
// (their tasks are killed as for any deletion); the task is nominated to the agent's
// Node (status.nominatedNodeName) and waits for the room they free, which Mesos offers
// again once their tasks ended, before any pod is preempted for it again. Tasks whose
// pods say preemptionPolicy: Never, and those placement.CanPreempt leaves out, preempt
// nothing; nor does any while the framework is not subscribed. A pass weighs
// preemptAtMost tasks, those weighed least lately first: tasks for which no pod can be
// preempted (their selectors match no agent, or they need more than any agent frees)
// would otherwise be the first every pass, and no other task's turn would come.
func (s *Scheduler) preempt(ctx context.Context, now time.Time) {
	d := s.currentDriver()
	if d == nil || !d.Subscribed() {
		return // the kills would wait for the master, and no offer can come meanwhile
	}
	todo := s.preemptors(ctx, now)
	if len(todo) == 0 {
		return
	}
	slices.SortFunc(todo, func(a, b preemptor) int {
		if c := a.tried.Compare(b.tried); c != 0 {
			return c
		}
		if c := cmp.Compare(b.priority, a.priority); c != 0 {
			return c
		}
		return a.queued.Compare(b.queued)
	})
	top := slices.MaxFunc(todo, func(a, b preemptor) int { return cmp.Compare(a.priority, b.priority) }).priority
	if now.Before(s.noVictims.until) && top <= s.noVictims.below {
		s.notePreemption(todo, s.noVictims.why)
		return // no pod of lower priority ran lately: not worth listing them all again
	}
	nodes := s.preemptNodes(ctx, top, now)
	if nodes == nil {
		return // not listed
	}
	if !slices.ContainsFunc(nodes, func(n placement.PreemptNode) bool { return len(n.Pods) > 0 }) {
		s.noVictims.below, s.noVictims.until = top, now.Add(noVictimsFor)
		s.noVictims.why = placement.NoLowerPriority(len(nodes))
		s.notePreemption(todo, s.noVictims.why)
		return
	}
	region := d.MasterRegion()
	podsIn, withTerms := s.antiAffinityInput(ctx)
	onNodes := &placement.PodsOnNodes{PodsIn: podsIn, AntiAffinityPods: withTerms, NamespaceLabels: s.namespaceLabels}
	budgets := s.disruptionBudgets(ctx)
	for _, t := range todo[:min(len(todo), preemptAtMost)] {
		for i := range nodes {
			budgets.protect(nodes[i].Pods, t.priority)
		}
		p, ok := placement.Preempt(&t.request, t.priority, nodes, region, onNodes)
		s.notePreemptTried(t.id, now)
		if !ok {
			s.notePreemption([]preemptor{t}, p.Why)
			continue
		}
		n := &nodes[p.Node]
		victims := make([]*corev1.Pod, len(p.Victims))
		for i, v := range p.Victims {
			victims[i] = n.Pods[v].Pod
		}
		until := s.evict(ctx, t, n.Node.Name, victims, now)
		s.mu.Lock()
		if q, ok := s.pending[t.id]; ok {
			q.nominated, q.nominatedUntil, q.preemption = n.Node.Name, until, ""
			s.pending[t.id] = q
		}
		s.mu.Unlock()
		// The victims are taken, and the agent's free room: the next task counts neither
		// again, nor does a later pass count the room the task is nominated for.
		keep := n.Pods[:0:0]
		for i := range n.Pods {
			if !slices.Contains(p.Victims, i) {
				keep = append(keep, n.Pods[i])
			}
		}
		n.Pods, n.Free = keep, nil
		delete(s.rooms, n.Node.Name)
		budgets.spend(victims)
	}
}

// preemptors are the queued tasks a preemption pass weighs: queued preemptAfter, not
// waiting for the room of pods preempted for them, and not left out (preemptionNotTried,
// which tells them why). A nomination whose room is no longer kept is cleared
// (clearNomination).
func (s *Scheduler) preemptors(ctx context.Context, now time.Time) []preemptor {
	var todo []preemptor
	var lapsed []client.ObjectKey
	s.mu.Lock()
	for id, p := range s.pending {
		if now.Sub(p.queued) < preemptAfter || now.Before(p.nominatedUntil) {
			continue
		}
		if p.nominated != "" {
			// Its room was kept for it until nominatedUntil, and is no more.
			lapsed = append(lapsed, p.key)
			p.nominated = ""
			s.pending[id] = p
		}
		if why := preemptionNotTried(&p); why != "" {
			s.notePreemptionLocked(id, why)
			continue
		}
		todo = append(todo, preemptor{id: id, key: p.key, request: p.request, tried: p.preemptTried, priority: p.priority, queued: p.queued})
	}
	s.mu.Unlock()
	for _, key := range lapsed {
		s.clearNomination(ctx, key)
	}
	return todo
}

// clearNomination clears the status.nominatedNodeName of a pod whose room is no longer
// kept on that Node (its victims' room was not offered in time, or another framework
// took it), as kube-scheduler clears it when the pod is nominated no more: the pod no
// longer shows a Node it will not get. A pass that preempts for it again nominates it
// again.
func (s *Scheduler) clearNomination(ctx context.Context, key client.ObjectKey) {
	pod := &corev1.Pod{}
	if err := s.Client.Get(ctx, key, pod); err != nil || pod.Status.NominatedNodeName == "" {
		return
	}
	before := pod.DeepCopy()
	pod.Status.NominatedNodeName = ""
	if err := s.Client.Status().Patch(ctx, pod, client.MergeFrom(before)); err != nil {
		s.Log.V(1).Info("Could not clear a pod's nominated Node", "pod", key, "error", err.Error())
	}
}

// preemptionNotTried says why a queued task may have no pods preempted for it, as
// kube-scheduler words it for preemptionPolicy: Never, or placement for what it does
// not weigh; "" when it may.
func preemptionNotTried(p *pendingTask) string {
	if p.preemptNever {
		return placement.PreemptionPrefix + "not eligible due to preemptionPolicy=Never."
	}
	return placement.PreemptionNotTried(&p.request)
}

// notePreemption records why no pods are preempted for tasks, told with their
// explanation (tellWaiting tells those already told why they wait).
func (s *Scheduler) notePreemption(tasks []preemptor, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range tasks {
		s.notePreemptionLocked(t.id, why)
	}
}

// notePreemptTried records when a pass weighed pods to preempt for a task.
func (s *Scheduler) notePreemptTried(id string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pending[id]; ok {
		p.preemptTried = now
		s.pending[id] = p
	}
}

// notePreemptionLocked records why no pods are preempted for a task; s.mu is held.
func (s *Scheduler) notePreemptionLocked(id, why string) {
	if p, ok := s.pending[id]; ok && p.preemption != why {
		p.preemption = why
		s.pending[id] = p
	}
}

// preemptNodes are the cluster's agents' Nodes, each with the pods running there that
// are of lower priority than below (the most important task's: no pod of higher priority
// can be a victim), as placement weighs them, the host ports the Node's other pods
// hold (PortsKept), and what the agent's offers left at its last round, when lately
// (Free, freeRoom). Pods being deleted or ended are left out: they free their room
// already. A pod's role is its own, or, of a pod of none, the framework's only role. It
// is nil when the Nodes could not be listed.
func (s *Scheduler) preemptNodes(ctx context.Context, below int32, now time.Time) []placement.PreemptNode {
	var list corev1.NodeList
	if err := s.Client.List(ctx, &list, client.MatchingLabels{agentnode.LabelCluster: s.clusterName()}, client.UnsafeDisableDeepCopy); err != nil {
		s.Log.Info("Could not list the cluster's Nodes; preempting nothing", "error", err.Error())
		return nil
	}
	// A pod of no role took its resources of one of the framework's roles: of the one,
	// when there is one.
	var onlyRole string
	if roles := s.currentCluster().Spec.Framework.Roles; len(roles) == 1 {
		onlyRole = roles[0]
	}
	nodes := make([]placement.PreemptNode, 0, len(list.Items))
	for i := range list.Items {
		n := &list.Items[i]
		on, err := s.Tasks.PodsOnNode(ctx, n.Name)
		if err != nil {
			s.Log.Info("Could not list the pods of a Node; preempting none of them", "node", n.Name, "error", err.Error())
			continue
		}
		var running []placement.Running
		var kept []uint32
		for _, p := range on {
			if p.DeletionTimestamp != nil || podtask.PodTerminal(p) {
				continue
			}
			res, err := podtask.TaskResourcesFor(p)
			if err != nil {
				continue
			}
			r := podtask.RequestAmounts(res) // its terms are not weighed: only what it holds
			if podPriority(p) >= below {
				kept = append(kept, r.HostPorts...) // never a victim: its ports stay taken
				continue
			}
			var started time.Time
			if p.Status.StartTime != nil {
				started = p.Status.StartTime.Time
			}
			role := p.Annotations[podtask.AnnotationRole]
			if role == "" {
				role = onlyRole
			}
			running = append(running, placement.Running{Pod: p, Priority: podPriority(p), Started: started,
				CPUs: r.CPUs, MemMB: r.MemMB, DiskMB: r.DiskMB, GPUs: r.GPUs, HostPorts: r.HostPorts, Role: role})
		}
		node := *n
		node.Labels = agentnode.MatchLabels(n.Labels) // as the agent's offers read
		nodes = append(nodes, placement.PreemptNode{Node: &node, Pods: running, PortsKept: kept, Free: s.freeRoom(n.Name, now)})
	}
	return nodes
}

// agentRoom is what an agent's offers left at the last round they were in, believed
// until then (roomFresh).
type agentRoom struct {
	until time.Time
	rooms []placement.Room
}

// noteRooms keeps what a round's offers left of each agent (placement.Result.Left), in
// place of what the agent's offers left before, for roomFresh of the cluster mc.
func (s *Scheduler) noteRooms(left []placement.AgentRoom, mc *mesosv1alpha1.MesosCluster, now time.Time) {
	if s.rooms == nil {
		s.rooms = map[string]agentRoom{}
	}
	until := now.Add(roomFresh(mc))
	for _, a := range left {
		m := s.rooms[a.Node]
		m.until, m.rooms = until, append(m.rooms[:0], a.Rooms...)
		s.rooms[a.Node] = m
	}
	if len(s.rooms) > 2*len(left)+roomsKept {
		for node, m := range s.rooms {
			if now.After(m.until) {
				delete(s.rooms, node)
			}
		}
	}
}

// roomsKept is how many agents' rooms beyond twice a round's are kept before the stale
// ones are dropped.
const roomsKept = 1000

// freeRoom is what the Node's agent's offers left at its last round, nil when that was
// not lately (roomFresh): the agent's room as Mesos last offered it. Mesos offers an
// agent whose room is still free again once the filter of its decline ends, and no
// agent without room, so an agent not offered lately has none that is known.
func (s *Scheduler) freeRoom(node string, now time.Time) []placement.Room {
	m, ok := s.rooms[node]
	if !ok || now.After(m.until) {
		return nil
	}
	return m.rooms
}

// roomFresh is how long what an agent's offers left is believed: twice the filter of a
// decline (refuseSeconds), and a few allocation intervals.
func roomFresh(mc *mesosv1alpha1.MesosCluster) time.Duration {
	return 2*refuseFor(mc) + 5*time.Second
}

// passBudgets marks Protected the pods of a Node (its pods of lower priority than the
// task preempting) that PodDisruptionBudgets do not allow to be disrupted now, as
// kube-scheduler counts them on a Node: the most important first (higher priority, then
// started earlier), each takes one of the disruptions (status.disruptionsAllowed) of
// each budget that counts it (counts), up to the first it goes beyond, and is then
// protected. With one disruption allowed, one of two pods a budget counts may go, not
// both. The budgets are read from the API server at the first Node with pods of a pass:
// the manager keeps no cache of them, and a pass with pods to weigh is rare. Without them
// (the API server refused, an install without the permission), none is protected. The
// victims of each preemption of the pass spend the disruptions of the budgets that count
// them (spend): the next preemption of the pass does not count them again, where
// kube-scheduler, reading budgets whose status trails the deletions, would.
type passBudgets struct {
	list    func() []disruptionBudget
	budgets []disruptionBudget
	listed  bool
	allowed []int32
	order   []int
}

// disruptionBudgets is a pass's passBudgets, listed from the API server when first needed.
func (s *Scheduler) disruptionBudgets(ctx context.Context) *passBudgets {
	return &passBudgets{list: func() []disruptionBudget { return s.listDisruptionBudgets(ctx) }}
}

// protect marks the pods of one Node that may be victims of a task of priority below
// (those of lower priority) Protected, or not; only they take the budgets' disruptions,
// as kube-scheduler counts a preemptor's potential victims.
func (b *passBudgets) protect(pods []placement.Running, below int32) {
	if !slices.ContainsFunc(pods, func(p placement.Running) bool { return p.Priority < below }) {
		return
	}
	if !b.listed {
		b.budgets, b.listed = b.list(), true
	}
	if len(b.budgets) == 0 {
		return
	}
	b.allowed = b.allowed[:0]
	for i := range b.budgets {
		b.allowed = append(b.allowed, b.budgets[i].allowed)
	}
	b.order = b.order[:0]
	for i := range pods {
		b.order = append(b.order, i)
		pods[i].Protected = false
	}
	slices.SortStableFunc(b.order, func(x, y int) int { return moreImportant(&pods[x], &pods[y]) })
	for _, i := range b.order {
		if pods[i].Priority >= below {
			continue
		}
		for j := range b.budgets {
			if b.budgets[j].counts(pods[i].Pod) {
				if b.allowed[j]--; b.allowed[j] < 0 {
					// Protected: the pod takes no more of the other budgets.
					pods[i].Protected = true
					break
				}
			}
		}
	}
}

// spend takes the disruptions a preemption's victims make from the budgets that count them.
func (b *passBudgets) spend(victims []*corev1.Pod) {
	for _, v := range victims {
		for j := range b.budgets {
			if b.budgets[j].counts(v) {
				b.budgets[j].allowed--
			}
		}
	}
}

// counts says whether a budget counts a pod's disruption, as kube-scheduler's preemption
// does: its selector, not empty, matches the pod, which has labels and is not counted as
// disrupted already.
func (b *disruptionBudget) counts(p *corev1.Pod) bool {
	if b.namespace != p.Namespace || len(p.Labels) == 0 || b.selector.Empty() || !b.selector.Matches(labels.Set(p.Labels)) {
		return false
	}
	_, disrupted := b.disrupted[p.Name]
	return !disrupted
}

// moreImportant orders pods as kube-scheduler's MoreImportantPod: higher priority first,
// then the one started earlier; one not started yet counts as started now, last.
func moreImportant(a, b *placement.Running) int {
	if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
		return c
	}
	if a.Started.IsZero() != b.Started.IsZero() {
		if a.Started.IsZero() {
			return 1
		}
		return -1
	}
	return a.Started.Compare(b.Started)
}

// disruptionBudget is what preemption reads of a PodDisruptionBudget.
type disruptionBudget struct {
	namespace string
	selector  labels.Selector
	allowed   int32
	disrupted map[string]metav1.Time
}

// listDisruptionBudgets lists the budgets for disruptionBudgets: nil when they cannot be.
func (s *Scheduler) listDisruptionBudgets(ctx context.Context) []disruptionBudget {
	var list policyv1.PodDisruptionBudgetList
	if err := indexer.Uncached(s.APIReader, s.Client).List(ctx, &list); err != nil {
		s.Log.Info("Could not list the PodDisruptionBudgets; preempting as if there were none", "error", err.Error())
		return nil
	}
	var budgets []disruptionBudget
	for i := range list.Items {
		b := &list.Items[i]
		if b.Spec.Selector == nil {
			continue
		}
		if sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector); err == nil {
			budgets = append(budgets, disruptionBudget{namespace: b.Namespace, selector: sel, allowed: b.Status.DisruptionsAllowed,
				disrupted: b.Status.DisruptedPods})
		}
	}
	return budgets
}

// podPriority is a pod's priority, 0 when it has none (as kube-scheduler takes it).
func podPriority(p *corev1.Pod) int32 {
	if p.Spec.Priority != nil {
		return *p.Spec.Priority
	}
	return 0
}

// evict preempts the victims for task t on a Node: each gets the DisruptionTarget
// condition kube-scheduler gives a pod it preempts and an event, and is deleted, this
// very pod (by UID), with its own grace period; t's pod is nominated to the Node and
// told. It returns until when t waits for the room: past the longest grace period of
// the victims, and nominationMargin.
func (s *Scheduler) evict(ctx context.Context, t preemptor, node string, victims []*corev1.Pod, now time.Time) time.Time {
	log := s.Log.WithValues("pod", t.key, "node", node)
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	for _, v := range victims {
		if g := v.Spec.TerminationGracePeriodSeconds; g != nil && *g > grace {
			grace = *g
		}
		why := fmt.Sprintf("Preempted by pod %s/%s (priority %d) on Node %s", t.key.Namespace, t.key.Name, t.priority, node)
		patched := v.DeepCopy()
		podtask.SetPodCondition(&patched.Status, corev1.DisruptionTarget, corev1.ConditionTrue, corev1.PodReasonPreemptionByScheduler,
			fmt.Sprintf("%s: preempting to accommodate a higher priority pod", s.clusterName()))
		if err := s.Client.Status().Patch(ctx, patched, client.StrategicMergeFrom(v)); err != nil {
			log.Info("Could not set the DisruptionTarget condition of a pod to preempt; deleting it anyway", "victim", client.ObjectKeyFromObject(v), "error", err.Error())
		}
		if s.Recorder != nil {
			s.Recorder.Eventf(v, nil, corev1.EventTypeNormal, ReasonPreempted, "Preempting", "%s", why)
		}
		if err := s.Client.Delete(ctx, v, client.Preconditions{UID: &v.UID}); client.IgnoreNotFound(err) != nil {
			log.Info("Could not delete a pod to preempt", "victim", client.ObjectKeyFromObject(v), "error", err.Error())
		}
	}
	log.Info("Preempting pods of lower priority for a pod that fits nowhere", "victims", len(victims))
	pod := &corev1.Pod{}
	if err := s.Client.Get(ctx, t.key, pod); err == nil && pod.Status.NominatedNodeName != node {
		before := pod.DeepCopy()
		pod.Status.NominatedNodeName = node
		if err := s.Client.Status().Patch(ctx, pod, client.MergeFrom(before)); err != nil {
			log.Info("Could not nominate the pod to the Node of its victims", "error", err.Error())
		}
		if s.Recorder != nil {
			s.Recorder.Eventf(pod, nil, corev1.EventTypeNormal, ReasonPreempting, "Preempting",
				"Deleting %d pod(s) of lower priority on Node %s to make room", len(victims), node)
		}
	}
	return now.Add(time.Duration(grace)*time.Second + nominationMargin)
}
