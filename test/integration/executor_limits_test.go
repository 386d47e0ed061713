package integration

import (
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
)

// Resource limits, end to end: the manager launches the pod on mesos-sim, whose agent
// runs the real k8sm executor (process runtime), which holds each container to its
// limits in cgroups below its own and reports an OOM kill as a kubelet does.
var _ = Describe("Resource limits under the k8sm executor", Ordered, func() {
	var (
		mc *mesosv1alpha1.MesosCluster
		ns string
	)

	BeforeAll(func() {
		if os.Geteuid() != 0 {
			Skip("the executor makes cgroups for pods only as root")
		}
		executorBin := executorBinary()

		sim := startExecSim()

		mc = minimalCluster()
		mc.Spec.Master = sim.URL()
		mc.Spec.SchedulerName = uniqueSchedulerName()
		mc.Spec.Placement.RefuseSeconds = new(int32)
		mc.Spec.Executor = mesosv1alpha1.ExecutorSpec{URI: executorBin, Command: "./k8sm-executor --pod-pids-limit=256"}
		freeKubeletPort(mc)
		createCluster(mc)
		Eventually(condition(mc, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(HavePrefix("True/"))
		ns = newNamespace()
	})

	// limitedPod runs script with a 16Mi memory limit (and request), never restarted.
	limitedPod := func(name, script string) client.ObjectKey {
		p := newPod(ns, name, mc.Spec.SchedulerName, "100m")
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		p.Spec.Containers[0].Command = []string{"sh", "-c", script}
		mem := corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("16Mi")}
		p.Spec.Containers[0].Resources.Limits = mem
		p.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = mem[corev1.ResourceMemory]
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		return client.ObjectKeyFromObject(p)
	}

	// ended waits for the pod's end, and skips where the agent's cgroups cannot enforce
	// its limits (the pod says why).
	ended := func(key client.ObjectKey) *corev1.Pod {
		Eventually(podOf(key), 60*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase",
			Or(Equal(corev1.PodSucceeded), Equal(corev1.PodFailed))))
		p, err := podOf(key)()
		Expect(err).NotTo(HaveOccurred())
		if c := podCondition(p, podtask.ConditionResourceLimitsEnforced); c != "True/CgroupsEnforced: " {
			Skip("the agent's cgroups do not enforce the pod's limits here: " + c)
		}
		return p
	}

	It("ends a container that goes over its memory limit Terminated OOMKilled", func() {
		// tail holds the last line it read, and 64 MiB of zeros have no newline.
		p := ended(limitedPod("hog", "head -c 67108864 /dev/zero | tail"))
		Expect(p.Status.Phase).To(Equal(corev1.PodFailed))
		Expect(p.Status.ContainerStatuses).To(ConsistOf(HaveField("State.Terminated", And(
			Not(BeNil()), HaveField("Reason", "OOMKilled"), HaveField("ExitCode", BeEquivalentTo(137))))))
	})

	It("runs a container within its memory limit to its end", func() {
		p := ended(limitedPod("frugal", "head -c 4194304 /dev/zero | tail | wc -c"))
		Expect(p.Status.Phase).To(Equal(corev1.PodSucceeded))
		Expect(p.Status.ContainerStatuses).To(ConsistOf(HaveField("State.Terminated.Reason", "Completed")))
	})
})
