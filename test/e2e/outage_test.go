package e2e

import (
	"context"
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/mesossim"
	"github.com/k8sm/k8sm/internal/testenv"
)

// No manager running is not an eviction. With kube-controller-manager's node lifecycle
// and taint eviction controllers running beside five ordinary Ready Nodes, every replica
// of the manager is killed for longer than the node monitor's grace plus the pod's own
// toleration of an unreachable Node: nobody renews the agent's Node, which goes Unknown
// and is tainted, but Mesos keeps the task running until the framework's failover
// timeout, so the pod must stay, and be Running and Ready again once a manager is back.
var _ = Describe("Every replica of the manager down", func() {
	It("is not an eviction: the pod stays and its task runs on", func() {
		if _, err := testenv.ControllerManagerBinary(); err != nil && !testenv.RequireControllerManager() {
			Skip(err.Error())
		}
		const grace = 4 * time.Second // the node monitor's grace period, shortened
		ctx := context.Background()
		env, kubeconfig, c := adminEnv()

		kcm, err := testenv.StartNodeLifecycle(env, grace)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(kcm.Stop)
		stopNodes, err := testenv.KeepOrdinaryNodesReady(ctx, c, 5)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(stopNodes)

		sim, err := mesossim.New(mesossim.Config{Agents: 1, AgentResources: "cpus:2;mem:4096;disk:10000",
			HeartbeatInterval: time.Second, AllocationInterval: 50 * time.Millisecond, UpdateRetry: time.Second})
		Expect(err).NotTo(HaveOccurred())
		Expect(sim.Start("127.0.0.1:0")).To(Succeed())
		DeferCleanup(sim.Close)
		Expect(c.Create(ctx, &mesosv1alpha1.MesosCluster{
			ObjectMeta: metav1.ObjectMeta{Name: "outage"},
			Spec:       mesosv1alpha1.MesosClusterSpec{Master: sim.URL(), Executor: mesosv1alpha1.ExecutorSpec{URI: "/k8sm-executor"}},
		})).To(Succeed())

		manager := newManagerProcess(kubeconfig)
		manager.start()

		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "survivor"},
			Spec: corev1.PodSpec{SchedulerName: "mesos", Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"}}},
				Tolerations: []corev1.Toleration{
					{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](2)},
					{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](2)},
				}},
		}
		Expect(c.Create(ctx, pod)).To(Succeed())
		get := func() (*corev1.Pod, error) {
			p := &corev1.Pod{}
			return p, c.Get(ctx, client.ObjectKeyFromObject(pod), p)
		}
		Eventually(get, 60*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))

		By("lengthening the pod's tolerations of an unreachable Node to the failover timeout (a week)")
		week := int64(7 * 24 * time.Hour / time.Second)
		Eventually(func() ([]corev1.Toleration, error) { p, err := get(); return p.Spec.Tolerations, err }, 10*time.Second, 100*time.Millisecond).Should(
			ContainElements(
				HaveField("TolerationSeconds", HaveValue(Equal(week))),
				HaveField("TolerationSeconds", HaveValue(Equal(week)))))
		node := agentnode.NodeName("outage", "agent-1", 0)

		By("killing the manager: its Node goes Unknown and is tainted, but the pod stays")
		manager.kill()
		Eventually(func() ([]corev1.Taint, error) {
			n := &corev1.Node{}
			return n.Spec.Taints, c.Get(ctx, client.ObjectKey{Name: node}, n)
		}, 30*time.Second, 200*time.Millisecond).Should(ContainElement(And(
			HaveField("Key", corev1.TaintNodeUnreachable), HaveField("Effect", corev1.TaintEffectNoExecute))), func() string {
			b, _ := os.ReadFile(kcm.Log)
			return "kube-controller-manager's log:\n" + string(b[max(0, len(b)-6000):])
		})
		// The pod asked to be evicted 2 s after that taint; it stays well past that.
		Consistently(func() (*metav1.Time, error) { p, err := get(); return p.DeletionTimestamp, err }, 3*grace, 200*time.Millisecond).Should(
			BeNil(), "the pod was evicted")

		By("starting a manager again: the Node is Ready, the pod Running and Ready, its task never killed")
		manager.start()
		Eventually(func() ([]corev1.Taint, error) {
			n := &corev1.Node{}
			return n.Spec.Taints, c.Get(ctx, client.ObjectKey{Name: node}, n)
		}, 30*time.Second, 200*time.Millisecond).ShouldNot(ContainElement(HaveField("Effect", corev1.TaintEffectNoExecute)))
		Eventually(func() (corev1.ConditionStatus, error) {
			p, err := get()
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady {
					return cond.Status, err
				}
			}
			return "", err
		}, 30*time.Second, 200*time.Millisecond).Should(Equal(corev1.ConditionTrue))
		Expect(get()).To(HaveField("Status.Phase", corev1.PodRunning))
		var states []string
		for _, fw := range sim.State().Frameworks {
			for _, t := range fw.Tasks {
				states = append(states, t.State)
			}
		}
		Expect(states).To(ConsistOf("TASK_RUNNING"))
	})
})
