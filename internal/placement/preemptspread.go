package placement

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/internal/agentnode"
)

// spreadAfter is what preemption knows of a request's spread constraints, counted as a
// round counts them (spreadOf) over the Nodes of its input, with the request's own pod,
// so that a Node is weighed with its victims gone without a walk of every domain
// (kube-scheduler's PodTopologySpread filter, run with the victims removed).
type spreadAfter struct {
	g *spreadGroup
	// self is 1 where the request's own pod is counted by the constraint.
	self []int32
}

// spreadFor reads the pods once for a request with spread constraints; nil without.
func (o *PodsOnNodes) spreadFor(r *Request, nodes []PreemptNode) *spreadAfter {
	if len(r.Spread) == 0 {
		return nil
	}
	g := newSpreadGroup(r)
	s := &spreadAfter{g: g, self: make([]int32, len(r.Spread))}
	for i := range g.constraints {
		for j := range nodes {
			node := nodes[j].Node
			ready := agentnode.ReadyCondition(node)
			g.addDomain(i, node.Name, node.Labels, blockingTaints(node.Spec.Taints, ready != nil && ready.Status == corev1.ConditionTrue))
		}
		s.self[i] = g.self(i, r.Labels)
	}
	if o != nil {
		for _, p := range o.podsIn(r.Namespace) {
			if !p.Terminating && p.UID != r.PodUID {
				g.count(nil, p.NodeName, p.Labels)
			}
		}
	}
	return s
}

// eligible says whether a Node counts for every constraint: else it lacks a key, and no
// preemption there would let the request in.
func (s *spreadAfter) eligible(node string) bool {
	if s == nil {
		return true
	}
	for i := range s.g.constraints {
		if _, ok := s.g.domainOf[i][node]; !ok {
			return false
		}
	}
	return true
}

// gone adds (sign 1) or takes back (-1) a victim on a Node to the pods each constraint
// no longer counts.
func (s *spreadAfter) gone(gone []int32, p *Running, sign int32) {
	if s == nil || p.Pod == nil {
		return
	}
	for i := range s.g.constraints {
		if s.g.counts(i, p.Pod.Namespace, p.Pod.Labels) {
			gone[i] += sign
		}
	}
}

// holds says whether every constraint lets the request onto the Node once the pods of
// gone are no longer counted there: its domain, with the request in it, holds at most
// MaxSkew more of the pods counted than the emptiest eligible domain.
func (s *spreadAfter) holds(node string, gone []int32) bool {
	if s == nil {
		return true
	}
	for i := range s.g.constraints {
		c := &s.g.constraints[i]
		after := max(s.g.perValue[i][s.g.domainOf[i][node]]-gone[i], 0)
		least := min(s.g.emptiest(i), after) // only this domain lost pods
		if after+s.self[i] > least+c.MaxSkew {
			return false
		}
	}
	return true
}
