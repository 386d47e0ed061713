package integration

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
)

// A pod bound to the Node of an agent that left for good, whose task never ran there,
// waits for that agent; once the Node is deleted (the suite's grace period is 3 s) it
// fails with NodeLost, for its controller to make it again, without kube-controller-
// manager's pod garbage collector (the suite runs none).
var _ = Describe("A pod waiting on the Node of an agent removed for good", func() {
	It("fails NodeLost once the Node is deleted", func() {
		sim := startSim(2, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		node := agentNodeOf(mc, "agent-2")
		Expect(sim.RemoveAgent("agent-2")).To(Succeed())
		// As a DaemonSet's pod, bound by kube-scheduler before the agent left.
		pod := newPod(newNamespace(), "daemon", corev1.DefaultSchedulerName, "500m")
		pod.Spec.NodeName = node
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)

		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKey{Name: node}, &corev1.Node{}))
		}, 30*time.Second, 100*time.Millisecond).Should(BeTrue(), "the Node of the removed agent must be deleted")
		Eventually(podOf(key), 30*time.Second, 100*time.Millisecond).Should(And(
			HaveField("Status.Phase", corev1.PodFailed), HaveField("Status.Reason", podtask.ReasonNodeLost),
			HaveField("Status.Message", podtask.NodeDeletedMessage(node))))
		mt := &mesosv1alpha1.MesosTask{}
		Expect(k8sClient.Get(ctx, key, mt)).To(Succeed())
		Expect(mt.Status.Phase).To(Equal(mesosv1alpha1.TaskPhaseGone))
		Expect(sim.State().Frameworks[0].Tasks).To(BeEmpty(), "nothing was launched")
	})
})
