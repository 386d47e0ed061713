package integration

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

var _ = Describe("Mesos master failover", func() {
	It("resubscribes with the same framework id, reconciles, and keeps the running pod", func() {
		sim := startSim(2, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		id := mc.Status.FrameworkID
		Expect(id).NotTo(BeEmpty())
		ns := newNamespace()
		pod := newPod(ns, "survivor", mc.Spec.SchedulerName, "500m")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		Eventually(podOf(key), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		reconcilesBefore := sim.State().Frameworks[0].Reconciles

		By("failing the master over: every stream ends, the frameworks must subscribe again")
		masterBefore := sim.State().ID
		sim.FailoverMaster()
		Expect(sim.State().ID).NotTo(Equal(masterBefore))

		Eventually(func() map[string]float64 { return clusterMetrics(mc.Name) }, 30*time.Second, 100*time.Millisecond).Should(And(
			HaveKeyWithValue("k8sm_framework_reconnects_total", BeNumerically(">=", 1)),
			HaveKeyWithValue("k8sm_framework_subscribed", 1.0)))
		Eventually(func() bool {
			st := sim.State()
			return len(st.Frameworks) == 1 && st.Frameworks[0].Connected && st.Frameworks[0].Reconciles > reconcilesBefore
		}, 30*time.Second, 100*time.Millisecond).Should(BeTrue(), "the framework must resubscribe and reconcile its tasks")
		got := &mesosv1alpha1.MesosCluster{}
		Eventually(func() string {
			_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), got)
			return got.Status.FrameworkID
		}, 20*time.Second).Should(Equal(id))
		Eventually(condition(mc, mesosv1alpha1.ConditionReconciled), 20*time.Second, 100*time.Millisecond).Should(HavePrefix("True/"))
		Expect(sim.State().Frameworks[0].ID).To(Equal(id))

		By("the pod and its task ran on undisturbed, and new pods still run")
		p, err := podOf(key)()
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Status.Phase).To(Equal(corev1.PodRunning))
		Expect(sim.State().Frameworks[0].Tasks).To(ConsistOf(HaveField("State", "TASK_RUNNING")))
		after := newPod(ns, "newcomer", mc.Spec.SchedulerName, "500m")
		Expect(k8sClient.Create(ctx, after)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(after)), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
	})
})
