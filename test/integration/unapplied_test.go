package integration

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/podtask"
)

// A running pod's task keeps what it was launched with; what of a later spec it does not
// take is told on the pod, as a kubelet tells what it cannot apply.
var _ = Describe("A running pod whose spec changes", func() {
	It("says a resize is infeasible, and that an ephemeral container is not run", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		ns := newNamespace()
		pod := newPod(ns, "resized", mc.Spec.SchedulerName, "100m")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		Eventually(podOf(key), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))

		Eventually(func() error {
			p, err := podOf(key)()
			if err != nil {
				return err
			}
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("200m")
			return k8sClient.SubResource("resize").Update(ctx, p)
		}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
		Eventually(func() string {
			p, _ := podOf(key)()
			return podCondition(p, corev1.PodResizePending)
		}, 20*time.Second, 100*time.Millisecond).Should(And(HavePrefix("True/Infeasible: "), ContainSubstring("cpus 100m")))
		Eventually(eventsIn(ns), 10*time.Second, 100*time.Millisecond).Should(ContainElement("Pod/resized Warning ResizeInfeasible"))

		Eventually(func() error {
			p, err := podOf(key)()
			if err != nil {
				return err
			}
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
				EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger", Image: "busybox",
					TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullIfNotPresent}})
			return k8sClient.SubResource("ephemeralcontainers").Update(ctx, p)
		}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
		Eventually(func() string {
			p, _ := podOf(key)()
			for _, s := range p.Status.EphemeralContainerStatuses {
				if s.Name == "debugger" && s.State.Waiting != nil {
					return s.State.Waiting.Reason
				}
			}
			return "<none>"
		}, 20*time.Second, 100*time.Millisecond).Should(Equal(podtask.ReasonEphemeralNotRun))
		Eventually(eventsIn(ns), 10*time.Second, 100*time.Millisecond).Should(ContainElement("Pod/resized Warning EphemeralContainerNotRun"))
		p, _ := podOf(key)()
		Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
		Expect(podCondition(p, corev1.PodReady)).To(HavePrefix("True/"))
	})
})
