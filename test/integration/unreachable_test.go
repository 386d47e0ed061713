package integration

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/mesossim"
	"github.com/k8sm/k8sm/internal/podtask"
)

var _ = Describe("Tasks of an agent Mesos lost", func() {
	// A framework that is not PARTITION_AWARE hears TASK_LOST where another hears
	// TASK_UNREACHABLE: with unreachable_time while the agent is unreachable, when it is
	// marked so and in every reconciliation answer after (Master::reconcile, case 4).
	It("stay unreachable for a framework that is not PARTITION_AWARE, and are let go once their deleted pods are gone", func() {
		ns := newNamespace()
		sim, pod, mt, phase := partitionedNotPartitionAware(ns, "lost")
		key := client.ObjectKeyFromObject(pod)
		Expect(mt.Status.MesosState).To(Equal("TASK_LOST"))
		// The suite reconciles every second: each answer says the task is unreachable.
		Consistently(phase, 4*time.Second, 200*time.Millisecond).Should(Equal(mesosv1alpha1.TaskPhaseUnreachable))
		// The suite's unreachable timeout is 2s.
		Eventually(podOf(key), 20*time.Second, 100*time.Millisecond).Should(HaveField("Status.Reason", podtask.ReasonNodeLost))

		Expect(k8sClient.Delete(ctx, pod)).To(Succeed())
		expectLetGo(ns, key)

		By("healing the partition: the task that comes back is killed")
		Expect(taskStates(sim)()).To(ContainElement("TASK_UNREACHABLE"), "the task runs on, cut off")
		Expect(sim.HealAgent("agent-1")).To(Succeed())
		Eventually(unkilledTasks(sim), 30*time.Second, 100*time.Millisecond).Should(BeEmpty())
	})

	// A pod deleted while its task is unreachable waits, Terminating, for the KILL to
	// reach the task, until it is Failed with reason NodeLost: then it goes, as a pod
	// deleted after that goes at once, and its MesosTask lets go of the task.
	It("go once Failed with NodeLost when they were deleted before", func() {
		ns := newNamespace()
		sim, pod, _, _ := partitionedNotPartitionAware(ns, "deleted", func(pod *corev1.Pod) {
			Expect(k8sClient.Delete(ctx, pod)).To(Succeed())
		})
		expectLetGo(ns, client.ObjectKeyFromObject(pod))
		Expect(taskStates(sim)()).To(ContainElement("TASK_UNREACHABLE"), "the task runs on, cut off")
	})

	It("end for a framework that is not PARTITION_AWARE once their agent is marked gone", func() {
		sim, pod, mt, phase := partitionedNotPartitionAware(newNamespace(), "gone")
		key := client.ObjectKeyFromObject(pod)

		// TASK_LOST without unreachable_time, then, asked again, TASK_LOST from
		// reconciliation: "Task is gone".
		Expect(sim.RemoveAgent("agent-1")).To(Succeed())
		Eventually(phase, 20*time.Second, 100*time.Millisecond).Should(Equal(mesosv1alpha1.TaskPhaseGone))
		Expect(mt.Status.MesosState).To(Equal("TASK_LOST"))
		Eventually(podOf(key), 20*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodFailed))

		Expect(k8sClient.Delete(ctx, pod)).To(Succeed())
		Eventually(func() bool {
			_, err := podOf(key)()
			return apierrors.IsNotFound(err)
		}, 20*time.Second, 100*time.Millisecond).Should(BeTrue(), "the deleted pod of a task Mesos lost must go")
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, key, &mesosv1alpha1.MesosTask{}))
		}, 20*time.Second, 100*time.Millisecond).Should(BeTrue(), "its MesosTask must let go of its finalizer")
	})

	It("let a StatefulSet's pod made again run elsewhere, and kill the earlier task when its agent is back", func() {
		sim := startSim(2, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		ns := newNamespace()
		pod := newPod(ns, "web-0", mc.Spec.SchedulerName, "100m")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		Eventually(podOf(key), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		mt := &mesosv1alpha1.MesosTask{}
		Eventually(taskAt(key, mt), recordWait, 100*time.Millisecond).Should(Succeed())
		agent, earlier := mt.Status.Hostname, podtask.TaskIDFor(pod)

		Expect(sim.PartitionAgent(agent)).To(Succeed())
		Eventually(func() (mesosv1alpha1.TaskPhase, error) {
			err := k8sClient.Get(ctx, key, mt)
			return mt.Status.Phase, err
		}, 20*time.Second, 100*time.Millisecond).Should(Equal(mesosv1alpha1.TaskPhaseUnreachable))

		By("force-deleting the pod, as the StatefulSet documentation tells for a pod of an unreachable Node, and making it again")
		Expect(k8sClient.Delete(ctx, pod, client.GracePeriodSeconds(0))).To(Succeed())
		Eventually(func() bool {
			_, err := podOf(key)()
			return apierrors.IsNotFound(err)
		}, 10*time.Second, 100*time.Millisecond).Should(BeTrue())
		again := newPod(ns, "web-0", mc.Spec.SchedulerName, "100m")
		Expect(k8sClient.Create(ctx, again)).To(Succeed())
		Eventually(podOf(key), 30*time.Second, 100*time.Millisecond).Should(And(
			HaveField("UID", again.UID), HaveField("Status.Phase", corev1.PodRunning),
			HaveField("Spec.NodeName", Not(Equal(agentnode.NodeName(mc.Name, agent, 0))))))
		Eventually(eventsIn(ns), 10*time.Second, 100*time.Millisecond).Should(ContainElement("MesosTask/web-0 Warning Released"))

		By("healing the partition: the earlier task, which no MesosTask owns, is killed at its first report")
		Expect(taskStates(sim)()).To(HaveKeyWithValue(earlier, "TASK_UNREACHABLE"), "the earlier task runs on, cut off")
		Expect(sim.HealAgent(agent)).To(Succeed())
		// Mesos forgets a task once its end was acknowledged.
		Eventually(func() string { return taskStates(sim)()[earlier] }, 30*time.Second, 100*time.Millisecond).Should(
			Or(BeEmpty(), Equal("TASK_KILLED")), "the earlier task must be killed when its agent is back")
		Expect(taskStates(sim)()).To(HaveKeyWithValue(podtask.TaskIDFor(again), "TASK_RUNNING"))
		Consistently(podOf(key), 2*time.Second, 200*time.Millisecond).Should(And(
			HaveField("UID", again.UID), HaveField("Status.Phase", corev1.PodRunning)))
	})
})

