package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/mesossim"
)

// writableDir is a directory a pod's container may write to and read from: it runs as
// nobody when the executor is root.
func writableDir() string {
	dir := GinkgoT().TempDir() // directly under the system's temporary directory
	Expect(os.Chmod(dir, 0o777)).To(Succeed())
	return dir
}

// waitForPID waits until a container wrote its process id into file, and returns it.
func waitForPID(file string) int {
	var pid int
	Eventually(func() int {
		b, _ := os.ReadFile(file)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return pid
	}, 20*time.Second, 50*time.Millisecond).ShouldNot(BeZero())
	return pid
}

// The real k8sm-executor binary, started by mesos-sim's agents in exec mode.
var _ = Describe("Pods run by the k8sm executor", Ordered, func() {
	var (
		executorBin string
		sim         *mesossim.Master
		mc          *mesosv1alpha1.MesosCluster
		ns          string
	)

	BeforeAll(func() {
		executorBin = executorBinary()

		sim = startExecSim()

		mc = minimalCluster()
		mc.Spec.Master = sim.URL()
		mc.Spec.SchedulerName = uniqueSchedulerName()
		mc.Spec.Placement.RefuseSeconds = new(int32)
		mc.Spec.Executor = mesosv1alpha1.ExecutorSpec{URI: executorBin, Command: "./k8sm-executor --restart-backoff=200ms"}
		freeKubeletPort(mc)
		createCluster(mc)
		Eventually(condition(mc, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(HavePrefix("True/"))
		ns = newNamespace()
	})

	shellPod := func(name, script string, policy corev1.RestartPolicy) *corev1.Pod {
		p := newPod(ns, name, mc.Spec.SchedulerName, "100m")
		p.Spec.RestartPolicy = policy
		grace := int64(2)
		p.Spec.TerminationGracePeriodSeconds = &grace
		p.Spec.Containers[0].Command = []string{"sh", "-c", script}
		return p
	}

	It("runs sleep 3600 and kills it within the grace period on delete, leaving no process", func() {
		pidFile := filepath.Join(writableDir(), "pid")
		// $$$$ is the shell's $$: a command's $$ is a literal $, as Kubernetes expands it.
		pod := shellPod("sleeper", "echo $$$$ > "+pidFile+"; exec sleep 3600", corev1.RestartPolicyAlways)
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		Eventually(podOf(key), 60*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		p, _ := podOf(key)()
		Expect(p.Status.ContainerStatuses).To(ConsistOf(HaveField("State.Running", Not(BeNil()))))
		Expect(p.Status.PodIP).To(Equal("127.0.0.1"))
		pid := waitForPID(pidFile)

		Expect(k8sClient.Delete(ctx, pod)).To(Succeed())
		Eventually(func() bool {
			_, err := podOf(key)()
			return apierrors.IsNotFound(err)
		}, 30*time.Second, 100*time.Millisecond).Should(BeTrue())
		Eventually(func() error { return syscall.Kill(pid, 0) }, 10*time.Second).Should(HaveOccurred(), "the container's process is still alive")
	})

	It("ends a pod that exits 0 with restartPolicy Never Succeeded", func() {
		pod := shellPod("once", "echo done", corev1.RestartPolicyNever)
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(pod)), 60*time.Second, 100*time.Millisecond).Should(
			HaveField("Status.Phase", corev1.PodSucceeded))
		mt := &mesosv1alpha1.MesosTask{}
		Eventually(taskAt(client.ObjectKeyFromObject(pod), mt), recordWait, 100*time.Millisecond).Should(Succeed())
		Expect(mt.Status.MesosState).To(Equal("TASK_FINISHED"))
	})

	It("counts the restarts of a crashing container", func() {
		pod := shellPod("crasher", "exit 2", corev1.RestartPolicyAlways)
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Eventually(func() int32 {
			p, err := podOf(client.ObjectKeyFromObject(pod))()
			if err != nil || len(p.Status.ContainerStatuses) == 0 {
				return 0
			}
			return p.Status.ContainerStatuses[0].RestartCount
		}, 60*time.Second, 100*time.Millisecond).Should(BeNumerically(">=", 2))
	})

	It("flips Ready with a readiness probe", func() {
		flag := filepath.Join(writableDir(), "ready")
		pod := shellPod("probed", "exec sleep 3600", corev1.RestartPolicyAlways)
		pod.Spec.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: 1, FailureThreshold: 1,
			ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-f", flag}}}}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		Eventually(func() string {
			p, err := podOf(key)()
			if err != nil || p.Status.Phase != corev1.PodRunning {
				return "not running"
			}
			return podCondition(p, corev1.PodReady)
		}, 60*time.Second, 100*time.Millisecond).Should(HavePrefix("False/"))
		Expect(os.WriteFile(flag, nil, 0o644)).To(Succeed())
		Eventually(func() string {
			p, _ := podOf(key)()
			return podCondition(p, corev1.PodReady)
		}, 30*time.Second, 100*time.Millisecond).Should(HavePrefix("True/"))
	})

	It("leaves a pod it cannot run unscheduled, naming the field", func() {
		pod := shellPod("secretive", "true", corev1.RestartPolicyNever)
		pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "PW", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "pw"}}}}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Eventually(func() (string, error) {
			p, err := podOf(client.ObjectKeyFromObject(pod))()
			return string(p.Status.Phase) + " " + podCondition(p, corev1.PodScheduled), err
		}, 60*time.Second, 100*time.Millisecond).Should(Equal("Pending False/Unschedulable: the cluster's process runtime (spec.executor.runtime) " +
			"cannot run the pod: spec.containers[0].env[0] (PW): it takes values from fieldRef only, not from secretKeyRef"))
	})
})

