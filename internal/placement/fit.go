package placement

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/k8sm/k8sm/internal/agentnode"
)

// fits returns -1 when the request (plus the executor, if the agent still needs it)
// fits the offer, else the first reason it does not.
func (s *offerState) fits(r *Request, sel *selector, exec *Request) int {
	if r.Node != "" && r.Node != s.agent.node.Name {
		return reasonPinned
	}
	if s.agent.otherCluster {
		return reasonNodeTaken
	}
	if s.agent.remote && r.Node == "" && (sel == nil || !sel.region) {
		return reasonRemoteRegion
	}
	if r.Role != "" && !s.hasRole(r.Role) {
		return reasonRole
	}
	if !sel.matches(s.agent) {
		return reasonSelector
	}
	if r.Node == "" {
		if s.agent.unschedulable && !tolerates(r.Tolerations, &unschedulableTaint) {
			return reasonUnschedulable
		}
		for i := range s.agent.taints {
			if !tolerates(r.Tolerations, &s.agent.taints[i]) {
				return reasonTaint
			}
		}
	}
	if exec != nil && s.agent.execRole != "" && s.acceptRole() != s.agent.execRole {
		return reasonExecutorStarting
	}
	if exec != nil && s.agent.needExecutor {
		for k := 0; k < kindCount; k++ {
			v := r.amount(k)
			if k != kindGPUs {
				v += exec.amount(k)
			}
			if v > epsilon && s.free(k, r.Role)+epsilon < v {
				return reasonCPUs + k
			}
		}
	} else if r.Role == "" {
		// The common case, without calls: what is left for any role.
		switch {
		case r.CPUs > epsilon && s.left[kindCPUs]+epsilon < r.CPUs:
			return reasonCPUs
		case r.MemMB > epsilon && s.left[kindMem]+epsilon < r.MemMB:
			return reasonMem
		case r.DiskMB > epsilon && s.left[kindDisk]+epsilon < r.DiskMB:
			return reasonDisk
		case r.GPUs > epsilon && s.left[kindGPUs]+epsilon < r.GPUs:
			return reasonGPUs
		}
	} else {
		for k := 0; k < kindCount; k++ {
			if v := r.amount(k); v > epsilon && s.free(k, r.Role)+epsilon < v {
				return reasonCPUs + k
			}
		}
	}
	for i, p := range r.HostPorts {
		if slices.Contains(r.HostPorts[:i], p) {
			continue
		}
		if _, used := s.agent.usedPorts[uint64(p)]; used || s.portRangeOf(uint64(p), r.Role) < 0 {
			return reasonPorts
		}
	}
	return -1
}

// maintenanceTaint is the taint of an agent whose machine Mesos's operator scheduled for
// maintenance (its offers carry the window), as its Node shows it.
var maintenanceTaint = agentnode.MaintenanceTaint()

// unschedulableTaint is the taint a cordoned Node stands for: a pod that tolerates it
// may go there (kube-scheduler's NodeUnschedulable filter).
var unschedulableTaint = corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}

// tolerates says whether one of the tolerations tolerates the taint.
func tolerates(tolerations []corev1.Toleration, taint *corev1.Taint) bool {
	for i := range tolerations {
		if tolerations[i].ToleratesTaint(logr.Discard(), taint, false) {
			return true
		}
	}
	return false
}

// blockingTaints are the taints of an agent's Node that keep a pod away unless it
// tolerates them: NoSchedule and NoExecute, but the cluster's own agent taint and, when
// the agent is offered in the round, the node lifecycle's not-ready and unreachable
// taints. Those say only that the manager's Lease of the Node was not renewed in time
// (or, on a new Node, that kube-controller-manager has not seen it Ready yet, or runs
// nowhere); an offer of the agent says better that Mesos reaches it. Without an offer
// nothing says so, and a Node is held to them as kube-scheduler holds any Node. Nil
// when none.
func blockingTaints(taints []corev1.Taint, offered bool) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range taints {
		switch {
		case t.Key == agentnode.TaintAgent:
		case offered && (t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable):
		case t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute:
			out = append(out, t)
		}
	}
	return out
}

// preferNotTaints are the PreferNoSchedule taints of a Node, which kube-scheduler's
// TaintToleration scores it by: nil when it has none.
func preferNotTaints(taints []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectPreferNoSchedule {
			out = append(out, t)
		}
	}
	return out
}

// untolerated counts the taints the tolerations do not tolerate.
func untolerated(tolerations []corev1.Toleration, taints []corev1.Taint) int64 {
	var n int64
	for i := range taints {
		if !tolerates(tolerations, &taints[i]) {
			n++
		}
	}
	return n
}

// selector is one distinct node selector of a round with its verdict per agent.
type selector struct {
	aff nodeaffinity.RequiredNodeAffinity
	// region: the selector names the agents' region or Node (selectsRegion), and so may
	// take an agent of another region than the master's.
	region bool
	// verdict per agent index: 0 unknown, 1 matches, 2 does not.
	verdict []int8
}

// matches says whether the agent's Node matches, working it out once per agent: a
// round asks the same selector about the same agents many times.
func (sel *selector) matches(a *agentState) bool {
	if sel == nil {
		return true
	}
	switch sel.verdict[a.index] {
	case 1:
		return true
	case 2:
		return false
	}
	ok, _ := sel.aff.Match(a.node)
	sel.verdict[a.index] = 2
	if ok {
		sel.verdict[a.index] = 1
	}
	return ok
}

// selectsRegion says whether a pod's node selector or required node affinity picks the
// region it goes to: its node selector names topology.kubernetes.io/region, or each
// term of its required affinity names it, or the Node (metadata.name), as a
// DaemonSet's pods do. Mesos leaves it to a REGION_AWARE framework to know when a task
// may go to an agent of another region than the master's (docs/fault-domains.md), and
// for a pod that is when it says so: the others stay in the master's.
func selectsRegion(nodeSelector map[string]string, aff *corev1.Affinity) bool {
	if _, ok := nodeSelector[corev1.LabelTopologyRegion]; ok {
		return true
	}
	if aff == nil || aff.NodeAffinity == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	terms := aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for i := range terms {
		names := slices.ContainsFunc(terms[i].MatchExpressions, func(e corev1.NodeSelectorRequirement) bool {
			return e.Key == corev1.LabelTopologyRegion
		}) || slices.ContainsFunc(terms[i].MatchFields, func(e corev1.NodeSelectorRequirement) bool {
			return e.Key == metav1.ObjectNameField
		})
		if !names {
			return false
		}
	}
	return len(terms) > 0
}

// selectorKey is a canonical text of a request's node selector and required affinity,
// or "" when it has neither.
func selectorKey(r *Request) string {
	var req *corev1.NodeSelector
	if a := r.Affinity; a != nil && a.NodeAffinity != nil {
		req = a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	if len(r.NodeSelector) == 0 && req == nil {
		return ""
	}
	// encoding/json sorts map keys, so equal selectors give equal keys.
	b, err := json.Marshal(struct {
		S map[string]string    `json:"s,omitempty"`
		A *corev1.NodeSelector `json:"a,omitempty"`
	}{r.NodeSelector, req})
	if err != nil {
		return fmt.Sprintf("%p", r)
	}
	return string(b)
}
