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

// No finalizer wedge: once its MesosCluster is deleted, nothing can kill a task any more
// (its framework was torn down, or orphaned), so its MesosTask and, when deleted, its pod
// are let go instead of staying Terminating, and so would a namespace holding them.
var _ = Describe("The tasks of a deleted MesosCluster", func() {
	for _, policy := range []mesosv1alpha1.DeletionPolicy{mesosv1alpha1.DeletionOrphan, mesosv1alpha1.DeletionTeardown} {
		It("are released with deletionPolicy "+string(policy), func() {
			sim := startSim(1, "cpus:2;mem:4096;disk:10000")
			mc := simCluster(sim)
			ns := newNamespace()
			pod := newPod(ns, "left", mc.Spec.SchedulerName, "100m")
			Expect(k8sClient.Create(ctx, pod)).To(Succeed())
			key := client.ObjectKeyFromObject(pod)
			Eventually(podOf(key), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))

			By("deleting the cluster with deletionPolicy " + string(policy))
			Expect(updateCluster(mc, func(c *mesosv1alpha1.MesosCluster) { c.Spec.DeletionPolicy = policy })).To(Succeed())
			Expect(k8sClient.Delete(ctx, mc)).To(Succeed())
			Eventually(func() bool {
				return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), &mesosv1alpha1.MesosCluster{}))
			}, 20*time.Second, 100*time.Millisecond).Should(BeTrue())
			if policy == mesosv1alpha1.DeletionOrphan {
				Expect(unkilledTasks(sim)()).To(ConsistOf("TASK_RUNNING"), "an orphaned framework's task runs on")
			} else {
				Eventually(unkilledTasks(sim), 10*time.Second, 100*time.Millisecond).Should(BeEmpty(), "the teardown kills the task")
			}

			By("deleting the pod: it and its MesosTask go, though no task can be killed")
			Expect(k8sClient.Delete(ctx, pod)).To(Succeed())
			Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, key, &corev1.Pod{})) },
				20*time.Second, 100*time.Millisecond).Should(BeTrue(), "the pod stays Terminating")
			Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, key, &mesosv1alpha1.MesosTask{})) },
				20*time.Second, 100*time.Millisecond).Should(BeTrue(), "the MesosTask stays Terminating")
		})
	}

	It("let go of a pod whose task had not reported, which has no MesosTask", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		sim.DelayUpdates(time.Minute)
		DeferCleanup(func() { sim.DelayUpdates(0) })
		pod := newPod(newNamespace(), "early", mc.Spec.SchedulerName, "100m")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		Eventually(unkilledTasks(sim), 20*time.Second, 50*time.Millisecond).ShouldNot(BeEmpty())
		Expect(apierrors.IsNotFound(k8sClient.Get(ctx, key, &mesosv1alpha1.MesosTask{}))).To(BeTrue())

		Expect(updateCluster(mc, func(c *mesosv1alpha1.MesosCluster) { c.Spec.DeletionPolicy = mesosv1alpha1.DeletionOrphan })).To(Succeed())
		Expect(k8sClient.Delete(ctx, mc)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), &mesosv1alpha1.MesosCluster{}))
		}, 20*time.Second, 100*time.Millisecond).Should(BeTrue())

		Expect(k8sClient.Delete(ctx, pod)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, key, &corev1.Pod{})) },
			20*time.Second, 100*time.Millisecond).Should(BeTrue(), "the pod stays Terminating")
	})
})
