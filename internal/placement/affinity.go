package placement

import (
	"strings"

	"k8s.io/apimachinery/pkg/labels"
)

// affinityGroup is one set of required pod affinity terms of a round (by their
// termKeys): the pods all of them count, in each term's domain per agent of the round,
// as kube-scheduler counts them for its InterPodAffinity filter (a pod counts for a set
// of terms only when every term counts it). pairs is how many (term, domain) pairs
// anywhere have such a pod, agents of the round or not, and uids the domain of each
// term of each such pod on a Node, so that a pod does not stand beside itself.
type affinityGroup struct {
	terms   []PodTerm
	perTerm []domainPods
	pairs   int
	uids    map[string][]domain
}

// domain is a pod's domain of one term: the value of its Node's label, when it has one
// (an empty value is a value).
type domain struct {
	value string
	ok    bool
}

// countsAll says whether every term counts a pod of that namespace and labels.
func countsAll(terms []PodTerm, namespace string, lbls map[string]string, nsLabels func(string) labels.Set) bool {
	for i := range terms {
		if !terms[i].counts(namespace, lbls, nsLabels) {
			return false
		}
	}
	return true
}

// affinityNamespaces are the namespaces to list for the pods every one of a set of terms
// counts: such a pod is in the namespaces of each, so those of the term that names the
// fewest, or "" (every one) when no term is confined.
func affinityNamespaces(terms []PodTerm) []string {
	nss := []string{""}
	for i := range terms {
		if t := &terms[i]; !t.listsEvery() && (nss[0] == "" || len(t.Namespaces) < len(nss)) {
			nss = t.namespacesListed()
		}
	}
	return nss
}

// affinityOf is the group of a request's pod affinity terms, with the pods on Nodes and
// those placed in the round so far (later ones are added as they are placed).
func (rd *round) affinityOf(terms []PodTerm) *affinityGroup {
	keys := make([]string, len(terms))
	for i := range terms {
		keys[i] = termKey(&terms[i])
	}
	key := strings.Join(keys, "\x03")
	if g := rd.anti.affinities[key]; g != nil {
		return g
	}
	g := &affinityGroup{terms: terms, perTerm: make([]domainPods, len(terms))}
	if rd.anti.affinities == nil {
		rd.anti.affinities = map[string]*affinityGroup{}
	}
	rd.anti.affinities[key] = g
	rd.anti.affinityGroups = append(rd.anti.affinityGroups, g)
	for _, ns := range affinityNamespaces(terms) {
		for _, p := range rd.podsIn(ns) {
			if countsAll(terms, p.Namespace, p.Labels, rd.anti.labelsOf) {
				rd.anti.addAffinity(g, p.NodeLabels, p.UID)
			}
		}
	}
	for _, p := range rd.anti.placed {
		if countsAll(terms, p.namespace, p.labels, rd.anti.labelsOf) {
			rd.anti.addAffinity(g, rd.agents[p.agent].node.Labels, "")
		}
	}
	return g
}

// addAffinity adds a pod all the group's terms count, on a Node of those labels.
func (a *antiRound) addAffinity(g *affinityGroup, nodeLabels map[string]string, uid string) {
	var domains []domain
	if uid != "" {
		domains = make([]domain, len(g.terms))
	}
	for i := range g.terms {
		key := g.terms[i].TopologyKey
		v, ok := nodeLabels[key]
		if !ok {
			continue
		}
		g.pairs++
		g.perTerm[i].add(a.agentsWith(key, v), len(a.agents), v, "")
		if domains != nil {
			domains[i] = domain{value: v, ok: true}
		}
	}
	if uid != "" {
		if g.uids == nil {
			g.uids = map[string][]domain{}
		}
		g.uids[uid] = domains
	}
}

// placedForAffinity adds a pod placed in the round, on a Node of those labels, to the
// groups whose terms all count it.
func (rd *round) placedForAffinity(r *Request, nodeLabels map[string]string) {
	for _, g := range rd.anti.affinityGroups {
		if countsAll(g.terms, r.Namespace, r.Labels, rd.anti.labelsOf) {
			rd.anti.addAffinity(g, nodeLabels, "")
		}
	}
}

// affinityClosures appends to cs what request r's pod affinity terms ask of an agent:
// for each term, a pod all of them count in the agent's domain, not r's own pod; while
// there is no such pod anywhere and r's pod is counted by all its own terms, only that
// the agent's Node has each term's key (kube-scheduler's first pod of a group).
func (rd *round) affinityClosures(r *Request, cs []closure) []closure {
	if len(r.PodAffinity) == 0 {
		return cs
	}
	g := rd.affinityOf(r.PodAffinity)
	var self []domain
	if r.PodUID != "" {
		self = g.uids[r.PodUID]
	}
	pairs := g.pairs
	for _, d := range self {
		if d.ok {
			pairs--
		}
	}
	first := pairs == 0 && countsAll(r.PodAffinity, r.Namespace, r.Labels, rd.anti.labelsOf)
	for i := range g.terms {
		c := closure{key: g.terms[i].TopologyKey, pods: g.perTerm[i].byAgent, why: reasonAffinity, need: true, any: first}
		if self != nil && self[i].ok {
			c.self, c.selfValue = true, self[i].value
		}
		cs = append(cs, c)
	}
	return cs
}

// admits says whether an agent's Node meets a pod affinity closure.
func (c *closure) admits(a *agentState) bool {
	v, ok := a.node.Labels[c.key]
	if !ok {
		return false
	}
	if c.any {
		return true
	}
	var n int32
	if c.pods != nil {
		n = c.pods[a.index]
	}
	if c.self && v == c.selfValue {
		n--
	}
	return n > 0
}
