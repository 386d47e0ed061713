package controllers

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/metrics"
	"github.com/k8sm/k8sm/internal/podtask"
	"github.com/k8sm/k8sm/internal/scheduler"
)

const (
	// nodeLeaseNamespace holds the Leases that say a Node is alive.
	nodeLeaseNamespace = "kube-node-lease"
	// defaultLeaseDuration is a Node Lease's duration, as a kubelet's; leases are
	// renewed at a quarter of it.
	defaultLeaseDuration = 40 * time.Second
	// nodeStatusRefresh is how often an unchanged Node status is written anyway.
	nodeStatusRefresh = 5 * time.Minute
)

// AgentNodeReconciler keeps one Node per Mesos agent of each MesosCluster: created when
// the agent is first seen, kept Ready with a Lease while the framework knows it, made
// Unknown when it goes, and deleted after GoneGracePeriod.
type AgentNodeReconciler struct {
	client.Client
	// Registry holds the clusters' drivers, whose agents the Nodes stand for. Required.
	Registry *scheduler.Registry
	// GoneGracePeriod is how long the Node of an agent that left is kept. Default 5m.
	GoneGracePeriod time.Duration
	// LeaseDuration is the Node Leases' duration; they are renewed at a quarter of it.
	// Default 40s, as a kubelet's (tests shorten it with the node monitor's grace).
	LeaseDuration time.Duration
	// Now is the clock (tests replace it).
	Now func() time.Time
	// APIReader reads a Lease no renewal has returned yet, from the API server: the
	// manager keeps no cache of kube-node-lease, where every kubelet of the cluster
	// renews its own Lease every 10 s. Nil reads through Client (tests).
	APIReader client.Reader
	// Recorder records events for people; optional.
	Recorder events.EventRecorder

	// leases are the agents' Node Leases as their last write returned them (leases.go).
	leases leaseCopies
	// takenTold are the Nodes of other clusters an agent's Node name maps to that this
	// process told of (otherCluster), by Node, owner and cluster.
	takenTold sync.Map
	// unlabeledTold is what of each Node's agent this process told has no label
	// (warnUnlabeled), by Node.
	unlabeledTold sync.Map
	// unsubscribed is when a pass first found each cluster's framework without a
	// subscription, by cluster name (unsubscribedSince).
	unsubscribed sync.Map
	// heard replaces kubeletAPIHeard's scheduler (tests).
	heard func(cluster string) map[string]int32
}

// Reconcile brings the Nodes of one MesosCluster in line with its driver's agents.
func (r *AgentNodeReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	// The cache's own Nodes, to read only (each write below copies its Node first): a
	// copy of every agent's Node would stay live through the whole paced pass.
	var nodes corev1.NodeList
	if err := r.List(ctx, &nodes, client.MatchingLabels{agentnode.LabelCluster: req.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, err
	}

	mc := &mesosv1alpha1.MesosCluster{}
	if err := r.Get(ctx, req.NamespacedName, mc); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		// The cluster is gone: so are its Nodes.
		r.subscribedAgain(req.Name) // nothing to wait for any more
		for i := range nodes.Items {
			if err := r.deleteNode(ctx, &nodes.Items[i]); err != nil {
				return ctrl.Result{}, err
			}
		}
		return ctrl.Result{}, nil
	}

	var status framework.Status
	if d := r.Registry.Driver(req.Name); d != nil {
		status = d.Status()
	}
	return ctrl.Result{RequeueAfter: r.pass(ctx, mc, nodes.Items, status, r.now())}, nil
}

