package integration

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
)

var _ = Describe("A cluster's namespaceSelector", func() {
	// labelNamespace sets a namespace's k8sm label.
	labelNamespace := func(name, value string) {
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			ns := &corev1.Namespace{}
			if err := k8sClient.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
				return err
			}
			if ns.Labels == nil {
				ns.Labels = map[string]string{}
			}
			ns.Labels["k8sm"] = value
			return k8sClient.Update(ctx, ns)
		})).To(Succeed())
	}

	It("keeps a pod of a namespace it does not take waiting, says why, and takes it once the namespace is labelled", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simClusterWith(sim, func(mc *mesosv1alpha1.MesosCluster) {
			mc.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"k8sm": "on"}}
		})
		ns := newNamespace()
		pod := newPod(ns, "outside", mc.Spec.SchedulerName, "100m")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		Eventually(func() string {
			p, _ := podOf(key)()
			return podCondition(p, corev1.PodScheduled)
		}, 20*time.Second, 100*time.Millisecond).Should(Equal("False/" + podtask.ReasonNamespaceNotAllowed + ": " + podtask.NamespaceNotTakenMessage(mc.Name, ns)))
		Eventually(eventsIn(ns), 10*time.Second, 100*time.Millisecond).Should(ContainElement("Pod/outside Warning " + podtask.ReasonNamespaceNotAllowed))
		Expect(podOf(key)()).To(HaveField("Status.Phase", corev1.PodPending))

		labelNamespace(ns, "on")
		Eventually(podOf(key), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
	})

	It("takes the pods still waiting out of the queue when it no longer takes their namespace", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simClusterWith(sim, func(mc *mesosv1alpha1.MesosCluster) {
			mc.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"k8sm": "on"}}
		})
		ns := newNamespace()
		labelNamespace(ns, "on")
		// Too big for the agent: it waits in the queue.
		big := newPod(ns, "big", mc.Spec.SchedulerName, "4")
		Expect(k8sClient.Create(ctx, big)).To(Succeed())
		key := client.ObjectKeyFromObject(big)
		Eventually(func() string {
			p, _ := podOf(key)()
			return podCondition(p, corev1.PodScheduled)
		}, 20*time.Second, 100*time.Millisecond).Should(HavePrefix("False/" + corev1.PodReasonUnschedulable))
		sched := clusterReconciler.Registry.Scheduler(mc.Name)
		Expect(sched).NotTo(BeNil())
		Expect(sched.Pending(podtask.TaskIDFor(big))).To(BeTrue())

		Expect(updateCluster(mc, func(mc *mesosv1alpha1.MesosCluster) {
			mc.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"k8sm": "elsewhere"}}
		})).To(Succeed())
		Eventually(func() bool { return sched.Pending(podtask.TaskIDFor(big)) }, 20*time.Second, 100*time.Millisecond).Should(BeFalse())
		Eventually(func() string {
			p, _ := podOf(key)()
			return podCondition(p, corev1.PodScheduled)
		}, 20*time.Second, 100*time.Millisecond).Should(HavePrefix("False/" + podtask.ReasonNamespaceNotAllowed))

		By("labelling the namespace for the new selector: the pod is queued again")
		labelNamespace(ns, "elsewhere")
		Eventually(func() bool { return sched.Pending(podtask.TaskIDFor(big)) }, 20*time.Second, 100*time.Millisecond).Should(BeTrue())
	})
})
