package scheduler

import (
	"context"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

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

// A node selector matches the labels a person put on the agent's Node (kubectl label
// node), as kube-scheduler matches a Node's labels whoever set them: for a pod to place
// and for a pod bound there (a DaemonSet's) alike. The labels k8sm reads off the offer
// (the agent's hostname, its attributes, the cluster's) are the offer's, whatever the
// Node says: a label on the Node cannot pass one agent for another.
func TestANodeSelectorMatchesTheAgentNodesOwnLabels(t *testing.T) {
	for _, tc := range []struct {
		name     string
		selector map[string]string
		bound    bool
		launched bool
	}{
		{name: "a label of the Node", selector: map[string]string{"disktype": "ssd"}, launched: true},
		{name: "a label of the Node, bound there", selector: map[string]string{"disktype": "ssd"}, bound: true, launched: true},
		{name: "a label the Node does not have", selector: map[string]string{"disktype": "hdd"}},
		{name: "an attribute label the Node alone has", selector: map[string]string{agentnode.LabelAttributePrefix + "rack": "r9"}},
		{name: "a hostname the Node alone has", selector: map[string]string{corev1.LabelHostname: "agent-9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "mesos-c-agent-1", Labels: map[string]string{
				agentnode.LabelCluster: "c", "disktype": "ssd", agentnode.LabelAttributePrefix + "rack": "r9", corev1.LabelHostname: "agent-9"}}}
			pod, mt := podWithTask("p", "500m")
			pod.Spec.NodeSelector = tc.selector
			if tc.bound {
				pod.Spec.NodeName = node.Name
			}
			c := fakeAPI(t, node, pod, mt)
			d := newFakeDriver()
			s, _ := newTestScheduler(c, d)
			ctx := context.Background()
			s.Enqueue(ctx, mt, pod)

			s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})

			if got := d.launches["o-agent-1"]; (len(got) == 1) != tc.launched {
				t.Fatalf("ACCEPT of o-agent-1 launched %v, want the task launched: %v", got, tc.launched)
			}
			if tc.launched || tc.bound {
				return
			}
			got := &corev1.Pod{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(pod), got); err != nil {
				t.Fatal(err)
			}
			if cond := got.Status.Conditions; len(cond) != 1 || cond[0].Message != "0/1 agents available: 1 didn't match node selector." {
				t.Errorf("the pod's conditions = %+v, want it told no agent matched its node selector", cond)
			}
		})
	}
}