// A task that comes back with its agent after its pod failed NodeLost is killed, and
// KILL is sent again every 10 s until Mesos says the task ended; the MesosTask tells of
// the kill once, not at each try (an event written again would count as a series).
var _ = Describe("The kill of a task whose pod ended while its agent was unreachable", func() {
	It("is told once, though KILL is sent again until the task ends", func() {
		ns := newNamespace()
		sim, pod, _, _ := partitionedPod(ns, "stranded", nil)
		key := client.ObjectKeyFromObject(pod)
		// The suite's unreachable timeout is 2s.
		Eventually(podOf(key), 20*time.Second, 100*time.Millisecond).Should(HaveField("Status.Reason", podtask.ReasonNodeLost))

		By("healing the partition while the agent's updates are held back: the task seems to run on after its KILL")
		sim.DelayUpdates(15 * time.Second)
		DeferCleanup(func() { sim.DelayUpdates(0) })
		Expect(sim.HealAgent("agent-1")).To(Succeed())
		killing := func() (*eventsv1.Event, error) {
			var list eventsv1.EventList
			if err := k8sClient.List(ctx, &list, client.InNamespace(ns)); err != nil {
				return nil, err
			}
			for i := range list.Items {
				if e := &list.Items[i]; e.Regarding.Kind == "MesosTask" && e.Reason == "Killing" {
					return e, nil
				}
			}
			return nil, nil
		}
		Eventually(killing, 20*time.Second, 100*time.Millisecond).ShouldNot(BeNil())
		Consistently(killing, 12*time.Second, 500*time.Millisecond).Should(HaveField("Series", BeNil()), "the kill is told once")
		sim.DelayUpdates(0)
		Eventually(unkilledTasks(sim), 30*time.Second, 100*time.Millisecond).Should(BeEmpty())
	})
})

// taskStates is the state of each of the sim's tasks, by id.
func taskStates(sim *mesossim.Master) func() map[string]string {
	return func() map[string]string {
		out := map[string]string{}
		for _, fw := range sim.State().Frameworks {
			for _, t := range fw.Tasks {
				out[t.ID] = t.State
			}
		}
		return out
	}
}

