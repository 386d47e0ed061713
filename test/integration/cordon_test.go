package integration

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// kubectl cordon and drain work on agents' Nodes as on a kubelet's: a cordoned agent
// gets no new pod, and one tainted NoSchedule none that does not tolerate the taint.
// Uncordoned, it takes the pod that waits at once, though the offers it made while
// cordoned were declined for an hour (refuseSeconds): the change revives them.
var _ = Describe("A cordoned or tainted agent", func() {
	It("gets no new pod, and takes them again once uncordoned", func() {
		sim := startSim(2, "cpus:4;mem:8192;disk:10000")
		mc := simClusterWith(sim, func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.Placement.RefuseSeconds = new(int32(3600)) })
		cordoned := agentNodeOf(mc, "agent-1")
		setUnschedulable := func(v bool) {
			node := &corev1.Node{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Name: cordoned}, node)).To(Succeed())
			before := node.DeepCopy()
			node.Spec.Unschedulable = v
			Expect(k8sClient.Patch(ctx, node, client.MergeFrom(before))).To(Succeed())
		}
		setUnschedulable(true)
		ns := newNamespace()
		nodesOf := func(names ...string) func() ([]string, error) {
			return func() ([]string, error) {
				var out []string
				for _, n := range names {
					p, err := podOf(client.ObjectKey{Namespace: ns, Name: n})()
					if err != nil {
						return nil, err
					}
					out = append(out, p.Spec.NodeName)
				}
				return out, nil
			}
		}
		var names []string
		for i := range 4 {
			pod := newPod(ns, fmt.Sprintf("p%d", i), mc.Spec.SchedulerName, "100m")
			Expect(k8sClient.Create(ctx, pod)).To(Succeed())
			names = append(names, pod.Name)
		}
		other := agentNodeOf(mc, "agent-2")
		Eventually(nodesOf(names...), 30*time.Second, 100*time.Millisecond).Should(HaveEach(other), "no pod on the cordoned agent")

		By("tainting the other agent, a pod waits, saying why")
		node := &corev1.Node{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: other}, node)).To(Succeed())
		before := node.DeepCopy()
		node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule})
		Expect(k8sClient.Patch(ctx, node, client.MergeFrom(before))).To(Succeed())
		waiting := newPod(ns, "waiting", mc.Spec.SchedulerName, "100m")
		Expect(k8sClient.Create(ctx, waiting)).To(Succeed())
		Eventually(func() string {
			p, err := podOf(client.ObjectKeyFromObject(waiting))()
			if err != nil {
				return err.Error()
			}
			return podCondition(p, corev1.PodScheduled)
		}, 30*time.Second, 100*time.Millisecond).Should(And(HavePrefix("False/Unschedulable: "),
			Or(ContainSubstring("had untolerated taints"), ContainSubstring("cordoned (unschedulable)"))),
			"the message counts the agents that offered in the latest round, one or both")
		Consistently(nodesOf("waiting"), 2*time.Second, 100*time.Millisecond).Should(Equal([]string{""}), "the tainted agent takes no pod that does not tolerate it")

		By("uncordoning the first agent, the pod runs there")
		setUnschedulable(false)
		Eventually(nodesOf("waiting"), 30*time.Second, 100*time.Millisecond).Should(Equal([]string{cordoned}))
	})
})
