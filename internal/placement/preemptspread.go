package placement

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/k8sm/k8sm/internal/agentnode"
)

// spreadAfter is what preemption knows of a request's spread constraints, as a round
// counts them (spreadOf): for each constraint, the domain of each eligible Node of the
// input and the pods counted per domain, with the fewest, so that a Node is weighed
// with its victims gone without a walk of every domain (kube-scheduler's
// PodTopologySpread filter, run with the victims removed).
type spreadAfter struct {
	g *spreadGroup
	// self is 1 where the request's own pod is counted by the constraint.
	self []int32
	// least is the fewest pods a constraint counts in an eligible domain.
	least []int32
}

// spreadFor reads the pods once for a request with spread constraints; nil without.
func (o *PodsOnNodes) spreadFor(r *Request, nodes []PreemptNode) *spreadAfter {
	if len(r.Spread) == 0 {
		return nil
	}
	n := len(r.Spread)
	g := &spreadGroup{namespace: r.Namespace, constraints: r.Spread, aff: nodeaffinity.NewRequiredNodeAffinity(r.NodeSelector, r.Affinity),
		tolerations: r.Tolerations, perValue: make([]map[string]int32, n), domainOf: make([]map[string]string, n)}
	s := &spreadAfter{g: g, self: make([]int32, n), least: make([]int32, n)}
	for i := range g.constraints {
		c := &g.constraints[i]
		g.perValue[i], g.domainOf[i] = map[string]int32{}, map[string]string{}
		for j := range nodes {
			node := nodes[j].Node
			ready := agentnode.ReadyCondition(node)
			if g.eligible(i, node.Name, node.Labels, blockingTaints(node.Spec.Taints, ready != nil && ready.Status == corev1.ConditionTrue)) {
				v := node.Labels[c.TopologyKey]
				g.domainOf[i][node.Name] = v
				g.perValue[i][v] += 0
			}
		}
		if c.Selector != nil && c.Selector.Matches(labels.Set(r.Labels)) {
			s.self[i] = 1
		}
	}
	if o != nil {
		for _, p := range o.podsIn(r.Namespace) {
			if p.Terminating || p.UID == r.PodUID {
				continue
			}
			for i := range g.constraints {
				if v, ok := g.domainOf[i][p.NodeName]; ok && s.counts(i, p.Namespace, p.Labels) {
					g.perValue[i][v]++
				}
			}
		}
	}
	for i := range g.constraints {
		least := int32(-1)
		for _, count := range g.perValue[i] {
			if least < 0 || count < least {
				least = count
			}
		}
		s.least[i] = max(least, 0)
	}
	return s
}

// counts says whether constraint i counts a pod of that namespace and labels.
func (s *spreadAfter) counts(i int, namespace string, podLabels map[string]string) bool {
	sel := s.g.constraints[i].Selector
	return namespace == s.g.namespace && sel != nil && sel.Matches(labels.Set(podLabels))
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
		if s.counts(i, p.Pod.Namespace, p.Pod.Labels) {
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
		v := s.g.domainOf[i][node]
		after := max(s.g.perValue[i][v]-gone[i], 0)
		least := min(s.least[i], after) // only this domain lost pods
		if len(s.g.perValue[i]) < int(max(c.MinDomains, 1)) {
			least = 0
		}
		if after+s.self[i] > least+c.MaxSkew {
			return false
		}
	}
	return true
}