// expectLetGo waits for a deleted pod of an unreachable task, Failed, to go, and for its
// MesosTask to let go of the task, saying so (Released).
func expectLetGo(ns string, key client.ObjectKey) {
	GinkgoHelper()
	Eventually(func() bool {
		_, err := podOf(key)()
		return apierrors.IsNotFound(err)
	}, 20*time.Second, 100*time.Millisecond).Should(BeTrue(), "the deleted pod, Failed, must go")
	Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, key, &mesosv1alpha1.MesosTask{}))
	}, 20*time.Second, 100*time.Millisecond).Should(BeTrue(), "its MesosTask must let go of the unreachable task")
	Eventually(eventsIn(ns), 10*time.Second, 100*time.Millisecond).Should(ContainElement("MesosTask/" + key.Name + " Warning Released"))
}

// partitionedNotPartitionAware is partitionedPod with a cluster that is not
// PARTITION_AWARE.
func partitionedNotPartitionAware(ns, name string, then ...func(*corev1.Pod)) (sim *mesossim.Master, pod *corev1.Pod, mt *mesosv1alpha1.MesosTask, phase func() (mesosv1alpha1.TaskPhase, error)) {
	GinkgoHelper()
	return partitionedPod(ns, name, func(mc *mesosv1alpha1.MesosCluster) {
		mc.Spec.Framework.Capabilities = []mesosv1alpha1.FrameworkCapability{"TASK_KILLING_STATE"}
	}, then...)
}

// partitionedPod runs pod name of namespace ns on the one agent of a cluster (its spec
// changed by mutate, when not nil), partitions the agent, calls then each of then with
// the pod, and waits for the pod's MesosTask to be Unreachable; phase reads the MesosTask
// again, into mt.
func partitionedPod(ns, name string, mutate func(*mesosv1alpha1.MesosCluster), then ...func(*corev1.Pod)) (sim *mesossim.Master, pod *corev1.Pod, mt *mesosv1alpha1.MesosTask, phase func() (mesosv1alpha1.TaskPhase, error)) {
	GinkgoHelper()
	sim = startSim(1, "cpus:2;mem:4096;disk:10000")
	mc := simClusterWith(sim, mutate)
	pod = newPod(ns, name, mc.Spec.SchedulerName, "100m")
	Expect(k8sClient.Create(ctx, pod)).To(Succeed())
	key := client.ObjectKeyFromObject(pod)
	Eventually(podOf(key), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))

	Expect(sim.PartitionAgent("agent-1")).To(Succeed())
	for _, f := range then {
		f(pod)
	}
	mt = &mesosv1alpha1.MesosTask{}
	phase = func() (mesosv1alpha1.TaskPhase, error) {
		err := k8sClient.Get(ctx, key, mt)
		return mt.Status.Phase, err
	}
	Eventually(phase, 20*time.Second, 100*time.Millisecond).Should(Equal(mesosv1alpha1.TaskPhaseUnreachable))
	return sim, pod, mt, phase
}

// A task unreachable past the timeout while the framework cannot ask Mesos (the master
// down) keeps its pod: its agent may be back, and only the reconciliation after the
// next subscription can tell. Here it came back while no framework was subscribed, so
// nothing but that reconciliation says so; the pod is Ready again and its task runs.
var _ = Describe("A pod whose task was unreachable when Mesos could no longer be asked", func() {
	It("is not failed NodeLost before Mesos answered again, and runs on once its agent is back", func() {
		sim, pod, _, _ := partitionedPod(newNamespace(), "outage", nil)
		key := client.ObjectKeyFromObject(pod)
		sim.SetDown(true)
		DeferCleanup(sim.SetDown, false)
		Expect(sim.HealAgent("agent-1")).To(Succeed())

		// The suite's unreachable timeout is 2s.
		Consistently(podOf(key), 5*time.Second, 200*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))

		sim.SetDown(false)
		Eventually(func() string {
			p, _ := podOf(key)()
			return podCondition(p, corev1.PodReady)
		}, 30*time.Second, 100*time.Millisecond).Should(HavePrefix("True/"))
		Expect(podOf(key)()).To(HaveField("Status.Phase", corev1.PodRunning))
		Expect(taskStates(sim)()).To(ConsistOf("TASK_RUNNING"))
	})
})
