package placement

import (
	"cmp"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/k8sm/k8sm/internal/agentnode"
)

// Running is a pod of the cluster running on an agent's Node, as preemption weighs it:
// what it holds there, its priority, and when it started (of equals, the one that ran
// the shortest goes first).
type Running struct {
	// Pod is the pod, for the caller to act on: placement reads only its UID, by which
	// the pods that must go (portHolders, PodsOnNodes) are named.
	Pod      *corev1.Pod
	Priority int32
	Started  time.Time
	// CPUs, MemMB, DiskMB and GPUs are what its task holds, as Request's.
	CPUs, MemMB, DiskMB, GPUs float64
	// Protected: a PodDisruptionBudget allows no disruption of it now. Such a pod goes
	// only when the others of lower priority do not make room.
	Protected bool
	// HostPorts are the agent's ports its task holds (its containers' hostPorts).
	HostPorts []uint32
}

// PreemptNode is one agent's Node and the pods of the cluster running there.
type PreemptNode struct {
	// Node is the agent's Node (to read only): its labels as an offer of the agent reads
	// them (agentnode.MatchLabels), taints, cordon and Ready condition.
	Node *corev1.Node
	Pods []Running
	// PortsKept are the host ports of the Node's other pods, those that are never
	// victims (of no lower priority than the task preempting): a request that needs one
	// of them does not go there.
	PortsKept []uint32
}

// Preemption is where a request can go once some pods of lower priority are gone.
type Preemption struct {
	// Node is the index of the Node in the input, Victims the indexes of its pods.
	Node    int
	Victims []int
}

// CanPreempt says whether a request may have pods preempted for it: one without a role or
// spread constraints, which the pods that stay would still hold it to (they are not
// weighed here), and not bound to a Node. Host ports and required pod affinity and
// anti-affinity are weighed (PodsOnNodes): the pods that hold the ports or keep the
// request away are victims, and those its affinity needs stay.
func CanPreempt(r *Request) bool {
	return r.Node == "" && r.Role == "" && len(r.Spread) == 0
}

// portHolders are the UIDs of the pods on a Node that hold one of a request's host
// ports; kept says that a pod that is never a victim holds one. A port no pod of the
// cluster holds there is taken to be free: what other frameworks' tasks hold is not
// known until the agent offers.
func portHolders(r *Request, n *PreemptNode) (uids []string, kept bool) {
	if len(r.HostPorts) == 0 {
		return nil, false
	}
	for _, port := range r.HostPorts {
		if slices.Contains(n.PortsKept, port) {
			return nil, true
		}
	}
	for i := range n.Pods {
		p := &n.Pods[i]
		if slices.ContainsFunc(p.HostPorts, func(port uint32) bool { return slices.Contains(r.HostPorts, port) }) && p.Pod != nil {
			uids = append(uids, string(p.Pod.UID))
		}
	}
	return uids, false
}

// PodsOnNodes is what Preempt reads of the pods on Nodes for required pod affinity and
// anti-affinity, as a round reads it (Input.PodsIn, AntiAffinityPods, NamespaceLabels):
// the pods the request's own terms count, and the pods whose terms count the request.
type PodsOnNodes struct {
	PodsIn           func(namespace string) []PlacedPod
	AntiAffinityPods []PlacedPod
	NamespaceLabels  func(namespace string) map[string]string

	// in and nsLabels keep what was read, for the next Node and request.
	in       readOnce[[]PlacedPod]
	nsLabels readOnce[map[string]string]
}

func (o *PodsOnNodes) podsIn(namespace string) []PlacedPod {
	o.in.read = o.PodsIn
	return o.in.get(namespace)
}

func (o *PodsOnNodes) labelsOf(namespace string) labels.Set {
	o.nsLabels.read = o.NamespaceLabels
	return o.nsLabels.get(namespace)
}

// blockers are the pods that keep one request out of topology domains by required
// anti-affinity, as a round's closures would (kube-scheduler's InterPodAffinity filter),
// by topology key and domain value: those its own terms count, and those whose own terms
// count it. A pod being deleted is taken as gone, and so is the request's own pod.
type blockers map[string]map[string][]*PlacedPod

// blockersOf reads the pods once for a request, so that each Node is a lookup.
func (o *PodsOnNodes) blockersOf(r *Request) blockers {
	if o == nil || len(r.AntiAffinity) == 0 && len(o.AntiAffinityPods) == 0 {
		return nil
	}
	b := blockers{}
	add := func(key, value string, p *PlacedPod) {
		if b[key] == nil {
			b[key] = map[string][]*PlacedPod{}
		}
		b[key][value] = append(b[key][value], p)
	}
	for i := range r.AntiAffinity {
		t := &r.AntiAffinity[i]
		for _, ns := range t.namespacesListed() {
			pods := o.podsIn(ns)
			for j := range pods {
				p := &pods[j]
				if v, ok := p.NodeLabels[t.TopologyKey]; ok && !p.Terminating && p.UID != r.PodUID && t.counts(p.Namespace, p.Labels, o.labelsOf) {
					add(t.TopologyKey, v, p)
				}
			}
		}
	}
	for i := range o.AntiAffinityPods {
		p := &o.AntiAffinityPods[i]
		if p.Terminating || p.UID == r.PodUID {
			continue
		}
		for j := range p.AntiAffinity {
			t := &p.AntiAffinity[j]
			if v, ok := p.NodeLabels[t.TopologyKey]; ok && t.counts(r.Namespace, r.Labels, o.labelsOf) {
				add(t.TopologyKey, v, p)
			}
		}
	}
	return b
}

