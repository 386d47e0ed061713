package placement

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// SpreadConstraint is one topology spread constraint of a pod with whenUnsatisfiable:
// DoNotSchedule, resolved, as kube-scheduler's PodTopologySpread filter holds it: the
// pods of the pod's namespace its selector matches, counted per domain (the value of
// TopologyKey) over the eligible Nodes, may differ by at most MaxSkew between the
// domain the pod goes to (the pod counted in) and the emptiest.
type SpreadConstraint struct {
	MaxSkew     int32
	TopologyKey string
	// Selector matches the pods counted (matchLabelKeys already merged into it); nil
	// matches none.
	Selector labels.Selector
	// MinDomains: with fewer eligible domains, the emptiest is taken to hold 0.
	MinDomains int32
	// IgnoreNodeAffinity (nodeAffinityPolicy: Ignore) makes every Node eligible, not
	// only those the pod's node selector and required node affinity match.
	IgnoreNodeAffinity bool
	// HonorTaints (nodeTaintsPolicy: Honor) makes only the Nodes whose NoSchedule and
	// NoExecute taints the pod tolerates eligible. The cluster's own agent taint is not
	// held against it; nor, on an agent offered in the round, are the node lifecycle's
	// not-ready and unreachable taints, as placement holds none of them against a pod
	// there (blockingTaints). A Node without an offer is held to those as kube-scheduler
	// holds any Node: nothing says its agent is there.
	HonorTaints bool
}

// spreadGroup is what a round knows of one set of constraints of one namespace and
// node affinity: for each constraint, the matching pods per eligible domain value, and
// per agent of the round in its domain.
type spreadGroup struct {
	namespace   string
	constraints []SpreadConstraint
	aff         nodeaffinity.RequiredNodeAffinity
	tolerations []corev1.Toleration
	perValue    []map[string]int32
	perAgent    []domainPods
	// domainOf is each eligible Node's domain value, by Node name, per constraint: the
	// pods on other Nodes (kubelets', or not eligible) are not counted.
	domainOf []map[string]string
	// least is, per constraint, the fewest pods counted in an eligible domain, and
	// atLeast how many domains hold that few; stale until recounted. Counts only grow in
	// a round, so the least is recounted once each time its last domain grows, not for
	// every request.
	least   []int32
	atLeast []int
}

// spreadKey is what makes two requests' constraints one group.
func spreadKey(r *Request, selKey string) string {
	var b strings.Builder
	honor := false
	b.WriteString(r.Namespace)
	for i := range r.Spread {
		c := &r.Spread[i]
		b.WriteByte(0)
		b.WriteString(strconv.Itoa(int(c.MaxSkew)))
		b.WriteByte(1)
		b.WriteString(c.TopologyKey)
		b.WriteByte(1)
		if c.Selector != nil {
			b.WriteString(c.Selector.String())
		}
		b.WriteByte(1)
		b.WriteString(strconv.Itoa(int(c.MinDomains)))
		if c.IgnoreNodeAffinity {
			b.WriteByte(2)
		}
		if c.HonorTaints {
			honor = true
			b.WriteByte(4)
		}
	}
	b.WriteByte(3)
	b.WriteString(selKey)
	if honor {
		b.WriteByte(5)
		b.Write(appendTolerations(nil, r.Tolerations))
	}
	return b.String()
}

// eligible says whether a Node of those labels and blocking taints (blockingTaints)
// counts for constraint i: it has every constraint's key, matches the pod's node
// affinity unless the constraint ignores it, and has no taint the pod does not tolerate
// when the constraint honours taints.
func (g *spreadGroup) eligible(i int, name string, nodeLabels map[string]string, taints []corev1.Taint) bool {
	for j := range g.constraints {
		if _, ok := nodeLabels[g.constraints[j].TopologyKey]; !ok {
			return false
		}
	}
	if g.constraints[i].HonorTaints {
		for k := range taints {
			if !tolerates(g.tolerations, &taints[k]) {
				return false
			}
		}
	}
	if g.constraints[i].IgnoreNodeAffinity {
		return true
	}
	ok, _ := g.aff.Match(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: nodeLabels}})
	return ok
}

// newSpreadGroup is the group of a request's constraints, with no domain yet.
func newSpreadGroup(r *Request) *spreadGroup {
	n := len(r.Spread)
	g := &spreadGroup{namespace: r.Namespace, constraints: r.Spread, aff: nodeaffinity.NewRequiredNodeAffinity(r.NodeSelector, r.Affinity), tolerations: r.Tolerations,
		perValue: make([]map[string]int32, n), perAgent: make([]domainPods, n), domainOf: make([]map[string]string, n),
		least: make([]int32, n), atLeast: make([]int, n)}
	for i := range n {
		g.perValue[i], g.domainOf[i] = map[string]int32{}, map[string]string{}
	}
	return g
}

// addDomain makes a Node of those labels and blocking taints a domain of constraint i,
// with no pod counted yet, when it is eligible.
func (g *spreadGroup) addDomain(i int, name string, nodeLabels map[string]string, taints []corev1.Taint) {
	if !g.eligible(i, name, nodeLabels, taints) {
		return
	}
	v := nodeLabels[g.constraints[i].TopologyKey]
	g.domainOf[i][name] = v
	if !hasKey(g.perValue[i], v) {
		g.perValue[i][v] = 0
	}
}

