package integration

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
)

// A pod asking for more than Mesos can hold fails at once, saying which field, instead
// of waiting Unschedulable for ever (or, as before, having its amount wrapped).
var _ = Describe("A pod Mesos cannot hold", func() {
	It("fails with reason InvalidPod naming the field", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		ns := newNamespace()
		pod := newPod(ns, "huge", mc.Spec.SchedulerName, "100m")
		pod.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1e18")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(pod)), 20*time.Second, 100*time.Millisecond).Should(And(
			HaveField("Status.Phase", corev1.PodFailed),
			HaveField("Status.Reason", podtask.ReasonInvalidPod),
			HaveField("Status.Message", ContainSubstring("spec.containers[0].resources.requests[cpu]"))))
	})
})

// A pod asking for what the cluster refuses (root, root's group or a system group, by
// default) or its runtime cannot enforce fails before it waits for an offer, naming each field, with an event: it is
// never run without what it asked for.
var _ = Describe("A pod asking for what its cluster refuses", func() {
	It("fails with reason InvalidPod naming each field, and an event", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		ns := newNamespace()
		pod := newPod(ns, "root", mc.Spec.SchedulerName, "100m")
		privileged, root := true, int64(0)
		pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: &root, FSGroup: &root, SupplementalGroups: []int64{42}}
		pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &privileged,
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: new("p.json")}}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(pod)), 20*time.Second, 100*time.Millisecond).Should(And(
			HaveField("Status.Phase", corev1.PodFailed),
			HaveField("Status.Reason", podtask.ReasonInvalidPod),
			HaveField("Status.Message", And(
				ContainSubstring("spec.securityContext.runAsUser: Forbidden"),
				ContainSubstring("spec.securityContext.fsGroup: Forbidden: gid 0 is root's group"),
				ContainSubstring("spec.securityContext.supplementalGroups[0]: Forbidden: gid 42 is outside spec.podSecurity.allowedIDs"),
				ContainSubstring("spec.containers[0].securityContext.privileged: Forbidden"),
				ContainSubstring("spec.containers[0].securityContext.seccompProfile.type: Forbidden")))))
		Eventually(eventsIn(ns), 20*time.Second, 100*time.Millisecond).Should(ContainElement("Pod/root Warning " + podtask.ReasonInvalidPod))
		Consistently(func() error {
			return k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), &mesosv1alpha1.MesosTask{})
		}, 2*time.Second, 200*time.Millisecond).ShouldNot(Succeed(), "a refused pod gets no MesosTask")
	})
})
