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
