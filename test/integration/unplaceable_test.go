package integration

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/podtask"
)

// A pod asking for a resource k8sm does not place (an extended resource, hugepages),
// claiming devices through dynamic resource allocation, placed by other pods in a way
// k8sm does not read (a spread constraint counting only Nodes whose taints the pod
// tolerates), or needing what the cluster's runtime cannot provide (a volume
// claim on the process runtime), is refused, never run on an agent that need not have it,
// or beside the pods it must keep away from: kube-scheduler would leave it Pending as
// Unschedulable when no node does, and so does k8sm.
var _ = Describe("A pod asking for a resource k8sm cannot place", func() {
	const fpga corev1.ResourceName = "example.com/fpga"
	asksFPGA := func(pod *corev1.Pod) {
		pod.Spec.Containers[0].Resources.Requests[fpga] = resource.MustParse("1")
		pod.Spec.Containers[0].Resources.Limits = corev1.ResourceList{fpga: resource.MustParse("1")}
	}
	// Mesos offers GPUs only to a framework with GPU_RESOURCES, which simCluster's lacks.
	asksGPU := func(pod *corev1.Pod) {
		pod.Spec.Containers[0].Resources.Limits = corev1.ResourceList{agentnode.ResourceGPU: resource.MustParse("1")}
	}
	claimsGPU := func(pod *corev1.Pod) {
		claim := "gpu-claim"
		pod.Spec.ResourceClaims = []corev1.PodResourceClaim{{Name: "gpu", ResourceClaimName: &claim}}
		pod.Spec.Containers[0].Resources.Claims = []corev1.ResourceClaim{{Name: "gpu"}}
	}

	DescribeTable("stays Pending as Unschedulable, saying why, and is never launched", func(ask func(*corev1.Pod), want string) {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		ns := newNamespace()
		pod := newPod(ns, "fpga", mc.Spec.SchedulerName, "100m")
		ask(pod)
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		scheduled := func() string {
			p, err := podOf(key)()
			if err != nil {
				return err.Error()
			}
			return podCondition(p, corev1.PodScheduled)
		}
		want = strings.ReplaceAll(want, "<cluster>", mc.Name)
		Eventually(scheduled, 20*time.Second, 100*time.Millisecond).Should(Equal(want))
		Eventually(eventsIn(ns), 20*time.Second, 100*time.Millisecond).Should(ContainElement("Pod/fpga Warning FailedScheduling"))

		// The agent has room: a pod that asks for what k8sm places runs there, and the
		// offers it took were never given to the refused pod.
		plain := newPod(ns, "plain", mc.Spec.SchedulerName, "100m")
		Expect(k8sClient.Create(ctx, plain)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(plain)), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		Expect(sim.State().Frameworks[0].Tasks).To(ConsistOf(HaveField("ID", podtask.TaskIDFor(plain))), "no task for the refused pod")
		p, err := podOf(key)()
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Status.Phase).To(Equal(corev1.PodPending))
		Expect(p.Spec.NodeName).To(BeEmpty())
		Expect(apierrors.IsNotFound(k8sClient.Get(ctx, key, &mesosv1alpha1.MesosTask{}))).To(BeTrue(), "a refused pod gets no MesosTask")
		// Written once: later passes over the pod find nothing changed.
		Consistently(func() (string, error) {
			p, err := podOf(key)()
			return p.ResourceVersion, err
		}, 2*time.Second, 200*time.Millisecond).Should(Equal(p.ResourceVersion))
	},
		Entry("an extended resource", asksFPGA, "False/Unschedulable: the pod asks for example.com/fpga, which Mesos agents do not offer to k8sm: "+
			"it places cpu, memory, ephemeral-storage and nvidia.com/gpu"),
		Entry("nvidia.com/gpu, the cluster without GPU_RESOURCES", asksGPU, "False/Unschedulable: the pod asks for nvidia.com/gpu, which Mesos offers "+
			"only to a framework with the GPU_RESOURCES capability: add it to spec.framework.capabilities of MesosCluster <cluster>"),
		Entry("a device claim", claimsGPU, "False/Unschedulable: the pod claims devices (spec.resourceClaims: gpu), which k8sm cannot allocate on Mesos agents"),
		Entry("a volume claim on the process runtime", func(pod *corev1.Pod) {
			pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-web-0"}}}}
		}, "False/Unschedulable: the cluster's process runtime (spec.executor.runtime) cannot run the pod: "+
			"spec.volumes[0] (data): it cannot provide persistentVolumeClaim volumes"),
	)

	It("fails a pod another scheduler bound to an agent's Node, without a task", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		ns := newNamespace()
		pod := newPod(ns, "hugepages", corev1.DefaultSchedulerName, "100m")
		pod.Spec.NodeName = agentNodeOf(mc, "agent-1")
		pod.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse("64Mi")
		pod.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"hugepages-2Mi": resource.MustParse("4Mi"),
			corev1.ResourceMemory: resource.MustParse("64Mi"), corev1.ResourceCPU: resource.MustParse("100m")}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(pod)), 20*time.Second, 100*time.Millisecond).Should(And(
			HaveField("Status.Phase", corev1.PodFailed),
			HaveField("Status.Reason", podtask.ReasonInvalidPod),
			HaveField("Status.Message", HavePrefix("the pod asks for hugepages-2Mi, which Mesos agents do not offer to k8sm"))))
		Eventually(eventsIn(ns), 20*time.Second, 100*time.Millisecond).Should(ContainElement("Pod/hugepages Warning " + podtask.ReasonInvalidPod))
		Expect(apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), &mesosv1alpha1.MesosTask{}))).To(BeTrue(), "a refused pod gets no MesosTask")
		Expect(sim.State().Frameworks[0].Tasks).To(BeEmpty())
	})
})
