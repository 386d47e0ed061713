package integration

import (
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/agentnode"
)

// Mesos's maintenance primitives: a machine scheduled for maintenance has its agent's
// Node tainted, so that new pods go elsewhere (those that tolerate it go there), and k8sm answers the master's inverse
// offers for it (declined while a pod runs there); the window cancelled, the taint goes;
// the machine brought down, the pods still there fail as a disruption.
var _ = Describe("An agent whose machine Mesos schedules for maintenance", func() {
	It("takes no new pod, is answered for, and its pods fail as a disruption when it goes down", func() {
		sim := startSim(2, "cpus:4;mem:8192;disk:10000")
		mc := simCluster(sim)
		draining, other := agentNodeOf(mc, "agent-1"), agentNodeOf(mc, "agent-2")
		ns := newNamespace()
		pinned := newPod(ns, "pinned", mc.Spec.SchedulerName, "100m")
		pinned.Spec.NodeSelector = map[string]string{corev1.LabelHostname: "agent-1"}
		Expect(k8sClient.Create(ctx, pinned)).To(Succeed())
		Eventually(func() (corev1.PodPhase, error) {
			p, err := podOf(client.ObjectKeyFromObject(pinned))()
			if err != nil {
				return "", err
			}
			return p.Status.Phase, nil
		}, 30*time.Second, 100*time.Millisecond).Should(Equal(corev1.PodRunning))

		machine, err := sim.AgentMachine("agent-1")
		Expect(err).NotTo(HaveOccurred())
		start := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		schedule := maintenance.Schedule{Windows: []maintenance.Window{{MachineIDs: []mesos.MachineID{machine},
			Unavailability: mesos.Unavailability{Start: mesos.TimeInfo{Nanoseconds: start.UnixNano()},
				Duration: &mesos.DurationInfo{Nanoseconds: int64(time.Hour)}}}}}
		Expect(sim.UpdateMaintenanceSchedule(schedule)).To(Succeed())

		By("the Node is tainted, and says when")
		maintenanceOf := func(name string) func() (string, error) {
			return func() (string, error) {
				n := &corev1.Node{}
				if err := k8sClient.Get(ctx, client.ObjectKey{Name: name}, n); err != nil {
					return "", err
				}
				tainted := false
				for _, t := range n.Spec.Taints {
					tainted = tainted || t == agentnode.MaintenanceTaint()
				}
				c := agentnode.Condition(n, agentnode.ConditionMaintenance)
				switch {
				case c == nil && !tainted:
					return "none", nil
				case c == nil || !tainted:
					return "one of taint and condition", nil
				}
				return string(c.Status) + "/" + c.Reason + ": " + c.Message, nil
			}
		}
		Eventually(maintenanceOf(draining), 20*time.Second, 100*time.Millisecond).Should(And(
			HavePrefix("True/"+agentnode.ReasonMaintenanceScheduled), ContainSubstring("from "+start.Format(time.RFC3339)+" for 1h0m0s")))
		Expect(maintenanceOf(other)()).To(Equal("none"))

		By("Mesos's inverse offer is declined while the pod runs there")
		answer := func() string {
			for _, m := range sim.MaintenanceStatus().DrainingMachines {
				for _, s := range m.Statuses {
					if s.FrameworkID.Value == mc.Status.FrameworkID && s.Status != nil {
						return s.Status.String()
					}
				}
			}
			return "none"
		}
		Eventually(answer, 20*time.Second, 100*time.Millisecond).Should(Equal("DECLINE"))

		By("a new pod that selects the agent waits, saying why; one that tolerates the taint goes there")
		later := newPod(ns, "later", mc.Spec.SchedulerName, "100m")
		later.Spec.NodeSelector = pinned.Spec.NodeSelector
		Expect(k8sClient.Create(ctx, later)).To(Succeed())
		Eventually(func() (string, error) {
			p, err := podOf(client.ObjectKeyFromObject(later))()
			if err != nil {
				return "", err
			}
			return p.Spec.NodeName + " " + podCondition(p, corev1.PodScheduled), nil
		}, 30*time.Second, 100*time.Millisecond).Should(And(HavePrefix(" False/Unschedulable: "), ContainSubstring("had untolerated taints")))
		tolerating := newPod(ns, "tolerating", mc.Spec.SchedulerName, "100m")
		tolerating.Spec.NodeSelector = pinned.Spec.NodeSelector
		tolerating.Spec.Tolerations = []corev1.Toleration{{Key: agentnode.TaintMaintenance, Operator: corev1.TolerationOpExists}}
		Expect(k8sClient.Create(ctx, tolerating)).To(Succeed())
		Eventually(func() (string, error) {
			p, err := podOf(client.ObjectKeyFromObject(tolerating))()
			if err != nil {
				return "", err
			}
			return p.Spec.NodeName, nil
		}, 30*time.Second, 100*time.Millisecond).Should(Equal(draining))

		By("the window cancelled, taint and condition go, and the waiting pod goes there")
		Expect(sim.UpdateMaintenanceSchedule(maintenance.Schedule{})).To(Succeed())
		Eventually(maintenanceOf(draining), 20*time.Second, 100*time.Millisecond).Should(Equal("none"))
		Eventually(func() (string, error) {
			p, err := podOf(client.ObjectKeyFromObject(later))()
			if err != nil {
				return "", err
			}
			return p.Spec.NodeName, nil
		}, 30*time.Second, 100*time.Millisecond).Should(Equal(draining))

		By("scheduled again and brought down, the pod there fails as a disruption")
		Expect(sim.UpdateMaintenanceSchedule(schedule)).To(Succeed())
		Eventually(maintenanceOf(draining), 20*time.Second, 100*time.Millisecond).Should(HavePrefix("True/"))
		Expect(sim.StartMaintenance(machine)).To(Succeed())
		Eventually(func() (string, error) {
			p, err := podOf(client.ObjectKeyFromObject(pinned))()
			if err != nil {
				return "", err
			}
			return string(p.Status.Phase) + " " + podCondition(p, corev1.DisruptionTarget), nil
		}, 30*time.Second, 100*time.Millisecond).Should(HavePrefix("Failed True/"))
	})
})
