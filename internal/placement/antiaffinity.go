package placement

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// PodTerm is one required pod anti-affinity term, resolved: the pods it keeps away are
// those in its namespaces whose labels its selector matches, and it keeps them out of
// the topology domain (the value of the label TopologyKey of a Node) of the pod that
// has it, as kube-scheduler's InterPodAffinity filter does.
type PodTerm struct {
	// Selector matches the labels of the pods the term counts; nil matches none (as a
	// term without a labelSelector).
	Selector labels.Selector
	// Namespaces are those of the pods the term counts, AllNamespaces every one (an
	// empty namespaceSelector), and NamespaceSelector, when set, adds those whose labels
	// it matches (Input.NamespaceLabels).
	Namespaces        []string
	AllNamespaces     bool
	NamespaceSelector labels.Selector
	// TopologyKey is the Node label whose value is the domain.
	TopologyKey string
}

// counts says whether the term counts a pod of that namespace and labels; nsLabels
// reads a namespace's labels, for a namespace selector.
func (t *PodTerm) counts(namespace string, lbls map[string]string, nsLabels func(string) labels.Set) bool {
	if t.Selector == nil || !t.inNamespace(namespace, nsLabels) {
		return false
	}
	return t.Selector.Matches(labels.Set(lbls))
}

// inNamespace says whether the term counts pods of that namespace.
func (t *PodTerm) inNamespace(namespace string, nsLabels func(string) labels.Set) bool {
	if t.AllNamespaces || slices.Contains(t.Namespaces, namespace) {
		return true
	}
	return t.NamespaceSelector != nil && t.NamespaceSelector.Matches(nsLabels(namespace))
}

// listsEvery says whether the pods the term counts are to be looked for in every
// namespace: it names none it is confined to.
func (t *PodTerm) listsEvery() bool { return t.AllNamespaces || t.NamespaceSelector != nil }

// namespacesListed are the namespaces to list for the pods the term counts: its own,
// once each, or "" (every one) when it is confined to none.
func (t *PodTerm) namespacesListed() []string {
	if t.listsEvery() {
		return []string{""}
	}
	return slices.Compact(slices.Sorted(slices.Values(t.Namespaces)))
}

// PlacedPod is a pod already on a Node, as required pod anti-affinity weighs it.
type PlacedPod struct {
	// UID is the pod's: a request of the same pod (bound, and placed again on its own
	// agent) does not keep away from itself.
	UID       string
	Namespace string
	Labels    map[string]string
	// NodeLabels are the labels of its Node, where its topology domains are read; a pod
	// whose Node has none of a term's key is in no domain of it. NodeName is its Node's.
	NodeLabels map[string]string
	NodeName   string
	// Terminating: it is being deleted, and spread constraints no longer count it.
	Terminating bool
	// AntiAffinity are its own required terms: they keep the pods they count out of
	// its domains (kube-scheduler's "existing pods anti-affinity rules").
	AntiAffinity []PodTerm
}

// termGroup is what a round knows of one distinct term (by termKey): the pods it counts
// (counted, for the requests that have it) and the pods that have it (holders, which
// keep the pods it counts away), each in the topology domain of each agent of the
// round. counted is made on first use (countedReady): a term only existing pods have
// needs none.
type termGroup struct {
	term             PodTerm
	counted, holders domainPods
	countedReady     bool
}

// domainPods are the pods in the topology domain of each agent of the round (byAgent,
// made with the first one that is), and the domain value of each pod on a Node by its
// UID, so that a pod is not held against itself.
type domainPods struct {
	byAgent []int32
	uids    map[string]string
}

// add counts one pod more in the domain value, and so in the domain of each agent of the
// round whose Node has that value (agents, of n): the pod of uid, when it has one.
func (d *domainPods) add(agents []int, n int, value, uid string) {
	if len(agents) > 0 && d.byAgent == nil {
		d.byAgent = make([]int32, n)
	}
	for _, a := range agents {
		d.byAgent[a]++
	}
	if uid != "" {
		if d.uids == nil {
			d.uids = map[string]string{}
		}
		d.uids[uid] = value
	}
}

// termKey is what makes two terms one: selector, namespaces, namespace selector and
// topology key.
func termKey(t *PodTerm) string {
	var b strings.Builder
	if t.Selector != nil {
		b.WriteString(t.Selector.String())
	} else {
		b.WriteByte(0)
	}
	b.WriteByte(1)
	if t.AllNamespaces {
		b.WriteByte(2)
	} else {
		nss := slices.Clone(t.Namespaces)
		slices.Sort(nss)
		b.WriteString(strings.Join(nss, ","))
	}
	b.WriteByte(1)
	if t.NamespaceSelector != nil {
		// Everything and Nothing both print as "".
		b.WriteByte(4)
		if t.NamespaceSelector.Empty() {
			b.WriteByte(5)
		}
		b.WriteString(t.NamespaceSelector.String())
	}
	b.WriteByte(1)
	b.WriteString(t.TopologyKey)
	return b.String()
}

