package integration

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// A pod's readiness gates hold its Ready as a kubelet holds it: a load balancer's
// controller, say, sets the gate's condition once it sends the pod traffic, and only
// then is the pod Ready (Services and rollouts wait for it).
var _ = Describe("A pod with a readiness gate", func() {
	const gate corev1.PodConditionType = "example.com/lb-registered"

	setGate := func(key client.ObjectKey, status corev1.ConditionStatus) {
		Eventually(func() error {
			p, err := podOf(key)()
			if err != nil {
				return err
			}
			found := false
			for i := range p.Status.Conditions {
				if p.Status.Conditions[i].Type == gate {
					p.Status.Conditions[i].Status, found = status, true
				}
			}
			if !found {
				p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: gate, Status: status})
			}
			return k8sClient.Status().Update(ctx, p)
		}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
	}

	It("is Ready only while the gate's condition is True", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		pod := newPod(newNamespace(), "gated", mc.Spec.SchedulerName, "100m")
		pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: gate}}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		ready := func() string {
			p, err := podOf(key)()
			if err != nil {
				return err.Error()
			}
			return string(p.Status.Phase) + " " + podCondition(p, corev1.ContainersReady) + " " + podCondition(p, corev1.PodReady)
		}

		Eventually(ready, 30*time.Second, 100*time.Millisecond).Should(Equal(`Running True/:  False/ReadinessGatesNotReady: ` +
			`corresponding condition of pod readiness gate "example.com/lb-registered" does not exist.`))
		setGate(key, corev1.ConditionTrue)
		Eventually(ready, 20*time.Second, 100*time.Millisecond).Should(Equal("Running True/:  True/: "))
		setGate(key, corev1.ConditionFalse)
		Eventually(ready, 20*time.Second, 100*time.Millisecond).Should(Equal(`Running True/:  False/ReadinessGatesNotReady: ` +
			`the status of pod readiness gate "example.com/lb-registered" is not "True", but False`))
	})
})

// The node lifecycle controller marks a pod NotReady while its Node is (the manager cut
// off from the master: its Leases late). k8sm does not set it back while Mesos cannot
// say whether the task still runs; once the framework subscribed again and Mesos
// answered, the pod is Ready again as its task says, though nothing of the task changed.
var _ = Describe("A pod marked NotReady while the master could not be reached", func() {
	It("is Ready again once Mesos answered after the framework subscribed again", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		pod := newPod(newNamespace(), "marked", mc.Spec.SchedulerName, "100m")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		ready := func() string {
			p, _ := podOf(key)()
			return podCondition(p, corev1.PodReady)
		}
		Eventually(ready, 30*time.Second, 100*time.Millisecond).Should(HavePrefix("True/"))

		sim.SetDown(true)
		DeferCleanup(sim.SetDown, false)
		Eventually(condition(mc, mesosv1alpha1.ConditionReconciled), 20*time.Second, 100*time.Millisecond).Should(HavePrefix("False/"))
		By("marking the pod NotReady, as the node lifecycle controller does")
		Eventually(func() error {
			p, err := podOf(key)()
			if err != nil {
				return err
			}
			for i := range p.Status.Conditions {
				if p.Status.Conditions[i].Type == corev1.PodReady {
					p.Status.Conditions[i].Status = corev1.ConditionFalse
				}
			}
			return k8sClient.Status().Update(ctx, p)
		}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
		Consistently(ready, 2*time.Second, 200*time.Millisecond).Should(HavePrefix("False/"), "not while Mesos cannot answer")

		sim.SetDown(false)
		Eventually(ready, 20*time.Second, 100*time.Millisecond).Should(HavePrefix("True/"))
	})
})
