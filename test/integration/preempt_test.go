package integration

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// A pod of a higher PriorityClass that fits nowhere has a pod of lower priority
// preempted for it, as kube-scheduler does: the victim is deleted (its task killed),
// the pod is nominated to the agent's Node and runs there once Mesos offers the room;
// both are told in events.
var _ = Describe("Preemption", func() {
	It("deletes a pod of lower priority for one that fits nowhere, which then runs", func() {
		ns := preemptsOneOfTwo("cpus:1;mem:2048;disk:10000", "400m", "400m")
		Eventually(eventsIn(ns), 10*time.Second, 200*time.Millisecond).Should(ContainElements(
			"Pod/high Normal Preempting", MatchRegexp(`^Pod/low-[12] Normal Preempted$`)))
	})

	It("tells a pod that fits nowhere why no pod is preempted for it", func() {
		mc, _, ns := oneAgent("cpus:1;mem:2048;disk:10000")
		runInTurn(newPod(ns, "first", mc.Spec.SchedulerName, "400m"), newPod(ns, "second", mc.Spec.SchedulerName, "400m"))

		same := newPod(ns, "same", mc.Spec.SchedulerName, "400m")
		Expect(k8sClient.Create(ctx, same)).To(Succeed())
		Eventually(func(g Gomega) string {
			pod := &corev1.Pod{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(same), pod)).To(Succeed())
			for _, c := range pod.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonUnschedulable {
					return c.Message
				}
			}
			return ""
		}, 60*time.Second, 200*time.Millisecond).Should(MatchRegexp(
			`^0/\d+ agents available: .+\. preemption: 0/1 agents available: 1 had no pods of lower priority\.$`))
	})

	// Without weighing anti-affinity, the pod started last (db) would go, and the pod
	// would still find its replica there.
	It("deletes the replica that keeps a pod with required anti-affinity away, not the pod started last", func() {
		node, running, high := replicaThenOther()
		high.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: high.Labels}, TopologyKey: corev1.LabelHostname}}}}
		runsPreempting(high, node, running[0], running[1])
	})

	// With fewer domains than minDomains the emptiest counts none, so the replica on the
	// agent must go for the pod to keep within maxSkew; without weighing the constraint,
	// the pod started last (db) would go, and the pod would still not fit the spread.
	It("deletes the replica that a pod's spread constraint counts, not the pod started last", func() {
		node, running, high := replicaThenOther()
		minDomains := int32(2)
		high.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: corev1.LabelHostname,
			WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: high.Labels}, MinDomains: &minDomains}}
		runsPreempting(high, node, running[0], running[1])
	})

	// Without weighing host ports, the pod started last would go, and the port would
	// still be taken.
	It("deletes the pod holding a host port the pod needs, not the pod started last", func() {
		mc, node, ns := oneAgent("cpus:1;mem:2048;disk:10000;ports:[31000-31010]")
		withPort := func(p *corev1.Pod) *corev1.Pod {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 31005, HostPort: 31005}}
			return p
		}
		running := runInTurn(withPort(newPod(ns, "holder", mc.Spec.SchedulerName, "400m")), newPod(ns, "other", mc.Spec.SchedulerName, "400m"))

		high := withPort(newPod(ns, "high", mc.Spec.SchedulerName, "400m"))
		high.Spec.PriorityClassName = highPriorityClass()
		runsPreempting(high, node, running[0], running[1])
	})

	// The agent has 0.7 CPU free (2, less 1.2 for the pods and 0.1 for the executor):
	// with it, one pod of 0.6 makes room for 1; without it, both would go.
	It("counts the room the agent has free, and deletes one pod where two would free enough alone", func() {
		preemptsOneOfTwo("cpus:2;mem:2048;disk:10000", "600m", "1")
	})

	// Without weighing pod affinity, the pod started last (the cache) would go, and the
	// pod would have nothing to stand beside.
	It("keeps the pod a pod's required affinity needs, and deletes another", func() {
		mc, node, ns := oneAgent("cpus:1;mem:2048;disk:10000")
		cache := newPod(ns, "cache", mc.Spec.SchedulerName, "400m")
		cache.Labels = map[string]string{"app": "cache"}
		running := runInTurn(newPod(ns, "other", mc.Spec.SchedulerName, "400m"), cache)

		high := newPod(ns, "web", mc.Spec.SchedulerName, "400m")
		high.Spec.PriorityClassName = highPriorityClass()
		high.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: cache.Labels}, TopologyKey: corev1.LabelHostname}}}}
		runsPreempting(high, node, running[0], running[1])
	})
})

// replicaThenOther runs, on a cluster of one agent, a replica (app=web) and then another
// pod (db), and returns the agent's Node, their keys in that order, and a replica of a
// higher PriorityClass, not created yet, that fits only once one of them is gone.
func replicaThenOther() (string, []client.ObjectKey, *corev1.Pod) {
	mc, node, ns := oneAgent("cpus:1;mem:2048;disk:10000")
	web := map[string]string{"app": "web"}
	replica := newPod(ns, "web-1", mc.Spec.SchedulerName, "400m")
	replica.Labels = web
	running := runInTurn(replica, newPod(ns, "db", mc.Spec.SchedulerName, "400m"))
	high := newPod(ns, "web-2", mc.Spec.SchedulerName, "400m")
	high.Labels, high.Spec.PriorityClassName = web, highPriorityClass()
	return node, running, high
}

