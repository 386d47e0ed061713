package integration

import (
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/controllers"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/mesossim"
	"github.com/k8sm/k8sm/internal/podtask"
)

var _ = Describe("Pods on Mesos", func() {
	It("subscribes, shows the agents as Nodes and says the framework id", func() {
		sim := startSim(3, "cpus:2;mem:4096;disk:10000;ports:[31000-31100]")
		// Another framework's tasks hold part of agent-1: its offers show 1 cpu, but the
		// Node and the cluster's capacity count the agent's whole 2, from the operator API.
		Expect(sim.HoldResources("agent-1", "cpus:1;mem:1024")).To(Succeed())
		mc := simCluster(sim)
		Expect(mc.Status.FrameworkID).To(HavePrefix(sim.ID()))
		Expect(mc.Status.Leader).NotTo(BeEmpty())

		Eventually(func() ([]string, error) {
			var nodes corev1.NodeList
			err := k8sClient.List(ctx, &nodes, client.MatchingLabels{agentnode.LabelCluster: mc.Name})
			var names []string
			for _, n := range nodes.Items {
				if podConditionOfNode(&n) == corev1.ConditionTrue {
					names = append(names, n.Name)
				}
			}
			return names, err
		}, 20*time.Second, 100*time.Millisecond).Should(ConsistOf(
			"mesos-"+mc.Name+"-agent-1", "mesos-"+mc.Name+"-agent-2", "mesos-"+mc.Name+"-agent-3"))
		got := &mesosv1alpha1.MesosCluster{}
		Eventually(func() int32 {
			_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), got)
			return got.Status.Agents
		}, 20*time.Second).Should(Equal(int32(3)))
		Eventually(func() string {
			_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), got)
			if got.Status.Capacity == nil {
				return ""
			}
			return got.Status.Capacity.CPUs.String() + " " + got.Status.Capacity.Memory.String()
		}, 20*time.Second, 100*time.Millisecond).Should(Equal("6 12Gi"))
		node := &corev1.Node{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "mesos-" + mc.Name + "-agent-1"}, node)).To(Succeed())
		Eventually(func() string {
			_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(node), node)
			return node.Status.Capacity.Cpu().String()
		}, 20*time.Second, 100*time.Millisecond).Should(Equal("2"))
		Eventually(condition(mc, mesosv1alpha1.ConditionReconciled), 20*time.Second).Should(HavePrefix("True/"))
		// Reconciliation repeats (every second in this suite, 15 minutes by default).
		Eventually(func() int { return sim.State().Frameworks[0].Reconciles }, 20*time.Second, 100*time.Millisecond).Should(BeNumerically(">=", 4))
	})

	It("runs a pod as a task, mirrors its state, and kills it on delete", func() {
		sim := startSim(2, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		ns := newNamespace()
		pod := newPod(ns, "web", mc.Spec.SchedulerName, "500m")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)

		Eventually(podOf(key), 30*time.Second, 100*time.Millisecond).Should(And(
			HaveField("Spec.NodeName", HavePrefix("mesos-"+mc.Name+"-agent-")),
			HaveField("Status.Phase", corev1.PodRunning)))
		p, _ := podOf(key)()
		// The manager writes from a cache without managed fields: the stored ones stay.
		Expect(p.ManagedFields).To(ContainElements(HaveField("Subresource", ""), HaveField("Subresource", "status")))
		Expect(podCondition(p, corev1.PodReady)).To(HavePrefix("True/"))
		Expect(podCondition(p, corev1.PodScheduled)).To(HavePrefix("True/"))

		mt := &mesosv1alpha1.MesosTask{}
		Eventually(taskAt(key, mt), recordWait, 100*time.Millisecond).Should(Succeed())
		Expect(mt.Spec.TaskID).To(Equal("k8sm." + string(pod.UID)))
		Expect(mt.Status.Phase).To(Equal(mesosv1alpha1.TaskPhaseRunning))
		Expect(mt.Status.MesosState).To(Equal("TASK_RUNNING"))
		Expect(mt.Status.PodPhase).To(Equal(corev1.PodRunning))
		// Where and when it was launched, though no write but RUNNING's recorded it.
		Expect("mesos-" + mc.Name + "-" + mt.Status.Hostname).To(Equal(p.Spec.NodeName))
		Expect(mt.Status.AgentID).To(Equal(sim.State().Frameworks[0].Tasks[0].AgentID))
		Expect(mt.Status.LaunchedAt).NotTo(BeNil())
		Expect(meta.FindStatusCondition(mt.Status.Conditions, mesosv1alpha1.TaskConditionScheduled)).To(And(
			HaveField("Status", metav1.ConditionTrue), HaveField("Message", "Launched on agent "+mt.Status.Hostname)))
		Expect(mt.Finalizers).To(ContainElement(controllers.TaskFinalizer))
		Expect(mt.OwnerReferences).To(ContainElement(HaveField("UID", pod.UID)))
		// Each status write is a generation (no status subresource): the status says so.
		Expect(mt.Status.ObservedGeneration).To(Equal(mt.Generation))
		Expect(sim.State().Frameworks[0].Tasks).To(ContainElement(HaveField("State", "TASK_RUNNING")))
		Eventually(func() *mesosv1alpha1.TaskCounts {
			got := &mesosv1alpha1.MesosCluster{}
			_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), got)
			return got.Status.Tasks
		}, 20*time.Second).Should(HaveValue(HaveField("Running", int32(1))))

		By("counting it in the operator's metrics")
		Eventually(func() map[string]float64 { return clusterMetrics(mc.Name) }, 20*time.Second, 100*time.Millisecond).Should(And(
			HaveKeyWithValue("k8sm_framework_subscribed", 1.0),
			HaveKeyWithValue("k8sm_framework_subscriptions_total", 1.0),
			HaveKeyWithValue("k8sm_tasks_launched_total", 1.0),
			HaveKeyWithValue(`k8sm_task_status_updates_total{state="TASK_RUNNING"}`, BeNumerically(">=", 1)),
			HaveKeyWithValue(`k8sm_tasks{phase="running"}`, 1.0),
			HaveKeyWithValue("k8sm_agents", 2.0),
			HaveKeyWithValue("k8sm_offers_received_total", BeNumerically(">=", 1)),
			HaveKeyWithValue("k8sm_placement_duration_seconds_count", BeNumerically(">=", 1)),
		))

		By("telling what happened in events: one for the binding and the launch, one when it runs")
		Eventually(eventsIn(ns), 20*time.Second, 100*time.Millisecond).Should(ContainElements(
			"Pod/web Normal Scheduled", "Pod/web Normal Running"))
		Expect(eventsIn(ns)()).NotTo(ContainElement(HaveSuffix(" Launched")), "a pod this operator bound gets Scheduled, saying the task")

		Expect(k8sClient.Delete(ctx, pod)).To(Succeed())
		Eventually(func() bool {
			_, err := podOf(key)()
			return apierrors.IsNotFound(err)
		}, 30*time.Second, 100*time.Millisecond).Should(BeTrue(), "the pod must go once its task is killed")
		Eventually(unkilledTasks(sim), 10*time.Second).Should(BeEmpty())
		Eventually(eventsIn(ns), 20*time.Second, 100*time.Millisecond).Should(ContainElement("Pod/web Normal Killed"))
	})

	// A manager that stopped between binding a pod and writing any of its task's updates
	// leaves a pod bound through its Binding (PodScheduled=True) whose MesosTask says
	// nothing, or none (this version writes it when Mesos first reports the task): the
	// task may run, or the launch was never sent. The scheduler asks Mesos, and launches
	// only what Mesos never saw, on the pod's Node. The pod is bound before the cluster
	// starts, as its manager would have bound it: a running manager takes a pod created
	// bound for one to launch, and launches an unbound one itself.
	boundUnrecordedPod := func(sim *mesossim.Master, agent string, withTask bool) (*mesosv1alpha1.MesosCluster, *corev1.Pod) {
		mc := simClusterSpec(sim)
		mc.GenerateName, mc.Name = "", "mc-"+mc.Spec.SchedulerName // its Nodes' names are known before it is made
		pod := newPod(newNamespace(), "bound", mc.Spec.SchedulerName, "500m")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Expect(k8sClient.SubResource("binding").Create(ctx, pod, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name},
			Target: corev1.ObjectReference{Kind: "Node", Name: agentnode.NodeName(mc.Name, agent, 0)}})).To(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), pod)).To(Succeed())
		if withTask {
			// In the manager's cache first, or its MesosTask would be taken for one whose pod is gone.
			Eventually(func() error { return managerCache.Get(ctx, client.ObjectKeyFromObject(pod), &corev1.Pod{}) }).Should(Succeed())
			mt := &mesosv1alpha1.MesosTask{
				ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, Finalizers: []string{controllers.TaskFinalizer}},
				Spec: mesosv1alpha1.MesosTaskSpec{ClusterRef: mc.Name, PodUID: string(pod.UID), TaskID: podtask.TaskIDFor(pod),
					Resources: podtask.ResourcesFor(pod), ExecutorID: podtask.ExecutorID(mc)},
			}
			Expect(controllerutil.SetControllerReference(pod, mt, k8sClient.Scheme())).To(Succeed())
			Expect(k8sClient.Create(ctx, mt)).To(Succeed())
		}
		return startCluster(mc), pod
	}

	DescribeTable("launches a bound pod whose launch was never sent, once, on its Node",
		func(withTask bool) {
			sim := startSim(2, "cpus:2;mem:4096;disk:10000")
			_, pod := boundUnrecordedPod(sim, "agent-2", withTask)
			key := client.ObjectKeyFromObject(pod)

			Eventually(podOf(key), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
			mt := &mesosv1alpha1.MesosTask{}
			Eventually(taskAt(key, mt), recordWait, 100*time.Millisecond).Should(Succeed())
			Expect(mt.Status.Phase).To(Equal(mesosv1alpha1.TaskPhaseRunning))
			Expect(mt.Status.Hostname).To(Equal("agent-2"))
			node := &corev1.Node{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, node)).To(Succeed())
			Expect(sim.State().Frameworks[0].Tasks).To(ConsistOf(And(
				HaveField("ID", mt.Spec.TaskID), HaveField("State", "TASK_RUNNING"), HaveField("AgentID", node.Annotations[agentnode.AnnotationAgentID]))))
		},
		Entry("with no MesosTask", false),
		Entry("with a MesosTask that says nothing (an earlier version's)", true),
	)

	It("writes a pod's MesosTask once, when Mesos first reports its task, with its state", func() {
		skipInMemory("what the API server is sent: nothing, with the MesosTasks in memory")
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		ns := newNamespace()
		w, err := k8sClient.Watch(ctx, &mesosv1alpha1.MesosTaskList{}, client.InNamespace(ns))
		Expect(err).NotTo(HaveOccurred())
		defer w.Stop()
		var mu sync.Mutex
		var seen []string
		go func() {
			for ev := range w.ResultChan() {
				if mt, ok := ev.Object.(*mesosv1alpha1.MesosTask); ok {
					mu.Lock()
					seen = append(seen, fmt.Sprintf("%s %s %d", ev.Type, mt.Status.Phase, mt.Generation))
					mu.Unlock()
				}
			}
		}()
		writes := func() []string {
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), seen...)
		}
		pod := newPod(ns, "once", mc.Spec.SchedulerName, "500m")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())

		Eventually(podOf(client.ObjectKeyFromObject(pod)), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		// The MesosTask is written before the pod's status, from the same update.
		Eventually(writes, 10*time.Second, 50*time.Millisecond).ShouldNot(BeEmpty())
		Consistently(writes, 2*time.Second, 100*time.Millisecond).Should(Equal([]string{"ADDED Running 1"}))
	})

	It("kills the task of a pod deleted before Mesos reported on it", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		sim.DelayUpdates(5 * time.Second)
		DeferCleanup(func() { sim.DelayUpdates(0) })
		pod := newPod(newNamespace(), "early", mc.Spec.SchedulerName, "500m")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		Eventually(simTaskIDs(sim), 20*time.Second, 50*time.Millisecond).Should(ContainElement(podtask.TaskIDFor(pod)))
		err := k8sClient.Get(ctx, key, &mesosv1alpha1.MesosTask{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "launched, no update written yet: no MesosTask (%v)", err)

		Expect(k8sClient.Delete(ctx, pod)).To(Succeed())
		Eventually(unkilledTasks(sim), 10*time.Second, 100*time.Millisecond).Should(BeEmpty())
		Eventually(func() bool {
			_, err := podOf(key)()
			return apierrors.IsNotFound(err)
		}, 30*time.Second, 100*time.Millisecond).Should(BeTrue(), "the pod must go once its task is killed")
	})

	It("runs a pod another scheduler bound to an agent's Node on that agent, and kills it on delete", func() {
		sim := startSim(2, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		node := agentNodeOf(mc, "agent-2")
		// As a DaemonSet's pod that tolerates the agent Nodes' taint, bound by kube-scheduler.
		pod := newPod(newNamespace(), "daemon", corev1.DefaultSchedulerName, "500m")
		pod.Spec.NodeName = node
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)

		Eventually(podOf(key), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		mt := &mesosv1alpha1.MesosTask{}
		Eventually(taskAt(key, mt), recordWait, 100*time.Millisecond).Should(Succeed())
		Expect(mt.Spec.NodeName).To(Equal(node))
		Expect(mt.Spec.ClusterRef).To(Equal(mc.Name))
		Expect(mt.Status.Hostname).To(Equal("agent-2"))
		Expect(sim.State().Frameworks[0].Tasks).To(ConsistOf(And(HaveField("ID", mt.Spec.TaskID), HaveField("State", "TASK_RUNNING"))))

		Expect(k8sClient.Delete(ctx, pod)).To(Succeed())
		Eventually(func() bool {
			_, err := podOf(key)()
			return apierrors.IsNotFound(err)
		}, 30*time.Second, 100*time.Millisecond).Should(BeTrue())
		Eventually(unkilledTasks(sim), 10*time.Second).Should(BeEmpty())
	})

	It("waits for room on the agent of a pod bound to its Node, and leaves pods bound to other Nodes alone", func() {
		sim := startSim(1, "cpus:1;mem:4096;disk:10000")
		mc := simCluster(sim)
		node := agentNodeOf(mc, "agent-1")
		ns := newNamespace()
		big := newPod(ns, "big", corev1.DefaultSchedulerName, "2")
		big.Spec.NodeName = node
		Expect(k8sClient.Create(ctx, big)).To(Succeed())
		Eventually(eventsIn(ns), 20*time.Second, 100*time.Millisecond).Should(ContainElement("Pod/big Warning WaitingForOffer"))
		p, err := podOf(client.ObjectKeyFromObject(big))()
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Status.Phase).To(Equal(corev1.PodPending))
		Expect(podCondition(p, corev1.PodScheduled)).NotTo(HavePrefix("False/"), "a bound pod is scheduled")

		// A pod naming this cluster's scheduler but bound to a kubelet's Node is the kubelet's.
		other := newPod(ns, "elsewhere", mc.Spec.SchedulerName, "100m")
		other.Spec.NodeName = "a-kubelet-node"
		Expect(k8sClient.Create(ctx, other)).To(Succeed())
		Consistently(func() error {
			return k8sClient.Get(ctx, client.ObjectKeyFromObject(other), &mesosv1alpha1.MesosTask{})
		}, 2*time.Second, 200*time.Millisecond).ShouldNot(Succeed())
		Expect(k8sClient.Delete(ctx, other)).To(Succeed())
		Consistently(podOf(client.ObjectKeyFromObject(other)), 2*time.Second, 200*time.Millisecond).Should(
			HaveField("DeletionTimestamp", Not(BeNil())), "its kubelet, not the operator, removes it")
	})

	It("fails a pod bound to an agent's Node in a namespace the cluster does not take", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := minimalCluster()
		mc.Spec.Master = sim.URL()
		mc.Spec.SchedulerName = uniqueSchedulerName()
		mc.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"k8sm": "on"}}
		createCluster(mc)
		Eventually(condition(mc, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(HavePrefix("True/"))
		node := agentNodeOf(mc, "agent-1")
		pod := newPod(newNamespace(), "daemon", corev1.DefaultSchedulerName, "100m")
		pod.Spec.NodeName = node
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(pod)), 20*time.Second, 100*time.Millisecond).Should(And(
			HaveField("Status.Phase", corev1.PodFailed), HaveField("Status.Reason", podtask.ReasonNamespaceNotAllowed),
			HaveField("Status.Message", ContainSubstring("spec.namespaceSelector"))))
		Expect(sim.State().Frameworks[0].Tasks).To(BeEmpty())
	})

	It("removes a bound pod whose launch was never written when it is deleted", func() {
		sim := startSim(2, "cpus:2;mem:4096;disk:10000")
		_, pod := boundUnrecordedPod(sim, "agent-1", true)
		Expect(k8sClient.Delete(ctx, pod)).To(Succeed())
		// The delete races the cluster's first reconciliation, which launches the task
		// Mesos never saw on the pod's Node: a KILL that reached Mesos before that launch
		// is sent again after the pod's grace period (30 s) and 10 s.
		Eventually(func() bool {
			_, err := podOf(client.ObjectKeyFromObject(pod))()
			return apierrors.IsNotFound(err)
		}, 60*time.Second, 100*time.Millisecond).Should(BeTrue(), "the pod goes, whether its task ran or not")
		Eventually(unkilledTasks(sim), 10*time.Second).Should(BeEmpty())
	})

	// An ACCEPT that returns an error may or may not have reached the master.
	for _, processed := range []bool{true, false} {
		name := map[bool]string{true: "runs a pod once when the answer to its launch was lost",
			false: "runs a pod whose launch the master refused on a later offer"}[processed]
		It(name, func() {
			sim := startSim(1, "cpus:2;mem:4096;disk:10000")
			mc := simCluster(sim)
			sim.FailAccepts(1, processed)
			pod := newPod(newNamespace(), "web", mc.Spec.SchedulerName, "500m")
			Expect(k8sClient.Create(ctx, pod)).To(Succeed())
			key := client.ObjectKeyFromObject(pod)
			Eventually(podOf(key), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
			Consistently(podOf(key), 2*time.Second, 200*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
			Expect(sim.State().Frameworks[0].Tasks).To(ConsistOf(And(
				HaveField("ID", podtask.TaskIDFor(pod)), HaveField("State", "TASK_RUNNING"))), "one task, launched once")
		})
	}

	It("gives room that frees up to the pod that waited longest", func() {
		sim := startSim(1, "cpus:1;mem:4096;disk:10000")
		mc := simCluster(sim)
		ns := newNamespace()
		unschedulable := func(p *corev1.Pod) func() string {
			return func() string {
				got, err := podOf(client.ObjectKeyFromObject(p))()
				if err != nil {
					return err.Error()
				}
				return podCondition(got, corev1.PodScheduled)
			}
		}
		first := newPod(ns, "first", mc.Spec.SchedulerName, "900m")
		Expect(k8sClient.Create(ctx, first)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(first)), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		waited := newPod(ns, "waited", mc.Spec.SchedulerName, "900m")
		Expect(k8sClient.Create(ctx, waited)).To(Succeed())
		Eventually(unschedulable(waited), 30*time.Second, 100*time.Millisecond).Should(HavePrefix("False/Unschedulable"))
		newer := newPod(ns, "newer", mc.Spec.SchedulerName, "900m")
		Expect(k8sClient.Create(ctx, newer)).To(Succeed())
		Eventually(unschedulable(newer), 30*time.Second, 100*time.Millisecond).Should(HavePrefix("False/Unschedulable"))

		Expect(k8sClient.Delete(ctx, first)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(waited)), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		Expect(podOf(client.ObjectKeyFromObject(newer))()).To(HaveField("Spec.NodeName", BeEmpty()), "the newer pod waits its turn")
	})

	It("keeps a pod that fits nowhere Pending with the reason, and runs it when room appears", func() {
		sim := startSim(2, "cpus:1;mem:4096;disk:10000")
		mc := simCluster(sim)
		ns := newNamespace()
		big := newPod(ns, "big", mc.Spec.SchedulerName, "4")
		Expect(k8sClient.Create(ctx, big)).To(Succeed())
		Eventually(func() string {
			p, err := podOf(client.ObjectKeyFromObject(big))()
			if err != nil {
				return err.Error()
			}
			return podCondition(p, corev1.PodScheduled)
		}, 30*time.Second, 100*time.Millisecond).Should(Equal(
			"False/Unschedulable: 0/2 agents available: 2 insufficient cpus."))
		// Queued, it has no MesosTask yet (one is written when Mesos first reports its
		// task); the cluster counts it as pending.
		err := k8sClient.Get(ctx, client.ObjectKeyFromObject(big), &mesosv1alpha1.MesosTask{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "a queued pod's MesosTask: %v", err)
		Eventually(func() int32 {
			c := &mesosv1alpha1.MesosCluster{}
			if k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), c) != nil || c.Status.Tasks == nil {
				return 0
			}
			return c.Status.Tasks.Pending
		}, 30*time.Second, 100*time.Millisecond).Should(BeEquivalentTo(1))
		// What "pods wait for offers" alerts on: the pod waits, and nothing was launched,
		// a series at 0 rather than none.
		Eventually(func() map[string]float64 { return clusterMetrics(mc.Name) }, 5*time.Second, 50*time.Millisecond).Should(And(
			HaveKeyWithValue("k8sm_pending_tasks", 1.0),
			HaveKeyWithValue("k8sm_tasks_launched_total", 0.0)))

		// Pods that fit run beside it; several per agent.
		for i := range 3 {
			Expect(k8sClient.Create(ctx, newPod(ns, fmt.Sprintf("small-%d", i), mc.Spec.SchedulerName, "250m"))).To(Succeed())
		}
		Eventually(func() int {
			var pods corev1.PodList
			_ = k8sClient.List(ctx, &pods, client.InNamespace(ns))
			n := 0
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning {
					n++
				}
			}
			return n
		}, 30*time.Second, 100*time.Millisecond).Should(Equal(3))

		// A pod deleted before it was launched goes at once and is never launched.
		Expect(k8sClient.Delete(ctx, big)).To(Succeed())
		Eventually(func() bool {
			_, err := podOf(client.ObjectKeyFromObject(big))()
			return apierrors.IsNotFound(err)
		}, 20*time.Second).Should(BeTrue())
		for _, fw := range sim.State().Frameworks {
			Expect(fw.Tasks).NotTo(ContainElement(HaveField("ID", "k8sm."+string(big.UID))))
		}
	})

	It("makes a pod on a partitioned agent not Ready, then Failed with NodeLost", func() {
		sim, pod, mt, _ := partitionedPod(newNamespace(), "stranded", nil)
		key := client.ObjectKeyFromObject(pod)
		Expect(mt.Status.MesosState).To(Equal("TASK_UNREACHABLE"))
		Eventually(func() string {
			p, _ := podOf(key)()
			return podCondition(p, corev1.PodReady)
		}, 20*time.Second, 100*time.Millisecond).Should(HavePrefix("False/" + podtask.ReasonAgentUnreachable))
		// Mesos tells frameworks of the lost agent: its Node stops being Ready.
		bound, err := podOf(key)()
		Expect(err).NotTo(HaveOccurred())
		node := &corev1.Node{}
		Eventually(func() corev1.ConditionStatus {
			if err := k8sClient.Get(ctx, client.ObjectKey{Name: bound.Spec.NodeName}, node); err != nil {
				return ""
			}
			if c := agentnode.ReadyCondition(node); c != nil {
				return c.Status
			}
			return ""
		}, 20*time.Second, 100*time.Millisecond).Should(Equal(corev1.ConditionUnknown))
		// The suite's timeout is 2s (5m by default).
		Eventually(podOf(key), 20*time.Second, 100*time.Millisecond).Should(And(
			HaveField("Status.Phase", corev1.PodFailed), HaveField("Status.Reason", podtask.ReasonNodeLost)))
		// A disruption, which a Job's podFailurePolicy can leave out of its backoffLimit.
		lost, err := podOf(key)()
		Expect(err).NotTo(HaveOccurred())
		Expect(podCondition(lost, corev1.DisruptionTarget)).To(HavePrefix("True/" + podtask.ReasonTerminationByMesos))
		// `kubectl get mesostasks` shows the pod's phase, though its task is unreachable still.
		Eventually(func() (*mesosv1alpha1.MesosTask, error) { return mt, taskAt(key, mt)() }, 10*time.Second, 100*time.Millisecond).Should(And(
			HaveField("Status.PodPhase", corev1.PodFailed), HaveField("Status.MesosState", "TASK_UNREACHABLE")))
		Expect(mt.Status.ObservedGeneration).To(Equal(mt.Generation), "the status describes the MesosTask's generation")

		By("healing the partition: the task comes back, but its pod ended, so it is killed")
		Expect(sim.HealAgent("agent-1")).To(Succeed())
		Eventually(unkilledTasks(sim), 30*time.Second, 100*time.Millisecond).Should(BeEmpty(), "nothing may run for a pod that ended")
		Consistently(podOf(key), 2*time.Second, 200*time.Millisecond).Should(And(
			HaveField("Status.Phase", corev1.PodFailed), HaveField("Status.Reason", podtask.ReasonNodeLost)))
		Expect(taskAt(key, mt)()).To(Succeed())
		Expect(mt.Status.PodPhase).To(Equal(corev1.PodFailed), "the task came back and was killed: the MesosTask says the pod's phase still")
		Expect(mt.Status.MesosState).NotTo(Equal("TASK_UNREACHABLE"))
	})

	It("removes a pod of a namespace being deleted whose task had not reported", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		sim.DelayUpdates(3 * time.Second)
		DeferCleanup(func() { sim.DelayUpdates(0) })
		ns := newNamespace()
		pod := newPod(ns, "late", mc.Spec.SchedulerName, "500m")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		Eventually(simTaskIDs(sim), 20*time.Second, 50*time.Millisecond).Should(ContainElement(podtask.TaskIDFor(pod)))

		// No namespace controller runs here: the namespace stays Terminating, and the API
		// server takes nothing new in it, the task's MesosTask included.
		Expect(k8sClient.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		Eventually(func() corev1.NamespacePhase {
			n := &corev1.Namespace{}
			_ = k8sClient.Get(ctx, client.ObjectKey{Name: ns}, n)
			return n.Status.Phase
		}, 10*time.Second, 100*time.Millisecond).Should(Equal(corev1.NamespaceTerminating))
		Expect(k8sClient.Delete(ctx, pod)).To(Succeed())

		Eventually(unkilledTasks(sim), 20*time.Second, 100*time.Millisecond).Should(BeEmpty())
		Eventually(func() bool {
			_, err := podOf(key)()
			return apierrors.IsNotFound(err)
		}, 30*time.Second, 100*time.Millisecond).Should(BeTrue(), "the pod must go once its task is killed, though no MesosTask can be written")
		err := k8sClient.Get(ctx, key, &mesosv1alpha1.MesosTask{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no MesosTask in a namespace being deleted (%v)", err)
	})

	It("ends a deleted pod Failed before it removes it, as a kubelet does", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		pod := newPod(newNamespace(), "held", mc.Spec.SchedulerName, "100m")
		// As a Job's finalizer: the Job controller lets go of it once the pod is Failed.
		pod.Finalizers = []string{"test.k8sm.io/hold"}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		Eventually(podOf(key), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))

		Expect(k8sClient.Delete(ctx, pod)).To(Succeed())
		Eventually(unkilledTasks(sim), 10*time.Second, 100*time.Millisecond).Should(BeEmpty())
		Eventually(podOf(key), 30*time.Second, 100*time.Millisecond).Should(And(
			HaveField("Status.Phase", corev1.PodFailed), HaveField("DeletionGracePeriodSeconds", HaveValue(BeZero()))),
			"the pod must be Failed, and removed (grace 0), once its task is killed")
		p, _ := podOf(key)()
		Expect(podCondition(p, corev1.PodReady)).To(HavePrefix("False/"))
		p.Finalizers = nil
		Expect(k8sClient.Update(ctx, p)).To(Succeed())
		Eventually(func() bool {
			_, err := podOf(key)()
			return apierrors.IsNotFound(err)
		}, 10*time.Second, 100*time.Millisecond).Should(BeTrue())
	})

	It("ends a pod Succeeded when its task finishes", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		ns := newNamespace()
		pod := newPod(ns, "job", mc.Spec.SchedulerName, "100m")
		pod.Spec.RestartPolicy = corev1.RestartPolicyNever
		pod.Annotations = map[string]string{podtask.AnnotationTaskLabelPrefix + mesossim.LabelFinishAfter: "1s"}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(pod)), 30*time.Second, 100*time.Millisecond).Should(
			HaveField("Status.Phase", corev1.PodSucceeded))
	})
})