// spreadOf is the group of a request's constraints: the eligible domains of the
// cluster's Nodes and of the round's agents, and the pods counted in them, those on
// Nodes and those placed in the round so far (later ones are added as they are placed).
func (rd *round) spreadOf(r *Request, selKey string) *spreadGroup {
	key := spreadKey(r, selKey)
	if g := rd.anti.spreads[key]; g != nil {
		return g
	}
	g := newSpreadGroup(r)
	if rd.anti.spreads == nil {
		rd.anti.spreads = map[string]*spreadGroup{}
	}
	rd.anti.spreads[key] = g
	rd.anti.spreadGroups = append(rd.anti.spreadGroups, g)
	for i := range g.constraints {
		for _, n := range rd.clusterNodes() {
			if _, offered := rd.agentOfNode(n.Name); !offered {
				g.addDomain(i, n.Name, n.Labels, blockingTaints(n.Spec.Taints, false))
			}
		}
		for _, ag := range rd.agents {
			g.addDomain(i, ag.node.Name, ag.node.Labels, ag.taints)
		}
	}
	for _, p := range rd.podsIn(r.Namespace) {
		if !p.Terminating {
			g.count(rd.anti, p.NodeName, p.Labels)
		}
	}
	for _, p := range rd.anti.placed {
		if p.namespace == g.namespace {
			g.count(rd.anti, rd.agents[p.agent].node.Name, p.labels)
		}
	}
	return g
}

// count adds a pod of the group's namespace and those labels, on the Node of that name,
// to the constraints that count it, when that Node is one of their eligible ones, and,
// in a round (a, nil outside one), to its agents' domains.
func (g *spreadGroup) count(a *antiRound, node string, podLabels map[string]string) {
	for i := range g.constraints {
		c := &g.constraints[i]
		v, eligible := g.domainOf[i][node]
		if !eligible || !g.counts(i, g.namespace, podLabels) {
			continue
		}
		if g.perValue[i][v] == g.least[i] && g.atLeast[i] > 0 {
			g.atLeast[i]--
		}
		g.perValue[i][v]++
		if a != nil {
			g.perAgent[i].add(a.agentsWith(c.TopologyKey, v), len(a.agents), v, "")
		}
	}
}

// counts says whether constraint i counts a pod of that namespace and labels.
func (g *spreadGroup) counts(i int, namespace string, podLabels map[string]string) bool {
	sel := g.constraints[i].Selector
	return namespace == g.namespace && sel != nil && sel.Matches(labels.Set(podLabels))
}

// agentOfNode is the index of the round's agent whose Node has that name.
func (rd *round) agentOfNode(name string) (int, bool) {
	if rd.anti.agentByNode == nil {
		rd.anti.agentByNode = make(map[string]int, len(rd.agents))
		for i, ag := range rd.agents {
			rd.anti.agentByNode[ag.node.Name] = i
		}
	}
	i, ok := rd.anti.agentByNode[name]
	return i, ok
}

// clusterNodes are Input.ClusterNodes, read once per round.
func (rd *round) clusterNodes() []*corev1.Node {
	if !rd.anti.nodesRead {
		rd.anti.nodesRead = true
		if rd.in.ClusterNodes != nil {
			rd.anti.nodes = rd.in.ClusterNodes()
		}
	}
	return rd.anti.nodes
}

// spreadClosures appends to cs what request r's spread constraints ask of an agent: its
// Node has the key, and its domain, with the pod in it, holds at most MaxSkew more of
// the pods counted than the emptiest eligible domain.
func (rd *round) spreadClosures(r *Request, selKey string, cs []closure) []closure {
	if len(r.Spread) == 0 {
		return cs
	}
	g := rd.spreadOf(r, selKey)
	for i := range g.constraints {
		c := &g.constraints[i]
		cs = append(cs, closure{key: c.TopologyKey, pods: g.perAgent[i].byAgent, why: reasonSpread, spread: true, most: g.emptiest(i) + c.MaxSkew - g.self(i, r.Labels),
			missing: reasonSpreadMissingLabel})
	}
	return cs
}

// emptiest is what the emptiest eligible domain of constraint i is taken to hold: the
// fewest pods it counts in one, or none with fewer domains than minDomains.
func (g *spreadGroup) emptiest(i int) int32 {
	if len(g.perValue[i]) < int(max(g.constraints[i].MinDomains, 1)) {
		return 0
	}
	return g.fewest(i)
}

// self is 1 when constraint i counts the request's own pod (of those labels), else 0.
func (g *spreadGroup) self(i int, podLabels map[string]string) int32 {
	if g.counts(i, g.namespace, podLabels) {
		return 1
	}
	return 0
}

// fewest is the fewest pods constraint i counts in an eligible domain, recounted only
// when the domains that held the fewest have all grown since.
func (g *spreadGroup) fewest(i int) int32 {
	if g.atLeast[i] > 0 {
		return g.least[i]
	}
	least, at := int32(-1), 0
	for _, n := range g.perValue[i] {
		switch {
		case least < 0 || n < least:
			least, at = n, 1
		case n == least:
			at++
		}
	}
	g.least[i], g.atLeast[i] = max(least, 0), at
	return g.least[i]
}

// placedForSpread adds a pod placed in the round, on an agent, to the groups of its
// namespace whose constraints count it.
func (rd *round) placedForSpread(r *Request, ag *agentState) {
	for _, g := range rd.anti.spreadGroups {
		if g.namespace == r.Namespace {
			g.count(rd.anti, ag.node.Name, r.Labels)
		}
	}
}

func hasKey(m map[string]int32, k string) bool {
	_, ok := m[k]
	return ok
}
