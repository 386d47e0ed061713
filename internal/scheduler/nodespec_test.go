package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
)

// An agent's Node name held by a Node that is not the cluster's keeps the agent's pods
// off it (placement's reasonNodeTaken): another MesosCluster's Node, or a kubelet's (no
// mesos.k8sm.io/cluster label, made by no MesosCluster), whose kubelet would run any pod
// bound there beside the task. A Node the cluster made stays its own without the label.
func TestNodeSpecSaysWhetherTheNodeIsTheClusters(t *testing.T) {
	owner := metav1.OwnerReference{APIVersion: mesosv1alpha1.GroupVersion.String(), Kind: "MesosCluster", Name: "c", UID: "u1"}
	for _, tc := range []struct {
		name      string
		node      *corev1.Node
		wantTaken bool
	}{
		{name: "the cluster's", node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "mesos-c-h", Labels: map[string]string{agentnode.LabelCluster: "c"}}}},
		{name: "made by the cluster, its label removed", node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "mesos-c-h",
			OwnerReferences: []metav1.OwnerReference{owner}}}},
		{name: "another cluster's", node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "mesos-c-h", Labels: map[string]string{agentnode.LabelCluster: "d"}}},
			wantTaken: true},
		{name: "a kubelet's", node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "mesos-c-h", Labels: map[string]string{corev1.LabelHostname: "mesos-c-h"}}},
			wantTaken: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newTestScheduler(fakeAPI(t, tc.node), newFakeDriver())
			st, ok := s.nodeSpec(tc.node.Name)
			if !ok {
				t.Fatal("the Node was not found")
			}
			if st.OtherCluster != tc.wantTaken {
				t.Errorf("the Node is taken: %v, want %v", st.OtherCluster, tc.wantTaken)
			}
		})
	}
	s, _ := newTestScheduler(fakeAPI(t), newFakeDriver())
	if _, ok := s.nodeSpec("mesos-c-new"); ok {
		t.Error("a Node that does not exist yet has a state")
	}
}
