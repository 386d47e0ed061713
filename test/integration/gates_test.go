package integration

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/podtask"
)

// A pod with scheduling gates waits out of the queue, as kube-scheduler keeps it, with
// the API server's SchedulingGated condition; the update that removes its last gate
// takes it.
var _ = Describe("A pod with scheduling gates", func() {
	It("takes no offer while gated, and is placed once its gates are removed", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		ns := newNamespace()
		// Older, the gated pod would get the first pick of the agent's 2 cpus, and leave
		// too little for the other.
		gated := newPod(ns, "gated", mc.Spec.SchedulerName, "1500m")
		gated.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/quota"}}
		Expect(k8sClient.Create(ctx, gated)).To(Succeed())
		key := client.ObjectKeyFromObject(gated)
		plain := newPod(ns, "plain", mc.Spec.SchedulerName, "500m")
		Expect(k8sClient.Create(ctx, plain)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(plain)), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))

		scheduled := func() (string, error) {
			p, err := podOf(key)()
			if err != nil {
				return "", err
			}
			return p.Spec.NodeName + " " + podCondition(p, corev1.PodScheduled), nil
		}
		Consistently(scheduled, 2*time.Second, 200*time.Millisecond).Should(HavePrefix(" False/" + corev1.PodReasonSchedulingGated))
		Expect(simTaskIDs(sim)()).To(ConsistOf(podtask.TaskIDFor(plain)), "no task for the gated pod")

		// Room for it once the other goes.
		Expect(k8sClient.Delete(ctx, plain)).To(Succeed())
		Eventually(func() bool {
			_, err := podOf(client.ObjectKeyFromObject(plain))()
			return apierrors.IsNotFound(err)
		}, 30*time.Second, 100*time.Millisecond).Should(BeTrue())
		p, err := podOf(key)()
		Expect(err).NotTo(HaveOccurred())
		p.Spec.SchedulingGates = nil
		Expect(k8sClient.Update(ctx, p)).To(Succeed())
		Eventually(podOf(key), 30*time.Second, 100*time.Millisecond).Should(And(
			HaveField("Spec.NodeName", agentNodeOf(mc, "agent-1")), HaveField("Status.Phase", corev1.PodRunning)))
	})
})