// An agent restart with checkpointing: the real executor keeps its pods running,
// subscribes to the restarted agent again, and still kills them on delete.
var _ = Describe("An agent restart under the k8sm executor", func() {
	It("keeps the pod running while the executor subscribes again, and kills it on delete afterwards", func() {
		executorBin := executorBinary()

		// An executor that does not subscribe again within 3s is killed by the agent, and
		// its pod would end Failed.
		const reregistration = 3 * time.Second
		sim := startExecSim(func(c *mesossim.Config) { c.ExecutorReregistrationTimeout = reregistration })

		mc := minimalCluster()
		mc.Spec.Master = sim.URL()
		mc.Spec.SchedulerName = uniqueSchedulerName()
		mc.Spec.Placement.RefuseSeconds = new(int32)
		checkpoint := true
		mc.Spec.Framework.Checkpoint = &checkpoint
		mc.Spec.Executor = mesosv1alpha1.ExecutorSpec{URI: executorBin}
		freeKubeletPort(mc)
		createCluster(mc)
		Eventually(condition(mc, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(HavePrefix("True/"))

		ns := newNamespace()
		pidFile := filepath.Join(writableDir(), "pid")
		pod := newPod(ns, "steady", mc.Spec.SchedulerName, "100m")
		grace := int64(2)
		pod.Spec.TerminationGracePeriodSeconds = &grace
		pod.Spec.Containers[0].Command = []string{"sh", "-c", "echo $$$$ > " + pidFile + "; exec sleep 3600"}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		Eventually(podOf(key), 60*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		pid := waitForPID(pidFile)

		Expect(sim.RestartAgent("agent-1")).To(Succeed())
		Eventually(sim.AgentReady("agent-1"), 20*time.Second).Should(BeClosed())
		// Past the reregistration timeout the pod, its process and its task are still there:
		// the executor subscribed again in time.
		Consistently(func() string {
			p, err := podOf(key)()
			if err != nil {
				return err.Error()
			}
			if syscall.Kill(pid, 0) != nil {
				return "the container's process is gone"
			}
			for _, fw := range sim.State().Frameworks {
				for _, t := range fw.Tasks {
					if t.State != "TASK_RUNNING" {
						return "task " + t.State
					}
				}
			}
			return string(p.Status.Phase)
		}, reregistration+2*time.Second, 200*time.Millisecond).Should(Equal(string(corev1.PodRunning)))

		Expect(k8sClient.Delete(ctx, pod)).To(Succeed())
		Eventually(func() bool {
			_, err := podOf(key)()
			return apierrors.IsNotFound(err)
		}, 30*time.Second, 100*time.Millisecond).Should(BeTrue())
		Eventually(func() error { return syscall.Kill(pid, 0) }, 10*time.Second).Should(HaveOccurred(), "the container's process is still alive")
	})
})
