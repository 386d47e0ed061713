package integration

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/controllers"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/testenv"
)

// An outage is not an eviction. With kube-controller-manager's node lifecycle and taint
// eviction controllers running, as in a cluster, beside five ordinary Ready Nodes: while
// the Mesos master is down (longer than the pod tolerates an unreachable Node), Mesos
// keeps the agents' tasks running, so the agents' Nodes must stay Ready and the pods
// must stay, instead of being tainted, evicted, and their tasks killed once the master
// comes back.
var _ = Describe("An outage of the Mesos master", Ordered, func() {
	const grace = 5 * time.Second // the node monitor's grace period, shortened

	BeforeAll(func() {
		if _, err := testenv.ControllerManagerBinary(); err != nil && !testenv.RequireControllerManager() {
			Skip(err.Error())
		}
		kcm, err := testenv.StartNodeLifecycle(testEnv, grace)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(kcm.Stop)
		stop, err := testenv.KeepOrdinaryNodesReady(ctx, k8sClient, 5)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(stop)
	})

	It("keeps the agents' Nodes Ready and their pods, and says the master is unreachable", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		node := agentNodeOf(mc, "agent-1")
		ns := newNamespace()
		pod := newPod(ns, "survivor", mc.Spec.SchedulerName, "100m")
		pod.Spec.Tolerations = []corev1.Toleration{
			{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](2)},
			{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](2)},
		}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		Eventually(podOf(key), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))

		By("lengthening the pod's tolerations to the failover timeout, and counting it when the manager wrote them")
		// The outage tolerations policy is not installed here, unless its spec's cleanup
		// has not reached the API server yet: then it gave them as the pod was created.
		week := 7 * 24 * time.Hour
		_, manager := agentnode.OutageTolerations(pod.Spec.Tolerations, week)
		Eventually(func() (bool, error) {
			p, err := podOf(key)()
			if err != nil {
				return false, err
			}
			_, short := agentnode.OutageTolerations(p.Spec.Tolerations, week)
			return short, nil
		}, 10*time.Second, 100*time.Millisecond).Should(BeFalse())
		written := 0.0
		if manager {
			written = 1
		}
		Eventually(func() float64 { return clusterMetrics(mc.Name)["k8sm_outage_tolerations_written_total"] }, 5*time.Second, 50*time.Millisecond).
			Should(Equal(written), "pods whose outage tolerations the manager wrote")

		By("taking the master down for longer than the node monitor's grace and the pod's toleration")
		sim.SetDown(true)
		Consistently(func(g Gomega) {
			n := &corev1.Node{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: node}, n)).To(Succeed())
			g.Expect(agentnode.ReadyCondition(n).Status).To(Equal(corev1.ConditionTrue))
			g.Expect(n.Spec.Taints).NotTo(ContainElement(HaveField("Effect", corev1.TaintEffectNoExecute)))
			p, err := podOf(key)()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(p.DeletionTimestamp).To(BeNil(), "the pod was evicted")
		}, 3*grace, 500*time.Millisecond).Should(Succeed())
		Expect(nodeCondition(node, agentnode.ConditionMasterReachable)()).To(HavePrefix("False/" + agentnode.ReasonMasterUnreachable))

		By("bringing the master back: the framework subscribes again and the task still runs")
		sim.SetDown(false)
		Eventually(condition(mc, mesosv1alpha1.ConditionSubscribed), 30*time.Second, 200*time.Millisecond).Should(HavePrefix("True/" + controllers.ReasonSubscribed))
		Eventually(nodeCondition(node, agentnode.ConditionMasterReachable), 20*time.Second, 200*time.Millisecond).Should(
			HavePrefix("True/" + agentnode.ReasonMasterReachable))
		Expect(unkilledTasks(sim)()).To(ConsistOf("TASK_RUNNING"))
		Expect(podOf(key)()).To(HaveField("Status.Phase", corev1.PodRunning))
	})
})

