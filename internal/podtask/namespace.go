package podtask

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// NamespaceTaken says whether a cluster takes the pods of a namespace: its
// spec.namespaceSelector matches the namespace's labels. No selector takes every
// namespace; one that is no label selector (the cluster is Degraded,
// InvalidNamespaceSelector) takes none.
func NamespaceTaken(mc *mesosv1alpha1.MesosCluster, ns *corev1.Namespace) bool {
	if mc.Spec.NamespaceSelector == nil {
		return true
	}
	sel, err := metav1.LabelSelectorAsSelector(mc.Spec.NamespaceSelector)
	if err != nil {
		return false
	}
	return sel.Matches(labels.Set(ns.Labels))
}

// NamespaceNotTakenMessage says why a cluster does not take a pod of a namespace.
func NamespaceNotTakenMessage(cluster, namespace string) string {
	return fmt.Sprintf("MesosCluster %s does not take pods of namespace %s (spec.namespaceSelector)", cluster, namespace)
}

// SetNamespaceNotTaken is what a pod waiting, unbound, in a namespace its cluster does
// not take says: PodScheduled=False, reason NamespaceNotAllowed. It is taken once its
// namespace's labels, or the cluster's selector, let it.
func SetNamespaceNotTaken(ps *corev1.PodStatus, msg string) {
	SetPodCondition(ps, corev1.PodScheduled, corev1.ConditionFalse, ReasonNamespaceNotAllowed, msg)
}
