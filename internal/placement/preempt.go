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
	// Protected: disrupting it would go beyond what a PodDisruptionBudget allows now
	// (kube-scheduler's PDB violation). Such a pod goes only when the others of lower
	// priority do not make room.
	Protected bool
	// HostPorts are the agent's ports its task holds (its containers' hostPorts).
	HostPorts []uint32
	// Role is the role its resources were asked of ("" for any): what it frees counts
	// for a request of a role only when it is that role.
	Role string
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
	// Free is what the agent's last offers left, per allocation role (Result.Left), nil
	// when not known lately: counted with what victims free (freeFor).
	Free []Room
}

// Preemption is where a request can go once some pods of lower priority are gone.
type Preemption struct {
	// Node is the index of the Node in the input, Victims the indexes of its pods.
	Node    int
	Victims []int
	// Why, when no Node would do, says why of each, as kube-scheduler words it after a
	// pod's other reasons: "preemption: 0/3 agents available: 2 had no pods of lower
	// priority, 1 not Ready." (a Node counts once, by the first reason it has, in the
	// order of preemptReasonText).
	Why string
}

// Why preemption finds no room on a Node, in the order they are checked.
const (
	preemptNoLowerPods = iota
	preemptNotReady
	preemptCordoned
	preemptTaint
	preemptRemoteRegion
	preemptSelector
	preemptSpreadMissingLabel
	preemptAntiAffinity
	preemptPorts
	preemptAffinity
	preemptSpread
	preemptTooLittle
	preemptReasonCount
)

var preemptReasonText = [preemptReasonCount]string{
	preemptNoLowerPods:  "had no pods of lower priority",
	preemptNotReady:     "not Ready",
	preemptCordoned:     reasonText[reasonUnschedulable],
	preemptTaint:        reasonText[reasonTaint],
	preemptRemoteRegion: reasonText[reasonRemoteRegion],
	preemptSelector:     reasonText[reasonSelector],
	// The Node lacks a spread constraint's topology key.
	preemptSpreadMissingLabel: reasonText[reasonSpreadMissingLabel],
	// A pod the anti-affinity counts is of no lower priority, or on another Node of the
	// domain, or one the pod's affinity needs.
	preemptAntiAffinity: "didn't match pod anti-affinity rules with only pods of lower priority there gone",
	// A pod of no lower priority holds one of the pod's host ports.
	preemptPorts:    "didn't have the pod's host ports free with only pods of lower priority gone",
	preemptAffinity: reasonText[reasonAffinity],
	// The room would be there, but not the spread.
	preemptSpread:    "didn't match pod topology spread constraints with every pod it may preempt gone",
	preemptTooLittle: "would not have room with every pod it may preempt gone",
}

// PreemptionPrefix starts what Preemption.Why and PreemptionNotTried say, as kube-scheduler
// starts what its preemption says after a pod's other reasons.
const PreemptionPrefix = "preemption: "

// PreemptionNotTried says why a request may have no pods preempted for it (CanPreempt is
// false), and "" if it may.
func PreemptionNotTried(r *Request) string {
	if r.Node != "" {
		return PreemptionPrefix + "not tried for a pod bound to one agent."
	}
	return ""
}