// antiRound is what a round with required pod anti-affinity in it keeps: the pods on
// Nodes it read (by namespace, "" for all), the pods it placed, and its term groups.
type antiRound struct {
	podsIn readOnce[[]PlacedPod]
	placed []placedHere
	groups map[string]*termGroup
	order  []*termGroup
	buf    []closure
	// agentsOf are the agents of the round by topology key and value, read on first
	// use of the key.
	agentsOf map[string]map[string][]int
	agents   []*agentState
	// affinities are the round's sets of pod affinity terms (affinity.go), spreads its
	// sets of spread constraints (spread.go), over the cluster's Nodes read once.
	affinities     map[string]*affinityGroup
	affinityGroups []*affinityGroup
	spreads        map[string]*spreadGroup
	spreadGroups   []*spreadGroup
	nodes          []*corev1.Node
	nodesRead      bool
	agentByNode    map[string]int
	// nsLabels reads a namespace's labels (Input.NamespaceLabels) once per round.
	nsLabels readOnce[map[string]string]
}

// placedHere is a pod placed in this round, on the agent of that index.
type placedHere struct {
	namespace string
	labels    map[string]string
	agent     int
}

// newAntiRound is the round's anti-affinity state over its agents, nil when no request
// has a term and no placed pod has one: the common round pays nothing. The terms of the
// pods on Nodes are grouped at once.
func newAntiRound(in *Input, agents []*agentState) *antiRound {
	if len(in.AntiAffinityPods) == 0 && !slices.ContainsFunc(in.Requests, func(r Request) bool {
		return len(r.AntiAffinity) > 0 || len(r.PodAffinity) > 0 || len(r.Spread) > 0 ||
			r.Preferred != nil && len(r.Preferred.Affinity)+len(r.Preferred.AntiAffinity)+len(r.Preferred.Spread) > 0
	}) {
		return nil
	}
	a := &antiRound{podsIn: readOnce[[]PlacedPod]{read: in.PodsIn}, groups: map[string]*termGroup{}, agentsOf: map[string]map[string][]int{},
		agents: agents, nsLabels: readOnce[map[string]string]{read: in.NamespaceLabels}}
	for _, p := range in.AntiAffinityPods {
		for i := range p.AntiAffinity {
			t := &p.AntiAffinity[i]
			if v, ok := p.NodeLabels[t.TopologyKey]; ok {
				a.hold(a.group(t), v, p.UID)
			}
		}
	}
	return a
}

// agentsWith are the agents of the round whose Node has the value of key.
func (a *antiRound) agentsWith(key, value string) []int {
	byValue, ok := a.agentsOf[key]
	if !ok {
		byValue = map[string][]int{}
		for i, ag := range a.agents {
			if v, ok := ag.node.Labels[key]; ok {
				byValue[v] = append(byValue[v], i)
			}
		}
		a.agentsOf[key] = byValue
	}
	return byValue[value]
}

// labelsOf are a namespace's labels, read once per round; none when the round cannot
// read them (no Input.NamespaceLabels, or no such namespace).
func (a *antiRound) labelsOf(namespace string) labels.Set {
	return a.nsLabels.get(namespace)
}

// group is the term's group, made on first use.
func (a *antiRound) group(t *PodTerm) *termGroup {
	k := termKey(t)
	g := a.groups[k]
	if g == nil {
		g = &termGroup{term: *t}
		a.groups[k] = g
		a.order = append(a.order, g)
	}
	return g
}

// hold adds a pod with the group's term in a domain value.
func (a *antiRound) hold(g *termGroup, value, uid string) {
	g.holders.add(a.agentsWith(g.term.TopologyKey, value), len(a.agents), value, uid)
}

// count adds a pod the group's term counts in a domain value.
func (a *antiRound) count(g *termGroup, value, uid string) {
	g.counted.add(a.agentsWith(g.term.TopologyKey, value), len(a.agents), value, uid)
}

// podsIn are the pods on Nodes in a namespace ("" every one), read once per round.
func (rd *round) podsIn(namespace string) []PlacedPod {
	return rd.anti.podsIn.get(namespace)
}