// preemptsOneOfTwo runs, on a cluster of one agent of those resources, two pods of
// lowCPUs (low-1, low-2), then a pod of a higher PriorityClass of highCPUs (high), and
// checks that high runs on the agent once one of them, not both, was preempted for it.
// It returns the spec's namespace.
func preemptsOneOfTwo(resources, lowCPUs, highCPUs string) string {
	mc, node, ns := oneAgent(resources)
	low := runInTurn(newPod(ns, "low-1", mc.Spec.SchedulerName, lowCPUs), newPod(ns, "low-2", mc.Spec.SchedulerName, lowCPUs))
	high := newPod(ns, "high", mc.Spec.SchedulerName, highCPUs)
	high.Spec.PriorityClassName = highPriorityClass()
	Expect(k8sClient.Create(ctx, high)).To(Succeed())
	Eventually(podOf(client.ObjectKeyFromObject(high)), 60*time.Second, 200*time.Millisecond).Should(And(
		HaveField("Spec.NodeName", node), HaveField("Status.Phase", corev1.PodRunning)))
	var gone []client.ObjectKey
	for _, key := range low {
		if preempted(key) {
			gone = append(gone, key)
		}
	}
	Expect(gone).To(HaveLen(1), "one pod of lower priority preempted, not both")
	Eventually(removed(gone[0]), 30*time.Second, 200*time.Millisecond).Should(BeTrue(), "%s removed once its task ended", gone[0].Name)
	return ns
}

// preempted says whether the pod of key was deleted: gone, or being deleted. The victim
// of a preemption is deleted before the pod it makes room for is launched, and removed
// once Mesos reports its task killed, which may come after that pod runs: the offer of
// the room and the kill's update are not ordered.
func preempted(key client.ObjectKey) bool {
	pod := &corev1.Pod{}
	err := k8sClient.Get(ctx, key, pod)
	if apierrors.IsNotFound(err) {
		return true
	}
	Expect(err).NotTo(HaveOccurred())
	return pod.DeletionTimestamp != nil
}

// removed says whether the pod of key is gone from the API server.
func removed(key client.ObjectKey) func() bool {
	return func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, key, &corev1.Pod{})) }
}

// runInTurn creates pods one after another, each once the one before runs, and in a
// later second than it started (status.startTime is in whole seconds: of two pods that
// started in one, preemption takes either), so that they started in that order; it
// returns their keys.
func runInTurn(pods ...*corev1.Pod) []client.ObjectKey {
	var keys []client.ObjectKey
	var started time.Time
	for _, pod := range pods {
		Eventually(time.Now, 2*time.Second, 50*time.Millisecond).Should(BeTemporally(">=", started.Add(time.Second)))
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		keys = append(keys, client.ObjectKeyFromObject(pod))
		Eventually(podOf(client.ObjectKeyFromObject(pod)), 30*time.Second, 100*time.Millisecond).Should(And(
			HaveField("Status.Phase", corev1.PodRunning), HaveField("Status.StartTime", Not(BeNil()))))
		got, err := podOf(client.ObjectKeyFromObject(pod))()
		Expect(err).NotTo(HaveOccurred())
		started = got.Status.StartTime.Time
	}
	return keys
}

// highPriorityClass makes a PriorityClass of value 1000 for the spec, and names it once
// the API server's Priority admission plugin, which reads the classes from a cache of
// its own, admits a pod of it: a pod created at once could be refused ("no
// PriorityClass with name … was found").
func highPriorityClass() string {
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{GenerateName: "k8sm-high-"}, Value: 1000}
	Expect(k8sClient.Create(ctx, pc)).To(Succeed())
	DeferCleanup(func() { _ = k8sClient.Delete(ctx, pc) })
	Eventually(func() error {
		probe := newPod("default", "priority-probe", "", "1m")
		probe.Spec.PriorityClassName = pc.Name
		return k8sClient.Create(ctx, probe, client.DryRunAll)
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
	return pc.Name
}

// runsPreempting creates pod, waits for it to run on node, and checks that gone was
// preempted for it and kept was not.
func runsPreempting(pod *corev1.Pod, node string, gone, kept client.ObjectKey) {
	Expect(k8sClient.Create(ctx, pod)).To(Succeed())
	Eventually(podOf(client.ObjectKeyFromObject(pod)), 60*time.Second, 200*time.Millisecond).Should(And(
		HaveField("Spec.NodeName", node), HaveField("Status.Phase", corev1.PodRunning)))
	Expect(preempted(gone)).To(BeTrue(), "%s preempted", gone.Name)
	Expect(preempted(kept)).To(BeFalse(), "%s kept", kept.Name)
	Eventually(removed(gone), 30*time.Second, 200*time.Millisecond).Should(BeTrue(), "%s removed once its task ended", gone.Name)
}

// oneAgent is a cluster of one simulated agent of those resources, its Node's name, and
// a namespace for the spec.
func oneAgent(resources string) (*mesosv1alpha1.MesosCluster, string, string) {
	mc := simCluster(startSim(1, resources))
	return mc, agentNodeOf(mc, "agent-1"), newNamespace()
}