// pass brings the cluster's Nodes in line with what its driver knows, and says when the
// next pass is due: within a quarter of the Lease duration, whatever failed. A Node or
// Lease that cannot be written is logged and counted (nodeFailed) and holds up no other:
// were the error returned, controller-runtime would retry the whole cluster with its
// growing backoff (up to 1000 s) instead, while no Lease of the cluster was renewed.
func (r *AgentNodeReconciler) pass(ctx context.Context, mc *mesosv1alpha1.MesosCluster, nodes []corev1.Node, status framework.Status, now time.Time) time.Duration {
	if !status.Subscribed && mc.Status.FrameworkID != "" {
		since := r.unsubscribedSince(mc.Name, now)
		switch {
		case driverSaysRemoved(status):
			r.frameworkRemovedNodes(ctx, mc, nodes, now)
		case now.Sub(since) < outageGrace:
			r.outage(ctx, mc, nodes, now, since, true)
			return max(min(outageGrace-r.now().Sub(since), r.leaseDuration()/4), 100*time.Millisecond)
		default:
			r.outage(ctx, mc, nodes, now, since, false)
		}
		return r.leaseDuration() / 4
	}
	r.subscribedAgain(mc.Name)
	kept, requeue := nodesToKeep(mc.Name, nodes, status, now)
	existing := make(map[string]bool, len(nodes))
	for i := range nodes {
		existing[nodes[i].Name] = true
	}
	agents := liveAgents(mc, status, r.kubeletAPIHeard(mc.Name), existing, now)
	return min(requeue, r.syncNodes(ctx, mc, agents, nodes, status, kept, now))
}

// syncNodes writes the Nodes of the agents the driver knows, keeps the Nodes kept says as
// they are (keepNodes), and settles the Nodes of agents that left: Ready=Unknown at
// once, deleted after the grace period while subscribed. A write that fails holds up
// none of the others (nodeFailed). It returns when the next pass is due.
func (r *AgentNodeReconciler) syncNodes(ctx context.Context, mc *mesosv1alpha1.MesosCluster, agents []agentnode.Agent, nodes []corev1.Node, status framework.Status, kept keptNodes, now time.Time) (requeue time.Duration) {
	log := ctrl.LoggerFrom(ctx)
	subscribed, age := status.Subscribed, r.renewAge(status)
	names := agentNodeNames(mc.Name, agents)
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		seen[name] = true
	}
	r.ensureNodes(ctx, mc, agents, names, subscribed, now, age)
	grace := r.GoneGracePeriod
	if grace == 0 {
		grace = 5 * time.Minute
	}
	requeue = r.leaseDuration() / 4
	var keep []*corev1.Node
	for i := range nodes {
		n := &nodes[i]
		if seen[n.Name] {
			continue
		}
		if kept.has(n.Name) {
			keep = append(keep, n)
			continue
		}
		ready := agentnode.ReadyCondition(n)
		switch {
		case ready == nil || ready.Status != corev1.ConditionUnknown:
			r.nodeFailed(ctx, mc.Name, n.Name, r.markGone(ctx, n, now))
		case subscribed && now.Sub(ready.LastTransitionTime.Time) >= grace:
			waiting, err := r.tasksMayComeBack(ctx, n.Name)
			switch {
			case err != nil:
				r.nodeFailed(ctx, mc.Name, n.Name, err)
			case waiting > 0:
				log.V(1).Info("Keeping the Node of an agent that left: tasks of its pods may come back with it", "node", n.Name, "goneSince", ready.LastTransitionTime, "pods", waiting)
			default:
				log.Info("Deleting the Node of an agent that left", "node", n.Name, "goneSince", ready.LastTransitionTime)
				r.nodeFailed(ctx, mc.Name, n.Name, r.deleteNode(ctx, n))
			}
		default:
			if left := grace - now.Sub(ready.LastTransitionTime.Time); left < requeue {
				requeue = max(left, time.Second)
			}
		}
	}
	r.keepNodes(ctx, mc, keep, kept, subscribed, now, age)
	return requeue
}

// nodeFailed logs and counts a failed write of a Node or its Lease (nothing when err is
// nil). The pass goes on: the next one, within a quarter of the Lease duration, tries
// again, as a kubelet retries its status and Lease on its own schedule.
func (r *AgentNodeReconciler) nodeFailed(ctx context.Context, cluster, node string, err error) {
	if err == nil {
		return
	}
	ctrl.LoggerFrom(ctx).Error(err, "Could not write an agent's Node or its Lease; the next pass tries again", "node", node)
	metrics.Cluster(cluster).NodeWriteFailed()
}

