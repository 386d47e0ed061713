package integration

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A pod of a higher PriorityClass that fits nowhere has a pod of lower priority
// preempted for it, as kube-scheduler does: the victim is deleted (its task killed),
// the pod is nominated to the agent's Node and runs there once Mesos offers the room;
// both are told in events.
var _ = Describe("Preemption", func() {
	It("deletes a pod of lower priority for one that fits nowhere, which then runs", func() {
		sim := startSim(1, "cpus:1;mem:2048;disk:10000")
		mc := simCluster(sim)
		node := agentNodeOf(mc, "agent-1")
		ns := newNamespace()
		var low []client.ObjectKey
		for _, name := range []string{"low-1", "low-2"} {
			pod := newPod(ns, name, mc.Spec.SchedulerName, "400m")
			Expect(k8sClient.Create(ctx, pod)).To(Succeed())
			low = append(low, client.ObjectKeyFromObject(pod))
			Eventually(podOf(client.ObjectKeyFromObject(pod)), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		}

		pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{GenerateName: "k8sm-high-"}, Value: 1000}
		Expect(k8sClient.Create(ctx, pc)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, pc) })
		high := newPod(ns, "high", mc.Spec.SchedulerName, "400m")
		high.Spec.PriorityClassName = pc.Name
		Expect(k8sClient.Create(ctx, high)).To(Succeed())

		Eventually(podOf(client.ObjectKeyFromObject(high)), 60*time.Second, 200*time.Millisecond).Should(And(
			HaveField("Spec.NodeName", node), HaveField("Status.Phase", corev1.PodRunning)))
		gone := 0
		for _, key := range low {
			if err := k8sClient.Get(ctx, key, &corev1.Pod{}); apierrors.IsNotFound(err) {
				gone++
			}
		}
		Expect(gone).To(Equal(1), "one pod of lower priority preempted, not both")
		Eventually(eventsIn(ns), 10*time.Second, 200*time.Millisecond).Should(ContainElements(
			"Pod/high Normal Preempting", MatchRegexp(`^Pod/low-[12] Normal Preempted$`)))
	})
})