// CanPreempt says whether a request may have pods preempted for it: one not bound to a
// Node. Host ports, required pod affinity and anti-affinity, and spread constraints are
// weighed (PodsOnNodes): the pods that hold the ports or keep the request away are
// victims, those its affinity needs stay, and a Node's victims that its constraints
// count are counted out of its domain. For a request of a role, only what the pods of
// that role free counts (Running.Role).
func CanPreempt(r *Request) bool {
	return PreemptionNotTried(r) == ""
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
// important victim is the least important, then the one with the fewest victims. Room
// is what the victims free and what the agent's last offers left (PreemptNode.Free):
// Mesos offers no agent with nothing free, so an agent not offered lately has none
// known, and counts only its victims. ok is false when no agent would do. The pods
// that keep the request off a Node, by holding one of its host ports or by required
// anti-affinity (pods, nil for none), are victims there, and a Node where one of them
// may not go (of priority not lower, or on another Node of the domain) is none; a Node
// where its required pod affinity would not hold is none, and the pods there that it
// needs stay.
func Preempt(r *Request, priority int32, nodes []PreemptNode, masterRegion string, pods *PodsOnNodes) (p Preemption, ok bool) {
	if why := PreemptionNotTried(r); why != "" {
		return Preemption{Why: why}, false
	}
	r = r.rounded()
	aff := nodeaffinity.NewRequiredNodeAffinity(r.NodeSelector, r.Affinity)
	region := selectsRegion(r.NodeSelector, r.Affinity)
	blocking, need, spread := pods.blockersOf(r), pods.neededBy(r), pods.spreadFor(r, nodes)
	var bestTop int32
	var bestProtected int
	var counts [preemptReasonCount]int
	for i := range nodes {
		n := &nodes[i]
		victims, top, why := preemptOn(r, priority, n, &aff, region, masterRegion, blocking, need, spread)
		if why >= 0 {
			counts[why]++
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
	if !ok {
		p.Why = preemptionWorded(len(nodes), counts)
	}
	return p, ok
}

// NoLowerPriority is Preemption.Why when none of the agents' Nodes has a pod of lower
// priority than the request's.
func NoLowerPriority(agents int) string {
	var counts [preemptReasonCount]int
	counts[preemptNoLowerPods] = agents
	return preemptionWorded(agents, counts)
}

// preemptionWorded words how many Nodes had each reason (of preemptReasonText).
func preemptionWorded(agents int, counts [preemptReasonCount]int) string {
	if agents == 0 {
		return PreemptionPrefix + "0/0 agents available: no agents' Nodes."
	}
	return PreemptionPrefix + countsWorded(agents, counts[:], preemptReasonText[:])
}

// preemptOn weighs one Node for Preempt: the victims there and the priority of the most
// important, or why (of preemptReasonText; -1 when the Node would do) it would not do.
func preemptOn(r *Request, priority int32, n *PreemptNode, aff *nodeaffinity.RequiredNodeAffinity, region bool, masterRegion string, blocking blockers, need *needed, spread *spreadAfter) (victims []int, top int32, why int) {
	if !slices.ContainsFunc(n.Pods, func(p Running) bool { return p.Priority < priority }) {
		return nil, 0, preemptNoLowerPods // first, as NoLowerPriority says of every Node
	}
	if why := mayGo(r, n.Node, aff, region, masterRegion); why >= 0 {
		return nil, 0, why
	}
	if !spread.eligible(n.Node.Name) {
		return nil, 0, preemptSpreadMissingLabel
	}
	must, elsewhere := blocking.on(n.Node)
	blockers, lower := indexesOf(n.Pods, must, priority)
	if elsewhere || !lower {
		return nil, 0, preemptAntiAffinity
	}
	holders, kept := portHolders(r, n)
	holding, lower := indexesOf(n.Pods, holders, priority)
	if kept || !lower {
		return nil, 0, preemptPorts
	}
	stay, affine := need.on(n.Node)
	if !affine {
		return nil, 0, preemptAffinity
	}
	// It may both need a pod and be kept away by it.
	staying := func(uid string) bool { return slices.Contains(stay, uid) }
	if slices.ContainsFunc(must, staying) {
		return nil, 0, preemptAntiAffinity
	}
	if slices.ContainsFunc(holders, staying) {
		return nil, 0, preemptPorts
	}
	for _, i := range holding {
		if !slices.Contains(blockers, i) {
			blockers = append(blockers, i)
		}
	}
	return victimsOn(r, priority, n, blockers, stay, spread)
}

// room is what a Node has for a request once victims are gone: resources (its free
// room with what they free), and the pods its spread constraints no longer count there
// (spread, nil for none).
type room struct {
	r      *Request
	node   string
	spread *spreadAfter
	freed  [kindCount]float64
	gone   []int32
}

// add counts a victim (sign 1) or takes it back (-1).
func (m *room) add(p *Running, sign float64) {
	m.spread.gone(m.gone, p, int32(sign))
	if !frees(m.r, p) {
		return // a pod that must go, whose resources are another role's
	}
	// What its task holds, in Mesos's thousandths, as the request's amount counts.
	m.freed[kindCPUs] += sign * round3(p.CPUs)
	m.freed[kindMem] += sign * round3(p.MemMB)
	m.freed[kindDisk] += sign * round3(p.DiskMB)
	m.freed[kindGPUs] += sign * round3(p.GPUs)
}

// resources says whether the victims free what the request asks.
func (m *room) resources() bool {
	for k := range kindCount {
		if need := m.r.amount(k); need > epsilon && m.freed[k]+epsilon < need {
			return false
		}
	}
	return true
}

// enough says whether the request fits once the victims are gone.
func (m *room) enough() bool { return m.resources() && m.spread.holds(m.node, m.gone) }

// freeFor is the room of an agent's last offers that a request may take: that of its
// role, for a request of a role; for one of none, that of the agent's only role (of
// several, which one its task would take is not known, and none counts).
func freeFor(r *Request, rooms []Room) (free [kindCount]float64, ok bool) {
	i := 0
	if r.Role != "" {
		i = slices.IndexFunc(rooms, func(m Room) bool { return m.Role == r.Role })
	} else if len(rooms) != 1 {
		i = -1
	}
	if i < 0 {
		return free, false
	}
	m := &rooms[i]
	return [kindCount]float64{kindCPUs: m.CPUs, kindMem: m.MemMB, kindDisk: m.DiskMB, kindGPUs: m.GPUs}, true
}

// frees says whether what a running pod holds counts for a request once it is gone: any
// role's for a request of none (its offers may be of any of the framework's roles), only
// its own role's for a request of a role.
func frees(r *Request, p *Running) bool {
	return r.Role == "" || p.Role == r.Role
}

// indexesOf are the indexes in pods of the pods of uids, once each; lower says whether
// each is there and of lower priority than priority (pods holds only those of lower
// priority than the most important request's).
func indexesOf(pods []Running, uids []string, priority int32) (indexes []int, lower bool) {
	for _, uid := range uids {
		i := slices.IndexFunc(pods, func(p Running) bool { return p.Pod != nil && string(p.Pod.UID) == uid })
		if i < 0 || pods[i].Priority >= priority {
			return nil, false
		}
		if !slices.Contains(indexes, i) {
			indexes = append(indexes, i)
		}
	}
	return indexes, true
}

// mayGo says why a request may not go to a Node whatever its resources (of
// preemptReasonText), or -1 when it may.
func mayGo(r *Request, node *corev1.Node, aff *nodeaffinity.RequiredNodeAffinity, region bool, masterRegion string) int {
	if ready := agentnode.ReadyCondition(node); ready == nil || ready.Status != corev1.ConditionTrue {
		return preemptNotReady // the kills may not reach it, and nothing says room comes back
	}
	if node.Spec.Unschedulable && !tolerates(r.Tolerations, &unschedulableTaint) {
		return preemptCordoned
	}
	// Ready says the agent is there: the not-ready and unreachable taints, which the node
	// lifecycle controller lifts only after a while, are not held against the pod, as a
	// round holds none of them against a pod on an agent it was offered.
	for _, t := range blockingTaints(node.Spec.Taints, true) {
		if !tolerates(r.Tolerations, &t) {
			return preemptTaint
		}
	}
	if !region && agentnode.Remote(node.Labels[corev1.LabelTopologyRegion], masterRegion) {
		return preemptRemoteRegion
	}
	if ok, _ := aff.Match(node); !ok {
		return preemptSelector
	}
	return -1
}

// victimsOn are the pods of lower priority on a Node whose going makes room for the
// request: the least important first until there is room, those a disruption budget
// protects after the others; then each of those, the protected first and then the most
// important, kept when the room holds without it (kube-scheduler's reprieve). Room is
// the resources the victims free, with what the agent's last offers left (n.Free,
// freeFor) unless that alone would do, and, with spread constraints (spread, nil for
// none), the victims they count gone from the Node's domain. top is the priority of the
// most important victim. The pods of mandatory (indexes in n.Pods, once each, of lower
// priority and not in stay: those that keep the request away by a host port or by
// anti-affinity) are victims whatever room they free, and never reprieved; those of
// stay (UIDs: what its pod affinity needs) are never victims. why is -1 when victims
// make room, else preemptSpread or preemptTooLittle.
func victimsOn(r *Request, priority int32, n *PreemptNode, mandatory []int, stay []string, spread *spreadAfter) (victims []int, top int32, why int) {
	pods := n.Pods
	for i := range pods {
		if pods[i].Priority < priority && !slices.Contains(mandatory, i) && (pods[i].Pod == nil || !slices.Contains(stay, string(pods[i].Pod.UID))) &&
			frees(r, &pods[i]) {
			victims = append(victims, i)
		}
	}
	if len(victims)+len(mandatory) == 0 {
		return nil, 0, preemptTooLittle // those of lower priority stay for its affinity
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
	m := &room{r: r, node: n.Node.Name, spread: spread}
	if spread != nil {
		m.gone = make([]int32, len(spread.g.constraints))
	}
	if free, ok := freeFor(r, n.Free); ok {
		m.freed = free
		if len(mandatory) == 0 && m.enough() {
			// It would fit without preemption: the agent's room was taken since it was
			// offered (by another framework), or the request waits for another reason
			// (its executor's resources with a new spec.executor): not counted.
			m.freed = [kindCount]float64{}
		}
	}
	for _, i := range mandatory {
		m.add(&pods[i], 1)
	}
	taken := 0
	for taken < len(victims) && !m.enough() {
		m.add(&pods[victims[taken]], 1)
		taken++
	}
	if !m.enough() || taken+len(mandatory) == 0 {
		if m.resources() && !spread.holds(m.node, m.gone) {
			return nil, 0, preemptSpread
		}
		return nil, 0, preemptTooLittle
	}
	victims = victims[:taken]
	kept := slices.Clone(mandatory)
	for j := len(victims) - 1; j >= 0; j-- {
		m.add(&pods[victims[j]], -1)
		if m.enough() {
			continue // reprieved
		}
		m.add(&pods[victims[j]], 1)
		kept = append(kept, victims[j])
	}
	if len(kept) > 0 {
		top = pods[kept[0]].Priority
		for _, i := range kept {
			top = max(top, pods[i].Priority)
		}
	}
	slices.Sort(kept)
	return kept, top, -1
}