// outage keeps the Nodes of a cluster whose framework cannot reach the master Ready,
// with their Leases, until the framework's failover timeout (see agentnode.Outage): an
// outage of the master, or of this manager, must not evict the pods Mesos keeps running.
// Nodes are neither made nor removed meanwhile: who comes and goes is known again once
// the framework subscribes. A brief outage, one still in the outageGrace, renews the
// Leases only (at renewAge's settling age) and writes no Node: the Nodes say the master
// is unreachable only if the outage outlasts the grace.
func (r *AgentNodeReconciler) outage(ctx context.Context, mc *mesosv1alpha1.MesosCluster, nodes []corev1.Node, now, since time.Time, brief bool) {
	limit := failoverTimeout(mc)
	r.readLeases(ctx, nodeNames(nodes))
	forEach(ctx, len(nodes), nodePace(len(nodes), r.leaseDuration()), func(i int) {
		r.nodeFailed(ctx, mc.Name, nodes[i].Name, r.outageNode(ctx, &nodes[i], now, since, limit, brief))
	})
}

// outageNode keeps one Node Ready through an outage that began at since, its Lease
// renewed; in a brief outage it renews the Lease alone (see outage).
func (r *AgentNodeReconciler) outageNode(ctx context.Context, n *corev1.Node, now, since time.Time, limit time.Duration, brief bool) error {
	st, ok := agentnode.Outage(n, metav1.NewTime(now), metav1.NewTime(since), limit)
	if !ok {
		if ready := agentnode.ReadyCondition(n); ready != nil && ready.Status == corev1.ConditionTrue {
			return r.markGone(ctx, n, now)
		}
		return nil
	}
	if brief {
		return r.renewLease(ctx, n, now, r.settlingAge())
	}
	var err error
	if nodeStatusChanged(&n.Status, &st, now) {
		before := n
		n = n.DeepCopy()
		n.Status = st
		if err = r.Status().Patch(ctx, n, client.MergeFrom(before)); err != nil {
			n = before
		}
	}
	// Renewed even when the status write failed, as a kubelet renews its Lease.
	return errors.Join(err, r.renewLease(ctx, n, now, r.leaseDuration()/4))
}

// nodeWorkers is how many agents' Nodes and Leases a pass writes at once. One write
// after another, a pass over 1,000 agents outlasted the Leases' 40 s while the API
// server was busy (a burst of pods): no Lease was renewed meanwhile, and a node
// lifecycle controller would have found every Node of the cluster unreachable.
const nodeWorkers = 16

// minNodePace is the fewest agents a pass handles per second, however small the cluster.
const minNodePace = 50

// nodePace spreads a pass over n agents across an eighth of the Lease duration (5 s of
// 40 s), at least minNodePace a second: all at once, the Leases of 1,000 agents took the
// manager's whole API budget for a moment every renewal, and the pods' bindings and
// status writes waited behind them; kubelets renew theirs each on its own.
func nodePace(n int, leaseDuration time.Duration) *rate.Limiter {
	perSecond := max(float64(n)/(leaseDuration/8).Seconds(), minNodePace)
	return rate.NewLimiter(rate.Limit(perSecond), 1)
}

// ensureNodes creates or updates the Nodes of live agents (names[i] is agents[i]'s Node)
// and renews their Leases, nodeWorkers at a time at nodePace. An agent whose write fails
// holds up no other agent's (nodeFailed).
func (r *AgentNodeReconciler) ensureNodes(ctx context.Context, mc *mesosv1alpha1.MesosCluster, agents []agentnode.Agent, names []string, subscribed bool, now time.Time, age time.Duration) {
	if subscribed {
		r.readLeases(ctx, names)
	}
	forEach(ctx, len(agents), nodePace(len(agents), r.leaseDuration()), func(i int) {
		r.nodeFailed(ctx, mc.Name, names[i], r.ensureNode(ctx, mc, agents[i], subscribed, now, age))
	})
}

// agentNodeNames are the names of the agents' Nodes, in the agents' order.
func agentNodeNames(cluster string, agents []agentnode.Agent) []string {
	names := make([]string, len(agents))
	for i, a := range agents {
		names[i] = agentnode.NodeName(cluster, a.Hostname, a.Port)
	}
	return names
}

