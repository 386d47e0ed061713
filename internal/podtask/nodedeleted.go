package podtask

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// NodeDeletedMessage says why the task of a pod bound to a deleted Node ended before it
// ran.
func NodeDeletedMessage(node string) string {
	return fmt.Sprintf("The pod's Node %s was deleted (its agent left the Mesos cluster) before its task ran there; "+
		"a bound pod cannot move to another Node, so it failed, for its controller to make it again", node)
}

// NodeDeleted is the status of the task of a pod bound to a Node that was deleted while
// the task waited to be launched there (never launched, or launched and not held by
// Mesos: dropped as its agent left): Gone, its pod Failed with ReasonNodeLost and why, at
// now. Nothing of it runs, and no launch can reach the Node again; the pod garbage
// collector would delete such a pod, where one runs.
func NodeDeleted(st mesosv1alpha1.MesosTaskStatus, node string, now metav1.Time) mesosv1alpha1.MesosTaskStatus {
	return endedWithout(st, ReasonNodeLost, NodeDeletedMessage(node), now)
}

// EndedWithoutMesos says whether a task's status was ended by the operator, Mesos having
// said nothing of it (EndedWithFramework, NodeDeleted): its pod takes its reason and
// message as they are.
func EndedWithoutMesos(st *mesosv1alpha1.MesosTaskStatus) bool {
	return EndedWithFrameworkStatus(st) || (st.Phase == mesosv1alpha1.TaskPhaseGone && st.Reason == ReasonNodeLost)
}
