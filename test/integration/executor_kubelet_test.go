package integration

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/testkubelet"
)

// The real k8sm-executor with its kubelet runtime, started by mesos-sim's agent in exec
// mode, handing pods to a real kubelet and containerd.
var _ = Describe("Pods run by the k8sm executor through a kubelet", Ordered, func() {
	var (
		env *testkubelet.Env
		mc  *mesosv1alpha1.MesosCluster
		ns  string
	)

	BeforeAll(func() {
		testkubelet.Require(GinkgoT())
		var err error
		env, err = testkubelet.Start()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(env.Stop)

		executorBin := executorBinary()

		sim := startExecSim()

		mc = minimalCluster()
		mc.Spec.Master = sim.URL()
		mc.Spec.SchedulerName = uniqueSchedulerName()
		mc.Spec.Placement.RefuseSeconds = new(int32)
		mc.Spec.Executor = mesosv1alpha1.ExecutorSpec{URI: executorBin, Runtime: mesosv1alpha1.RuntimeKubelet,
			Kubelet: &mesosv1alpha1.KubeletRuntimeSpec{ManifestDir: env.ManifestDir, URL: env.URL}}
		freeKubeletPort(mc)
		createCluster(mc)
		Eventually(condition(mc, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(HavePrefix("True/"))
		ns = newNamespace()
	})

	It("runs a busybox pod to Running with the kubelet's status, and tears it down on delete", func() {
		pod := newPod(ns, "kubelet-sleeper", mc.Spec.SchedulerName, "100m")
		grace := int64(2)
		pod.Spec.TerminationGracePeriodSeconds = &grace
		pod.Spec.Containers[0].Image = testkubelet.Image
		pod.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		Eventually(podOf(key), 90*time.Second, 200*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning), env.Logs)
		p, _ := podOf(key)()
		Expect(p.Status.ContainerStatuses).To(ConsistOf(And(
			HaveField("State.Running", Not(BeNil())), HaveField("ContainerID", HavePrefix("containerd://")))))
		Expect(p.Status.PodIP).NotTo(BeEmpty())
		Expect(podCondition(p, corev1.PodReady)).To(HavePrefix("True/"))

		Expect(k8sClient.Delete(ctx, pod)).To(Succeed())
		Eventually(func() bool {
			_, err := podOf(key)()
			return apierrors.IsNotFound(err)
		}, 60*time.Second, 200*time.Millisecond).Should(BeTrue())
		Eventually(env.RunningContainers, 30*time.Second, 200*time.Millisecond).Should(BeEmpty(), "containers left behind")
	})

	It("leaves a pod a static pod cannot be unscheduled, naming the field", func() {
		pod := newPod(ns, "kubelet-secretive", mc.Spec.SchedulerName, "100m")
		pod.Spec.Containers[0].Image = testkubelet.Image
		pod.Spec.Volumes = []corev1.Volume{{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}}}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Eventually(func() (string, error) {
			p, err := podOf(client.ObjectKeyFromObject(pod))()
			return string(p.Status.Phase) + " " + podCondition(p, corev1.PodScheduled), err
		}, 60*time.Second, 200*time.Millisecond).Should(Equal("Pending False/Unschedulable: the cluster's kubelet runtime (spec.executor.runtime) " +
			"cannot run the pod: spec.volumes[0] (creds): it cannot provide secret volumes"))
	})
})
