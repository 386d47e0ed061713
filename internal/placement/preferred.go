package placement

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// Preferences are a pod's preferred scheduling terms, which kube-scheduler scores Nodes
// by: an agent weighs the sum of the weights of the node affinity terms its Node
// matches and of the pod affinity terms with a pod they count in its Node's domain, less
// those of the pod anti-affinity terms with one. Between agents of equal weight, the one
// whose domains hold the fewest pods the ScheduleAnyway spread constraints count comes
// first (one whose Node lacks a constraint's key last), then the strategy chooses.
// kube-scheduler adds these scores to others (its resources' among them); here they
// come first.
type Preferences struct {
	// NodeAffinity are the pod's preferred node affinity terms.
	NodeAffinity []corev1.PreferredSchedulingTerm
	// Affinity and AntiAffinity are its preferred pod affinity and anti-affinity terms,
	// read as the required ones are (PodTerm).
	Affinity, AntiAffinity []WeightedPodTerm
	// Spread are its ScheduleAnyway spread constraints, each as the term of the pods it
	// counts in the domains of its topology key.
	Spread []PodTerm
}

// WeightedPodTerm is a preferred pod affinity or anti-affinity term and its weight.
type WeightedPodTerm struct {
	Weight int32
	Term   PodTerm
}

// preferredNodes are a set of preferred node affinity terms and the weight of each
// agent of the round by them, worked out on first use: requests with equal terms share
// it.
type preferredNodes struct {
	terms  *nodeaffinity.PreferredSchedulingTerms
	weight []int64
	known  []bool
}

// of is the weight of the agent's Node by the terms.
func (p *preferredNodes) of(a *agentState) int64 {
	if !p.known[a.index] {
		p.weight[a.index], p.known[a.index] = p.terms.Score(a.node), true
	}
	return p.weight[a.index]
}

// preferredNodesFor is the round's preferredNodes for a request's terms, nil when it has
// none or they do not parse (the API server lets no such pod in).
func (rd *round) preferredNodesFor(terms []corev1.PreferredSchedulingTerm) *preferredNodes {
	if len(terms) == 0 {
		return nil
	}
	b, err := json.Marshal(terms)
	if err != nil {
		return nil
	}
	if p, ok := rd.preferredNodes[string(b)]; ok {
		return p
	}
	var p *preferredNodes
	if t, err := nodeaffinity.NewPreferredSchedulingTerms(terms); err == nil {
		p = &preferredNodes{terms: t, weight: make([]int64, len(rd.agents)), known: make([]bool, len(rd.agents))}
	}
	rd.preferredNodes[string(b)] = p
	return p
}

// preference is how a request's preferences rank an agent: the fewer PreferNoSchedule
// taints of its Node the request does not tolerate first (kube-scheduler weighs them
// most), then the greater weight of its preferred terms (Request.Preferred), then the
// fewer pods its spread constraints count.
type preference struct {
	taints int64
	weight int64
	spread int64
}

// over says whether p ranks an agent before q.
func (p preference) over(q preference) bool {
	switch {
	case p.taints != q.taints:
		return p.taints < q.taints
	case p.weight != q.weight:
		return p.weight > q.weight
	}
	return p.spread < q.spread
}

// missingKey is what a spread constraint counts on an agent whose Node lacks its key,
// which kube-scheduler scores last.
const missingKey = 1 << 31

// preferenceOf ranks the agents for a request with preferences (Request.Preferred), as
// the round stands: the pods its pod terms and spread constraints count are those on
// Nodes and those placed before it.
func (rd *round) preferenceOf(r *Request) func(*agentState) preference {
	prefs := r.Preferred
	if prefs == nil {
		prefs = &Preferences{}
	}
	nodes := rd.preferredNodesFor(prefs.NodeAffinity)
	type weighed struct {
		pods   []int32
		weight int64
	}
	type spread struct {
		pods []int32
		key  string
	}
	var terms []weighed
	var spreads []spread
	if rd.anti != nil {
		for _, ts := range []struct {
			terms []WeightedPodTerm
			sign  int64
		}{{prefs.Affinity, 1}, {prefs.AntiAffinity, -1}} {
			for i := range ts.terms {
				t := &ts.terms[i]
				if g := rd.countedOf(&t.Term); g.counted.byAgent != nil {
					terms = append(terms, weighed{g.counted.byAgent, ts.sign * int64(t.Weight)})
				}
			}
		}
		for i := range prefs.Spread {
			t := &prefs.Spread[i]
			spreads = append(spreads, spread{rd.countedOf(t).counted.byAgent, t.TopologyKey})
		}
	}
	return func(a *agentState) preference {
		p := preference{taints: untolerated(r.Tolerations, a.preferNot)}
		if nodes != nil {
			p.weight = nodes.of(a)
		}
		for _, t := range terms {
			if t.pods[a.index] > 0 {
				p.weight += t.weight
			}
		}
		for _, s := range spreads {
			switch _, ok := a.node.Labels[s.key]; {
			case !ok:
				p.spread += missingKey
			case s.pods != nil:
				p.spread += int64(s.pods[a.index])
			}
		}
		return p
	}
}
