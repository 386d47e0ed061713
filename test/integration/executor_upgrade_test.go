package integration

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// Changing spec.executor while pods run: Mesos refuses a task whose ExecutorInfo differs
// from the running executor's of the same id, so the new executor gets a new id. New
// pods start it beside the old one, which runs out with the pods launched before, and
// the cluster's status shows both.
var _ = Describe("An executor upgrade", func() {
	It("runs new pods on the new executor and old ones on the old, and shows both", func() {
		sim := startSim(1, "cpus:4;mem:4096;disk:10000")
		mc := simCluster(sim)
		ns := newNamespace()
		old := newPod(ns, "old", mc.Spec.SchedulerName, "100m")
		Expect(k8sClient.Create(ctx, old)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(old)), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		oldExecutor := executorOf(client.ObjectKeyFromObject(old))
		Expect(oldExecutor).To(HavePrefix("k8sm-executor-" + mc.Name + "-"))

		By("changing the executor's resources")
		Expect(updateCluster(mc, func(c *mesosv1alpha1.MesosCluster) {
			cpus := resource.MustParse("200m")
			c.Spec.Executor.Resources.CPUs = &cpus
		})).To(Succeed())
		Eventually(func() bool {
			_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), mc)
			return mc.Status.ObservedGeneration == mc.Generation
		}, 20*time.Second, 100*time.Millisecond).Should(BeTrue())

		newer := newPod(ns, "new", mc.Spec.SchedulerName, "100m")
		Expect(k8sClient.Create(ctx, newer)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(newer)), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning),
			"a new pod must not fail against the running executor (ExecutorInfo is not compatible)")
		Expect(mc.Status.ExecutorID).NotTo(Equal(oldExecutor))
		Expect(executorOf(client.ObjectKeyFromObject(newer))).To(Equal(mc.Status.ExecutorID))
		Consistently(podOf(client.ObjectKeyFromObject(old)), 2*time.Second, 200*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		Eventually(func() []mesosv1alpha1.ExecutorUsage {
			_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), mc)
			return mc.Status.Executors
		}, 20*time.Second, 200*time.Millisecond).Should(ConsistOf(
			mesosv1alpha1.ExecutorUsage{ID: oldExecutor, Agents: 1, Tasks: 1},
			mesosv1alpha1.ExecutorUsage{ID: mc.Status.ExecutorID, Agents: 1, Tasks: 1}))
	})
})

// executorOf is the executor a pod's task was launched in, as its MesosTask says.
func executorOf(key client.ObjectKey) string {
	mt := &mesosv1alpha1.MesosTask{}
	Eventually(taskAt(key, mt), recordWait, 100*time.Millisecond).Should(Succeed())
	return mt.Status.ExecutorID
}
