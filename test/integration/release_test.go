package integration

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
			// Before it went, the cluster let go of its MesosTasks: an uninstall that deletes
			// the CRDs now finds none that waits for a manager.
			mt := &mesosv1alpha1.MesosTask{}
			Expect(k8sClient.Get(ctx, key, mt)).To(Succeed())
			Expect(mt.Finalizers).To(BeEmpty(), "the MesosTask of a deleted cluster keeps its finalizer")
			if policy == mesosv1alpha1.DeletionOrphan {
				Expect(unkilledTasks(sim)()).To(ConsistOf("TASK_RUNNING"), "an orphaned framework's task runs on")
			} else {
				Eventually(unkilledTasks(sim), 10*time.Second, 100*time.Millisecond).Should(BeEmpty(), "the teardown kills the task")
			}
			Consistently(func() []string {
				_ = k8sClient.Get(ctx, key, mt)
				return mt.Finalizers
			}, 2*time.Second, 100*time.Millisecond).Should(BeEmpty(), "the finalizer is added back")

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

	// An orphaned framework's pods go with the cluster's Nodes (PodGC). A cluster made
	// again under its name has no status.frameworkID to fail over with, but it takes back
	// the framework its labels name, which no scheduler holds: the orphaned task, whose pod
	// is gone, is then killed, rather than running on beside the pods made again until the
	// old framework's failover timeout.
	It("name an orphaned framework and its failover timeout, and a cluster made again takes it back", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simClusterWith(sim, func(c *mesosv1alpha1.MesosCluster) {
			c.Spec.DeletionPolicy = mesosv1alpha1.DeletionOrphan
			c.Spec.Framework.FailoverTimeout = &metav1.Duration{Duration: 2 * time.Hour}
		})
		pod := newPod(newNamespace(), "orphan", mc.Spec.SchedulerName, "100m")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		Eventually(podOf(key), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), mc)).To(Succeed())
		old := mc.Status.FrameworkID
		Expect(old).NotTo(BeEmpty())

		By("deleting the cluster")
		Expect(k8sClient.Delete(ctx, mc)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), &mesosv1alpha1.MesosCluster{}))
		}, 20*time.Second, 100*time.Millisecond).Should(BeTrue())
		Eventually(eventsOn("MesosCluster", mc.Name), 10*time.Second, 100*time.Millisecond).Should(ContainElement(And(
			HavePrefix("Normal Orphaned "), ContainSubstring(old), ContainSubstring("2h0m0s"))))
		// Its pod goes as PodGC would take it once the Nodes are gone.
		Expect(k8sClient.Delete(ctx, pod)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, key, &corev1.Pod{})) },
			20*time.Second, 100*time.Millisecond).Should(BeTrue())

		Expect(sim.State().Frameworks).To(ConsistOf(HaveField("Tasks", ConsistOf(HaveField("State", "TASK_RUNNING")))),
			"the orphaned framework's task runs on")

		By("making the cluster again under the same name")
		again := simClusterWith(sim, func(c *mesosv1alpha1.MesosCluster) {
			c.GenerateName, c.Name = "", mc.Name
			c.Spec.SchedulerName = mc.Spec.SchedulerName
		})
		Eventually(func() (string, error) {
			err := k8sClient.Get(ctx, client.ObjectKeyFromObject(again), again)
			return again.Status.FrameworkID, err
		}, 10*time.Second, 100*time.Millisecond).ShouldNot(BeEmpty())
		Expect(again.Status.FrameworkID).To(Equal(old), "the cluster made again registered a new framework beside the orphaned one")
		Expect(sim.State().Frameworks).To(HaveLen(1))
		Eventually(eventsOn("MesosCluster", again.Name), 10*time.Second, 100*time.Millisecond).Should(ContainElement(And(
			HavePrefix("Normal FrameworkTakenBack "), ContainSubstring(old))))
		Eventually(func() []string {
			var states []string
			for _, fw := range sim.State().Frameworks {
				for _, t := range fw.Tasks {
					states = append(states, t.State)
				}
			}
			return states
		}, 30*time.Second, 100*time.Millisecond).ShouldNot(ContainElement("TASK_RUNNING"), "the task of the pod that is gone is killed")
	})
})
