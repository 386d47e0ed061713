package integration

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/mesossim"
)

// Several Mesos agents on one host, as local setups start them (each with
// --hostname=127.0.0.1 and a --port of its own), are several Nodes: the Node name adds
// the agent's port to the hostname when it is not 5051 (agentnode.NodeName).
var _ = Describe("Agents that share a hostname", func() {
	It("are a Node each, and pods land on both", func() {
		sim, err := mesossim.New(mesossim.Config{
			Agents: 2, AgentHostname: "127.0.0.1", AgentResources: "cpus:2;mem:4096;disk:10000",
			HeartbeatInterval: time.Second, AllocationInterval: 100 * time.Millisecond, UpdateRetry: time.Second,
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(sim.Start("127.0.0.1:0")).To(Succeed())
		DeferCleanup(sim.Close)
		mc := simCluster(sim)

		first, second := agentnode.NodeName(mc.Name, "127.0.0.1", 5051), agentnode.NodeName(mc.Name, "127.0.0.1", 5052)
		Expect([]string{first, second}).To(Equal([]string{"mesos-" + mc.Name + "-127.0.0.1", "mesos-" + mc.Name + "-127.0.0.1-5052"}))
		Eventually(func() ([]string, error) {
			var nodes corev1.NodeList
			err := k8sClient.List(ctx, &nodes, client.MatchingLabels{agentnode.LabelCluster: mc.Name})
			var names []string
			for _, n := range nodes.Items {
				names = append(names, n.Name+" "+n.Labels[corev1.LabelHostname])
			}
			return names, err
		}, 20*time.Second, 100*time.Millisecond).Should(ConsistOf(first+" 127.0.0.1", second+" 127.0.0.1"))

		// Two pods of 1.5 cpus cannot share an agent of 2: one runs on each.
		ns := newNamespace()
		for _, name := range []string{"a", "b"} {
			Expect(k8sClient.Create(ctx, newPod(ns, name, mc.Spec.SchedulerName, "1500m"))).To(Succeed())
		}
		Eventually(func() ([]string, error) {
			var pods corev1.PodList
			err := k8sClient.List(ctx, &pods, client.InNamespace(ns))
			var nodes []string
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning {
					nodes = append(nodes, p.Spec.NodeName)
				}
			}
			return nodes, err
		}, 30*time.Second, 100*time.Millisecond).Should(ConsistOf(first, second))
		agents := map[string]bool{}
		for _, t := range sim.State().Frameworks[0].Tasks {
			agents[t.AgentID] = true
		}
		Expect(agents).To(HaveLen(2))
	})
})