// forEach calls fn for each of 0 to n-1 as pace allows, up to nodeWorkers at once, and
// returns once all calls returned; it stops starting new calls once ctx is done.
func forEach(ctx context.Context, n int, pace *rate.Limiter, fn func(i int)) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, nodeWorkers)
	for i := range n {
		if pace.Wait(ctx) != nil {
			break
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

func (r *AgentNodeReconciler) leaseDuration() time.Duration {
	if r.LeaseDuration > 0 {
		return r.LeaseDuration
	}
	return defaultLeaseDuration
}

func (r *AgentNodeReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// ensureNode creates or updates the Node of a live agent and renews its Lease. The Lease
// is renewed even when a write of the Node failed, as a kubelet renews its Lease whatever
// becomes of its status writes: a Node the API server refuses to update (a webhook, a
// quota, a 429) must not also go NotReady for it.
func (r *AgentNodeReconciler) ensureNode(ctx context.Context, mc *mesosv1alpha1.MesosCluster, a agentnode.Agent, subscribed bool, now time.Time, age time.Duration) error {
	desired := agentnode.Desired(mc.Name, a)
	node, err := r.agentNode(ctx, mc, desired)
	if err != nil || r.otherCluster(ctx, mc, node, a) {
		return err
	}
	node, err = r.writeNode(ctx, node, desired, a, subscribed, now)
	if node.UID != "" {
		r.warnUnlabeled(node, a)
	}
	if !subscribed || node.UID == "" {
		return err
	}
	return errors.Join(err, r.renewLease(ctx, node, now, age))
}

// agentNode is the agent's Node: the cache's own, to read only (copied before a write:
// most passes write nothing, and the copies of every agent's Node each pass were a
// tenth of the manager's allocations at 1,000 agents), or desired, created. One the
// create finds made meanwhile (the cache lags behind) is read from the API server: a
// Lease is owned by the Node's UID, which desired does not have.
func (r *AgentNodeReconciler) agentNode(ctx context.Context, mc *mesosv1alpha1.MesosCluster, desired *corev1.Node) (*corev1.Node, error) {
	node := &corev1.Node{}
	err := r.Get(ctx, client.ObjectKeyFromObject(desired), node, client.UnsafeDisableDeepCopy)
	if !apierrors.IsNotFound(err) {
		return node, err
	}
	if err := controllerutil.SetOwnerReference(mc, desired, r.Scheme()); err != nil {
		return nil, err
	}
	if err := r.Create(ctx, desired); !apierrors.IsAlreadyExists(err) {
		return desired, err
	}
	node = &corev1.Node{}
	if err := indexer.Uncached(r.APIReader, r.Client).Get(ctx, client.ObjectKeyFromObject(desired), node); err != nil {
		return nil, err
	}
	return node, nil
}

// writeNode brings an agent's Node's metadata and status up to date. It returns the Node
// as last written, or as read when a write failed.
func (r *AgentNodeReconciler) writeNode(ctx context.Context, node, desired *corev1.Node, a agentnode.Agent, subscribed bool, now time.Time) (*corev1.Node, error) {
	node, err := r.writeNodeMeta(ctx, node, desired, a)
	if apierrors.IsConflict(err) {
		// The taint list was read from a cache behind the Node (see writeNodeMeta): no
		// failure, the next pass writes it from the Node as it is. The status goes on,
		// from the Node as read: it is a subresource of its own, and its heartbeat must not
		// wait for the cache.
		ctrl.LoggerFrom(ctx).V(1).Info("The Node changed since it was read; its labels and taints are written at the next pass", "node", node.Name)
	} else if err != nil {
		return node, err
	}
	a.KubeletAPI.Advertised = node.Status.DaemonEndpoints.KubeletEndpoint.Port
	st := agentnode.Status(a, subscribed, metav1.NewTime(now), node.Status.Conditions)
	if nodeStatusChanged(&node.Status, &st, now) {
		before := node
		node = node.DeepCopy()
		node.Status = st
		if err := r.Status().Patch(ctx, node, client.MergeFrom(before)); err != nil {
			return before, err
		}
	}
	return node, nil
}

// writeNodeMeta writes an agent's Node's labels, agent id annotation and taints where they
// changed. It returns the Node as written, or as read when the write failed: a conflict
// when the Node lacks the taint and changed since it was read.
func (r *AgentNodeReconciler) writeNodeMeta(ctx context.Context, node, desired *corev1.Node, a agentnode.Agent) (*corev1.Node, error) {
	if nodeMetaChanged(node, desired, a) {
		before := node
		node = node.DeepCopy()
		if node.Labels == nil {
			node.Labels = map[string]string{}
		}
		maps.Copy(node.Labels, desired.Labels)
		for _, k := range staleAttributeLabels(node, desired) {
			delete(node.Labels, k)
		}
		if node.Annotations == nil {
			node.Annotations = map[string]string{}
		}
		node.Annotations[agentnode.AnnotationAgentID] = a.ID
		patch := client.MergeFrom(before)
		if !hasTaint(node.Spec.Taints, desired.Spec.Taints[0]) || maintenanceTaintWrong(node, a) {
			if !hasTaint(node.Spec.Taints, desired.Spec.Taints[0]) {
				node.Spec.Taints = append(node.Spec.Taints, desired.Spec.Taints[0])
			}
			setMaintenanceTaint(node, a)
			// A merge patch writes the whole taint list: from a cache that has not seen
			// the node lifecycle controller's latest taint (unreachable, not-ready), it
			// would remove it. With the resourceVersion it fails instead, and the next
			// pass writes it again from the Node as it is.
			patch = client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})
		}
		if err := r.Patch(ctx, node, patch); err != nil {
			return before, err
		}
	}
	return node, nil
}

// nodeStatusChanged says whether a Node status must be written: something other than
// heartbeat times changed, or the last heartbeat is older than nodeStatusRefresh. It
// compares field by field (every agent's Node is compared at every pass: by reflection
// it was 1% of the manager's CPU at 1,000 agents); lists and maps nil or empty are the
// same, as equality.Semantic has them.
func nodeStatusChanged(old, desired *corev1.NodeStatus, now time.Time) bool {
	var last time.Time
	for _, c := range old.Conditions {
		if c.Type == corev1.NodeReady {
			last = c.LastHeartbeatTime.Time
		}
	}
	return !sameResources(old.Capacity, desired.Capacity) ||
		!sameResources(old.Allocatable, desired.Allocatable) ||
		!slices.EqualFunc(old.Conditions, desired.Conditions, sameButHeartbeat) ||
		!slices.Equal(old.Addresses, desired.Addresses) ||
		old.DaemonEndpoints != desired.DaemonEndpoints ||
		old.NodeInfo.KubeletVersion != desired.NodeInfo.KubeletVersion ||
		now.Sub(last) >= nodeStatusRefresh
}

// sameResources says whether two resource lists hold the same quantities.
func sameResources(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for name, q := range a {
		if r, ok := b[name]; !ok || q.Cmp(r) != 0 {
			return false
		}
	}
	return true
}

// sameButHeartbeat says whether two Node conditions differ in their heartbeat time at
// most.
func sameButHeartbeat(a, b corev1.NodeCondition) bool {
	return a.Type == b.Type && a.Status == b.Status && a.Reason == b.Reason && a.Message == b.Message &&
		a.LastTransitionTime.Equal(&b.LastTransitionTime)
}

// nodeMetaChanged says whether an agent's Node lacks a label, the agent id annotation or
// the taint it should have, or has the maintenance taint wrong (maintenanceTaintWrong).
func nodeMetaChanged(node, desired *corev1.Node, a agentnode.Agent) bool {
	for k, v := range desired.Labels {
		if have, ok := node.Labels[k]; !ok || have != v {
			return true
		}
	}
	if len(staleAttributeLabels(node, desired)) > 0 {
		return true
	}
	if have, ok := node.Annotations[agentnode.AnnotationAgentID]; !ok || have != a.ID {
		return true
	}
	return !hasTaint(node.Spec.Taints, desired.Spec.Taints[0]) || maintenanceTaintWrong(node, a)
}

// staleAttributeLabels are the Node's attribute labels (agentnode.LabelAttributePrefix)
// its agent no longer has: an attribute dropped from the agent must not keep matching
// node selectors and affinities. Other labels are left to whoever set them.
func staleAttributeLabels(node, desired *corev1.Node) []string {
	var out []string
	for k := range node.Labels {
		if _, ok := desired.Labels[k]; !ok && strings.HasPrefix(k, agentnode.LabelAttributePrefix) {
			out = append(out, k)
		}
	}
	return out
}

func hasTaint(taints []corev1.Taint, t corev1.Taint) bool {
	for _, x := range taints {
		if x.Key == t.Key && x.Effect == t.Effect && x.Value == t.Value {
			return true
		}
	}
	return false
}

// markGone sets the Node of an agent that left to Ready=Unknown; n is not written to.
func (r *AgentNodeReconciler) markGone(ctx context.Context, n *corev1.Node, now time.Time) error {
	a := agentnode.Agent{ID: n.Annotations[agentnode.AnnotationAgentID]}
	return r.writeConditions(ctx, n, agentnode.Status(a, false, metav1.NewTime(now), n.Status.Conditions).Conditions[0])
}

// writeConditions writes some of a Node's conditions (Ready, say), in one write (a merge
// patch writes the whole list), its other conditions as they are; n is not written to. A
// Node deleted meanwhile (by someone else: the cache still has it) is gone already.
func (r *AgentNodeReconciler) writeConditions(ctx context.Context, n *corev1.Node, conds ...corev1.NodeCondition) error {
	before := n
	n = n.DeepCopy()
	for _, cond := range conds {
		replaced := false
		for i := range n.Status.Conditions {
			if n.Status.Conditions[i].Type == cond.Type {
				n.Status.Conditions[i], replaced = cond, true
			}
		}
		if !replaced {
			n.Status.Conditions = append(n.Status.Conditions, cond)
		}
	}
	if err := r.Status().Patch(ctx, n, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// tasksMayComeBack counts the pods bound to a Node whose tasks may come back with its
// agent (podtask.MayComeBack): until they end (their agent's return, or the
// unreachable timeout fails them), the Node stays.
func (r *AgentNodeReconciler) tasksMayComeBack(ctx context.Context, node string) (int, error) {
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.MatchingFields{indexer.PodNodeName: node}, client.UnsafeDisableDeepCopy); err != nil {
		return 0, err
	}
	n := 0
	for i := range pods.Items {
		p := &pods.Items[i]
		if podtask.PodTerminal(p) {
			continue
		}
		mt := &mesosv1alpha1.MesosTask{}
		switch err := r.Get(ctx, client.ObjectKeyFromObject(p), mt, client.UnsafeDisableDeepCopy); {
		case apierrors.IsNotFound(err):
			mt = nil
		case err != nil:
			return 0, err
		}
		if podtask.MayComeBack(p, mt) {
			n++
		}
	}
	return n, nil
}

func (r *AgentNodeReconciler) deleteNode(ctx context.Context, n *corev1.Node) error {
	if err := r.Delete(ctx, n); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: nodeLeaseNamespace, Name: n.Name}}
	r.leases.forget(n.Name)
	if err := r.Delete(ctx, lease); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// SetupWithManager registers the reconciler: it runs per MesosCluster, on driver
// changes and on changes to the cluster's Nodes.
func (r *AgentNodeReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Registry == nil {
		return errors.New("the agent Node reconciler needs the Registry")
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&mesosv1alpha1.MesosCluster{}).
		WatchesRawSource(source.Channel(r.Registry.Listen(), &handler.EnqueueRequestForObject{})).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []ctrl.Request {
			if c, ok := o.GetLabels()[agentnode.LabelCluster]; ok {
				return []ctrl.Request{{NamespacedName: client.ObjectKey{Name: c}}}
			}
			return nil
		})).
		// A Node that opens to pods has its cluster's waiting pods placed again (nodeOpened).
		Watches(&corev1.Node{}, handler.Funcs{UpdateFunc: r.nodeOpened}).
		// Several clusters at once, each pass at its own pace: a pass over 250 agents or
		// more lasts an eighth of the Lease duration (nodePace), and one cluster after
		// another, ten such renewed each Lease every 50 s, kube-controller-manager's grace.
		// 8 keep up with some 24 such clusters, as one did with 3.
		WithOptions(controller.Options{MaxConcurrentReconciles: 8}).
		Named("agentnode").
		Complete(r)
}
