package agentnode

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Opened says whether a Node may take pods after a change that it could not take before,
// as placement reads a Node (the scheduler's nodeSpec): it was uncordoned, a taint of it
// went (or changed its value or effect), or its labels changed (a node selector or
// affinity may match now). Its status (heartbeats, conditions) and a taint's time added
// do not count.
func Opened(before, after *corev1.Node) bool {
	if before == nil || after == nil {
		return false
	}
	if before.Spec.Unschedulable && !after.Spec.Unschedulable {
		return true
	}
	for _, t := range before.Spec.Taints {
		if !slices.ContainsFunc(after.Spec.Taints, sameTaint(t)) {
			return true
		}
	}
	return !maps.Equal(before.Labels, after.Labels)
}

// sameTaint matches a taint of the same key, effect and value as t.
func sameTaint(t corev1.Taint) func(corev1.Taint) bool {
	return func(o corev1.Taint) bool { return o.Key == t.Key && o.Effect == t.Effect && o.Value == t.Value }
}