// A manager that starts (a restart, or a standby taking over) knows no agent until its
// framework subscribes: the Nodes it finds stay as they were, Ready, instead of being
// taken for agents that left.
var _ = Describe("A manager that cannot subscribe yet", func() {
	It("keeps the Ready Nodes of its framework's agents Ready", func() {
		mc := minimalCluster()
		mc.Spec.SchedulerName = uniqueSchedulerName()
		mc.Spec.DeletionPolicy = mesosv1alpha1.DeletionOrphan
		createCluster(mc)
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), mc); err != nil {
				return err
			}
			mc.Status.FrameworkID = "fw-from-before" // subscribed before, by a manager that stopped
			return k8sClient.Status().Update(ctx, mc)
		})).To(Succeed())
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: agentnode.NodeName(mc.Name, "agent-1", 0),
			Labels: map[string]string{agentnode.LabelCluster: mc.Name}}}
		Expect(k8sClient.Create(ctx, node)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(context.Background(), node) })
		ready := agentnode.Status(agentnode.Agent{ID: "a1", Hostname: "agent-1"}, true, metav1.Now(), nil)
		// The manager may write the Node as soon as it is made (it takes it for an agent
		// that left, below): its status is set on the version read last.
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
				return err
			}
			node.Status = ready
			return k8sClient.Status().Update(ctx, node)
		})).To(Succeed())

		// The Node's events can reach the manager before the cluster's framework id does
		// (two watches): a manager that has not seen the id yet takes the Node for an
		// agent that left of a cluster that never subscribed, and marks it gone, as it
		// should. What this spec holds is what follows once the manager knows the id, so
		// the Node is put back Ready until then.
		Eventually(func(g Gomega) {
			n := &corev1.Node{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: node.Name}, n)).To(Succeed())
			if c := agentnode.ReadyCondition(n); c == nil || c.Status != corev1.ConditionTrue {
				n.Status = ready
				g.Expect(k8sClient.Status().Update(ctx, n)).To(Succeed())
			}
			g.Expect(nodeCondition(node.Name, agentnode.ConditionMasterReachable)()).To(HavePrefix("False/" + agentnode.ReasonMasterUnreachable))
		}, 20*time.Second, 200*time.Millisecond).Should(Succeed())
		Consistently(nodeCondition(node.Name, corev1.NodeReady), 3*time.Second, 200*time.Millisecond).Should(HavePrefix("True/"))
	})
})

// The Pod reconciler lengthens the outage tolerations of a pod that has a MesosTask. A
// bound pod gets its MesosTask when Mesos first reports on its task, which may be after
// the pod's last change: here a pod bound to an agent's Node as if by an earlier
// manager, whose task Mesos never saw, and which then waits for room on the agent (a
// WaitingForOffer event, nothing written to the pod). The MesosTask's coming brings the
// pod back.
var _ = Describe("A pod whose MesosTask is written after its last change", func() {
	It("is made to tolerate an outage all the same", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		ns := newNamespace()
		pod := newPod(ns, "bound", mc.Spec.SchedulerName, "4")
		pod.Spec.NodeName = agentNodeOf(mc, "agent-1")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		Eventually(eventsIn(ns), 20*time.Second, 100*time.Millisecond).Should(ContainElement("Pod/bound Warning WaitingForOffer"))
		Expect(k8sClient.Get(ctx, key, &mesosv1alpha1.MesosTask{})).To(Succeed())
		Eventually(func() (bool, error) {
			p, err := podOf(key)()
			if err != nil {
				return false, err
			}
			_, short := agentnode.OutageTolerations(p.Spec.Tolerations, 7*24*time.Hour)
			return short, nil
		}, 10*time.Second, 100*time.Millisecond).Should(BeFalse(), "the pod tolerates an unreachable or not-ready Node for the failover timeout")
	})
})

// nodeCondition is a Node's condition of type t as "Status/Reason".
func nodeCondition(node string, t corev1.NodeConditionType) func() string {
	return func() string {
		n := &corev1.Node{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Name: node}, n); err != nil {
			return err.Error()
		}
		for _, c := range n.Status.Conditions {
			if c.Type == t {
				return string(c.Status) + "/" + c.Reason
			}
		}
		return ""
	}
}
