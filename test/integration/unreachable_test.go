package integration

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

var _ = Describe("Tasks of an agent Mesos lost", func() {
	It("end for a framework that is not PARTITION_AWARE, and their deleted pods go", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simClusterWith(sim, func(mc *mesosv1alpha1.MesosCluster) {
			mc.Spec.Framework.Capabilities = []mesosv1alpha1.FrameworkCapability{"TASK_KILLING_STATE"}
		})
		pod := newPod(newNamespace(), "lost", mc.Spec.SchedulerName, "100m")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		Eventually(podOf(key), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))

		// TASK_LOST (REASON_SLAVE_REMOVED), then, asked again, TASK_LOST from
		// reconciliation: Mesos no longer knows the task.
		Expect(sim.PartitionAgent("agent-1")).To(Succeed())
		mt := &mesosv1alpha1.MesosTask{}
		Eventually(func() (mesosv1alpha1.TaskPhase, error) {
			err := k8sClient.Get(ctx, key, mt)
			return mt.Status.Phase, err
		}, 20*time.Second, 100*time.Millisecond).Should(Equal(mesosv1alpha1.TaskPhaseGone))
		Expect(mt.Status.MesosState).To(Equal("TASK_LOST"))
		Eventually(podOf(key), 20*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodFailed))

		Expect(k8sClient.Delete(ctx, pod)).To(Succeed())
		Eventually(func() bool {
			_, err := podOf(key)()
			return apierrors.IsNotFound(err)
		}, 20*time.Second, 100*time.Millisecond).Should(BeTrue(), "the deleted pod of a task Mesos lost must go")
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, key, &mesosv1alpha1.MesosTask{}))
		}, 20*time.Second, 100*time.Millisecond).Should(BeTrue(), "its MesosTask must let go of its finalizer")

		By("healing the partition: the task that comes back is killed")
		Expect(sim.HealAgent("agent-1")).To(Succeed())
		Eventually(unkilledTasks(sim), 30*time.Second, 100*time.Millisecond).Should(BeEmpty())
	})
})