// on are the UIDs of the blockers in a Node's domains, which must go for the request to
// go there; elsewhere says that one of them is on another Node of a domain, so that
// preempting on this Node alone would not let the request in.
func (b blockers) on(node *corev1.Node) (uids []string, elsewhere bool) {
	for key, byValue := range b {
		v, ok := node.Labels[key]
		if !ok {
			continue
		}
		for _, p := range byValue[v] {
			if p.NodeName != node.Name {
				return nil, true
			}
			uids = append(uids, p.UID)
		}
	}
	return uids, false
}

// needed are, for a request with required pod affinity, the pods all its terms count,
// per term by domain value, as a round's closures count them (affinityClosures): the
// request goes only where, for each term, such a pod is in the Node's domain. first: there
// is none anywhere and the request's own pod is counted by all its terms, so that any
// Node with each term's key will do (kube-scheduler's first pod of a group). A pod being
// deleted is not counted: it will not be there.
type needed struct {
	terms   []PodTerm
	byValue []map[string][]*PlacedPod
	first   bool
}

// neededBy reads the pods once for a request; nil when it has no pod affinity.
func (o *PodsOnNodes) neededBy(r *Request) *needed {
	if len(r.PodAffinity) == 0 {
		return nil
	}
	n := &needed{terms: r.PodAffinity, byValue: make([]map[string][]*PlacedPod, len(r.PodAffinity))}
	pairs := 0
	nsLabels := func(string) labels.Set { return nil }
	if o != nil {
		nsLabels = o.labelsOf
		for _, ns := range affinityNamespaces(n.terms) {
			pods := o.podsIn(ns)
			for j := range pods {
				p := &pods[j]
				if p.Terminating || p.UID == r.PodUID || !countsAll(n.terms, p.Namespace, p.Labels, nsLabels) {
					continue
				}
				for i := range n.terms {
					if v, ok := p.NodeLabels[n.terms[i].TopologyKey]; ok {
						if n.byValue[i] == nil {
							n.byValue[i] = map[string][]*PlacedPod{}
						}
						n.byValue[i][v] = append(n.byValue[i][v], p)
						pairs++
					}
				}
			}
		}
	}
	n.first = pairs == 0 && countsAll(n.terms, r.Namespace, r.Labels, nsLabels)
	return n
}

// on says whether the request's affinity holds on a Node once victims there are gone,
// and which of the Node's pods must stay for it to: for a term whose domain has such a
// pod on another Node, none; otherwise those on this Node.
func (n *needed) on(node *corev1.Node) (keep []string, ok bool) {
	if n == nil {
		return nil, true
	}
	for i := range n.terms {
		v, has := node.Labels[n.terms[i].TopologyKey]
		if !has {
			return nil, false
		}
		if n.first {
			continue
		}
		pods := n.byValue[i][v]
		if len(pods) == 0 {
			return nil, false
		}
		if slices.ContainsFunc(pods, func(p *PlacedPod) bool { return p.NodeName != node.Name }) {
			continue
		}
		for _, p := range pods {
			keep = append(keep, p.UID)
		}
	}
	return keep, true
}

// Preempt finds the agent where a request of that priority fits once the fewest and
// least important pods of lower priority are gone, as kube-scheduler's DefaultPreemption
// chooses: among the Ready Nodes the request's node selector, required affinity,
// tolerations, cordon and region (masterRegion, selectsRegion) let it go to, the one
// with the fewest victims a disruption budget protects, then the one whose most
// important victim is the least important, then the one with the fewest victims. Only
// what the victims free is counted: an agent's free resources are not known while it
// offers none, and Mesos offers no agent with nothing free. ok is false when no agent
// would do. The pods that keep the request off a Node, by holding one of its host ports
// or by required anti-affinity (pods, nil for none), are victims there, and a Node
// where one of them may not go (of priority not lower, or on another Node of the
// domain) is none; a Node where its required pod affinity would not hold is none, and
// the pods there that it needs stay.
func Preempt(r *Request, priority int32, nodes []PreemptNode, masterRegion string, pods *PodsOnNodes) (p Preemption, ok bool) {
	if !CanPreempt(r) {
		return Preemption{}, false
	}
	aff := nodeaffinity.NewRequiredNodeAffinity(r.NodeSelector, r.Affinity)
	region := selectsRegion(r.NodeSelector, r.Affinity)
	blocking, need := pods.blockersOf(r), pods.neededBy(r)
	var bestTop int32
	var bestProtected int
	for i := range nodes {
		n := &nodes[i]
		if !mayGo(r, n.Node, &aff, region, masterRegion) {
			continue
		}
		must, elsewhere := blocking.on(n.Node)
		holders, kept := portHolders(r, n)
		stay, affine := need.on(n.Node)
		if elsewhere || kept || !affine {
			continue
		}
		must = append(must, holders...)
		victims, top, found := victimsOn(r, priority, n.Pods, must, stay)
		if !found {
			continue
		}
		protected := 0
		for _, v := range victims {
			if n.Pods[v].Protected {
				protected++
			}
		}
		better := protected < bestProtected ||
			protected == bestProtected && (top < bestTop || top == bestTop && len(victims) < len(p.Victims))
		if !ok || better {
			p, bestTop, bestProtected, ok = Preemption{Node: i, Victims: victims}, top, protected, true
		}
	}
	return p, ok
}