// countedOf is the group of a request's term with the domains of the pods it counts:
// on Nodes, and placed in the round so far (later ones are added as they are placed).
func (rd *round) countedOf(t *PodTerm) *termGroup {
	g := rd.anti.group(t)
	if g.countedReady {
		return g
	}
	g.countedReady = true
	for _, ns := range t.namespacesListed() {
		for _, p := range rd.podsIn(ns) {
			if v, ok := p.NodeLabels[t.TopologyKey]; ok && t.counts(p.Namespace, p.Labels, rd.anti.labelsOf) {
				rd.anti.count(g, v, p.UID)
			}
		}
	}
	for _, p := range rd.anti.placed {
		if v, ok := rd.agents[p.agent].node.Labels[t.TopologyKey]; ok && t.counts(p.namespace, p.labels, rd.anti.labelsOf) {
			rd.anti.count(g, v, "")
		}
	}
	return g
}

// closure is a set of topology domains closed to one request: the pods in each agent's
// domain of key, less the request's own pod (self, in the domain selfValue).
type closure struct {
	key       string
	pods      []int32
	self      bool
	selfValue string
	why       int
	// need turns it around (pod affinity): only the domains with pods are open, and
	// with any, every agent whose Node has the key.
	need, any bool
	// spread (a spread constraint): open are the agents whose Node has the key and
	// whose domain holds at most most pods.
	spread bool
	most   int32
	// missing is the reason for an agent whose Node has not the key.
	missing int
}

// closes is the reason an agent's Node is in a closed domain, or -1.
func closes(cs []closure, a *agentState) int {
	for i := range cs {
		c := &cs[i]
		if c.need {
			if !c.admits(a) {
				return c.why
			}
			continue
		}
		if c.spread {
			if _, ok := a.node.Labels[c.key]; !ok {
				return c.missing
			}
			if c.pods != nil && c.pods[a.index] > c.most {
				return c.why
			}
			continue
		}
		n := c.pods[a.index]
		if n > 0 && c.self && a.node.Labels[c.key] == c.selfValue {
			n--
		}
		if n > 0 {
			return c.why
		}
	}
	return -1
}

// closedDomains are the topology domains request r may not go to: those of the pods its
// terms count, and those of pods whose terms count it; empty when there are none. It is
// valid until the next request is placed.
//
// A request pinned to its Node (its pod is bound there) is held to none: it runs there
// or nowhere, as a kubelet admits a bound pod without looking at other pods.
func (rd *round) closedDomains(r *Request, selKey string) []closure {
	if r.Node != "" {
		return nil
	}
	cs := rd.spreadClosures(r, selKey, rd.anti.buf[:0])
	cs = rd.affinityClosures(r, cs)
	closure := func(key string, pods *domainPods, why int) closure {
		c := closure{key: key, pods: pods.byAgent, why: why}
		if r.PodUID != "" {
			c.selfValue, c.self = pods.uids[r.PodUID]
		}
		return c
	}
	for i := range r.AntiAffinity {
		g := rd.countedOf(&r.AntiAffinity[i])
		if g.counted.byAgent != nil {
			cs = append(cs, closure(g.term.TopologyKey, &g.counted, reasonAntiAffinity))
		}
	}
	for _, g := range rd.anti.order {
		if g.holders.byAgent != nil && g.term.counts(r.Namespace, r.Labels, rd.anti.labelsOf) {
			cs = append(cs, closure(g.term.TopologyKey, &g.holders, reasonExistingAntiAffinity))
		}
	}
	rd.anti.buf = cs
	return cs
}

// placedOn records a request placed on an agent, for the requests after it: in the
// domains of the groups whose term counts it, and of those of its own terms. A request
// pinned to its Node is not: its pod is there already, among the pods on Nodes.
func (rd *round) placedOn(r *Request, agent int) {
	if r.Node != "" {
		return
	}
	labels := rd.agents[agent].node.Labels
	rd.anti.placed = append(rd.anti.placed, placedHere{namespace: r.Namespace, labels: r.Labels, agent: agent})
	rd.placedForAffinity(r, labels)
	rd.placedForSpread(r, rd.agents[agent])
	for _, g := range rd.anti.order {
		if g.countedReady && g.term.counts(r.Namespace, r.Labels, rd.anti.labelsOf) {
			if v, ok := labels[g.term.TopologyKey]; ok {
				rd.anti.count(g, v, "")
			}
		}
	}
	for i := range r.AntiAffinity {
		t := &r.AntiAffinity[i]
		if v, ok := labels[t.TopologyKey]; ok {
			rd.anti.hold(rd.anti.group(t), v, "")
		}
	}
}
