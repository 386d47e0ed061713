package integration

import (
	"time"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/mesossim"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// kubectl label node works on agents' Nodes as on a kubelet's: a pod whose node selector
// names a label put on an agent's Node waits, saying so, until one has it, and then runs
// there.
var _ = Describe("A node selector on a label of an agent's Node", func() {
	It("waits until an agent's Node has the label, and runs there", func() {
		sim := startSim(2, "cpus:4;mem:8192;disk:10000")
		mc := simCluster(sim)
		labelled := agentNodeOf(mc, "agent-2")
		ns := newNamespace()
		pod := newPod(ns, "ssd", mc.Spec.SchedulerName, "100m")
		pod.Spec.NodeSelector = map[string]string{"disktype": "ssd"}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		Eventually(func() string {
			p, err := podOf(key)()
			if err != nil {
				return err.Error()
			}
			return podCondition(p, corev1.PodScheduled)
		}, 30*time.Second, 100*time.Millisecond).Should(MatchRegexp(`^False/Unschedulable: 0/[12] agents available: [12] didn't match node selector\.$`))

		node := &corev1.Node{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: labelled}, node)).To(Succeed())
		before := node.DeepCopy()
		node.Labels["disktype"] = "ssd"
		Expect(k8sClient.Patch(ctx, node, client.MergeFrom(before))).To(Succeed())
		Eventually(podOf(key), 30*time.Second, 100*time.Millisecond).Should(And(
			HaveField("Spec.NodeName", labelled), HaveField("Status.Phase", corev1.PodRunning)))
	})
})

// Agents with a fault domain (Mesos's --domain) have their Nodes labelled with its region
// and zone, where kube-scheduler's users look for them: a pod selecting a zone runs on an
// agent of that zone. An agent of another region than the master's, which Mesos offers
// only to REGION_AWARE frameworks, is none of the cluster's: it has no Node.
var _ = Describe("An agent's fault domain", func() {
	It("labels its Node with the region and zone, a zone selector places by it, and a remote agent has no Node", func() {
		sim, err := mesossim.New(mesossim.Config{
			Agents: 3, AgentResources: "cpus:4;mem:8192;disk:10000", AgentZones: []string{"zone-a", "zone-b"},
			AgentRegion: "eu-1", AgentRegions: []string{"eu-1", "eu-1", "us-1"},
			HeartbeatInterval: time.Second, AllocationInterval: 100 * time.Millisecond, UpdateRetry: time.Second,
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(sim.Start("127.0.0.1:0")).To(Succeed())
		DeferCleanup(sim.Close)
		mc := simCluster(sim)
		for agent, zone := range map[string]string{"agent-1": "zone-a", "agent-2": "zone-b"} {
			Eventually(func() map[string]string {
				node := &corev1.Node{}
				_ = k8sClient.Get(ctx, client.ObjectKey{Name: agentNodeOf(mc, agent)}, node)
				return node.Labels
			}, 30*time.Second, 100*time.Millisecond).Should(And(
				HaveKeyWithValue(corev1.LabelTopologyRegion, "eu-1"), HaveKeyWithValue(corev1.LabelTopologyZone, zone)))
		}

		ns := newNamespace()
		pod := newPod(ns, "in-b", mc.Spec.SchedulerName, "100m")
		pod.Spec.NodeSelector = map[string]string{corev1.LabelTopologyZone: "zone-b"}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(pod)), 30*time.Second, 100*time.Millisecond).Should(And(
			HaveField("Spec.NodeName", agentNodeOf(mc, "agent-2")), HaveField("Status.Phase", corev1.PodRunning)))

		// By now the master's agents were listed (the Nodes carry what GET_AGENTS says):
		// the remote one is not among them.
		Consistently(func() error {
			return k8sClient.Get(ctx, client.ObjectKey{Name: agentnode.NodeName(mc.Name, "agent-3", 0)}, &corev1.Node{})
		}, 3*time.Second, 200*time.Millisecond).Should(Satisfy(apierrors.IsNotFound))
	})
})

// A cluster that asks for REGION_AWARE is offered the agents of other regions than the
// master's: they have Nodes, labelled with their region, and take the pods that select a
// region; a pod that selects none stays in the master's region, and says why.
var _ = Describe("A REGION_AWARE cluster", func() {
	It("gives remote agents Nodes and places there only pods that select a region", func() {
		sim, err := mesossim.New(mesossim.Config{
			Agents: 2, AgentResources: "cpus:4;mem:8192;disk:10000", AgentZones: []string{"zone-a"},
			AgentRegion: "eu-1", AgentRegions: []string{"eu-1", "us-1"},
			HeartbeatInterval: time.Second, AllocationInterval: 100 * time.Millisecond, UpdateRetry: time.Second,
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(sim.Start("127.0.0.1:0")).To(Succeed())
		DeferCleanup(sim.Close)
		mc := simClusterWith(sim, func(mc *mesosv1alpha1.MesosCluster) {
			mc.Spec.Framework.Capabilities = []mesosv1alpha1.FrameworkCapability{"PARTITION_AWARE", "TASK_KILLING_STATE", "REGION_AWARE"}
		})
		remote := agentNodeOf(mc, "agent-2")
		Eventually(func() map[string]string {
			node := &corev1.Node{}
			_ = k8sClient.Get(ctx, client.ObjectKey{Name: remote}, node)
			return node.Labels
		}, 30*time.Second, 100*time.Millisecond).Should(HaveKeyWithValue(corev1.LabelTopologyRegion, "us-1"))

		ns := newNamespace()
		// Its hostname is no choice of region: it waits.
		byHost := newPod(ns, "by-host", mc.Spec.SchedulerName, "100m")
		byHost.Spec.NodeSelector = map[string]string{corev1.LabelHostname: "agent-2"}
		Expect(k8sClient.Create(ctx, byHost)).To(Succeed())
		Eventually(func() string {
			p, err := podOf(client.ObjectKeyFromObject(byHost))()
			if err != nil {
				return err.Error()
			}
			return podCondition(p, corev1.PodScheduled)
		}, 30*time.Second, 100*time.Millisecond).Should(MatchRegexp(`^False/Unschedulable: 0/[12] agents available: .*1 in another region than the master's, which the pod does not select`))

		inUS := newPod(ns, "in-us", mc.Spec.SchedulerName, "100m")
		inUS.Spec.NodeSelector = map[string]string{corev1.LabelTopologyRegion: "us-1"}
		Expect(k8sClient.Create(ctx, inUS)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(inUS)), 30*time.Second, 100*time.Millisecond).Should(And(
			HaveField("Spec.NodeName", remote), HaveField("Status.Phase", corev1.PodRunning)))
	})
})