// mayGo says whether a request may go to a Node but for its resources.
func mayGo(r *Request, node *corev1.Node, aff *nodeaffinity.RequiredNodeAffinity, region bool, masterRegion string) bool {
	if ready := agentnode.ReadyCondition(node); ready == nil || ready.Status != corev1.ConditionTrue {
		return false // the kills may not reach it, and nothing says room comes back
	}
	if node.Spec.Unschedulable && !tolerates(r.Tolerations, &unschedulableTaint) {
		return false
	}
	// Ready says the agent is there: the not-ready and unreachable taints, which the node
	// lifecycle controller lifts only after a while, are not held against the pod, as a
	// round holds none of them against a pod on an agent it was offered.
	for _, t := range blockingTaints(node.Spec.Taints, true) {
		if !tolerates(r.Tolerations, &t) {
			return false
		}
	}
	if !region && agentnode.Remote(node.Labels[corev1.LabelTopologyRegion], masterRegion) {
		return false
	}
	ok, _ := aff.Match(node)
	return ok
}

// victimsOn are the pods of lower priority whose going makes room for the request: the
// least important first until there is room, those a disruption budget protects after
// the others; then each of those, the protected first and then the most important,
// kept when the room holds without it (kube-scheduler's reprieve). top is the
// priority of the most important victim. The pods of must (UIDs: those that keep the
// request away by a host port or by anti-affinity) are victims whatever room they free,
// and never reprieved; those of stay (what its pod affinity needs) are never victims.
// found is false when one of must is not of lower priority or is in stay, or all of
// them together free too little.
func victimsOn(r *Request, priority int32, pods []Running, must, stay []string) (victims []int, top int32, found bool) {
	var mandatory []int
	for _, uid := range must {
		if slices.Contains(stay, uid) {
			return nil, 0, false // the request both needs it and cannot go beside it
		}
		i := slices.IndexFunc(pods, func(p Running) bool { return p.Pod != nil && string(p.Pod.UID) == uid })
		if i < 0 || pods[i].Priority >= priority {
			return nil, 0, false // it stays, and keeps the request away
		}
		if !slices.Contains(mandatory, i) {
			mandatory = append(mandatory, i)
		}
	}
	for i := range pods {
		if pods[i].Priority < priority && !slices.Contains(mandatory, i) && (pods[i].Pod == nil || !slices.Contains(stay, string(pods[i].Pod.UID))) {
			victims = append(victims, i)
		}
	}
	// Unprotected first, then the least important: lower priority, then the one started
	// last.
	slices.SortFunc(victims, func(a, b int) int {
		if pods[a].Protected != pods[b].Protected {
			if pods[a].Protected {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(pods[a].Priority, pods[b].Priority); c != 0 {
			return c
		}
		return pods[b].Started.Compare(pods[a].Started)
	})
	var freed [kindCount]float64
	enough := func() bool {
		for k := range kindCount {
			if need := r.amount(k); need > epsilon && freed[k]+epsilon < need {
				return false
			}
		}
		return true
	}
	add := func(i int, sign float64) {
		p := &pods[i]
		freed[kindCPUs] += sign * p.CPUs
		freed[kindMem] += sign * p.MemMB
		freed[kindDisk] += sign * p.DiskMB
		freed[kindGPUs] += sign * p.GPUs
	}
	for _, i := range mandatory {
		add(i, 1)
	}
	n := 0
	for n < len(victims) && !enough() {
		add(victims[n], 1)
		n++
	}
	if !enough() || n+len(mandatory) == 0 {
		return nil, 0, false
	}
	victims = victims[:n]
	kept := slices.Clone(mandatory)
	for j := len(victims) - 1; j >= 0; j-- {
		add(victims[j], -1)
		if enough() {
			continue // reprieved
		}
		add(victims[j], 1)
		kept = append(kept, victims[j])
	}
	if len(kept) > 0 {
		top = pods[kept[0]].Priority
		for _, i := range kept {
			top = max(top, pods[i].Priority)
		}
	}
	slices.Sort(kept)
	return kept, top, len(kept) > 0
}
