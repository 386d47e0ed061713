package integration

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// Replicas with required pod anti-affinity on the hostname, the usual "one per node",
// run one per agent: created at once on three agents, three run on three agents and
// the fourth waits, Unschedulable in kube-scheduler's words, until one of them is gone.
// Pods with required pod affinity run beside the pods they name, and wait while there
// are none; terms that choose namespaces by their labels count the pods of those. Pods
// with a DoNotSchedule spread constraint spread even where the cluster packs pods.
var _ = Describe("Pods with required pod affinity, anti-affinity or spread", func() {
	It("run one per agent, and the one with no agent left waits for one", func() {
		sim := startSim(3, "cpus:4;mem:8192;disk:10000")
		mc := simCluster(sim)
		for _, host := range []string{"agent-1", "agent-2", "agent-3"} {
			agentNodeOf(mc, host)
		}
		ns := newNamespace()
		var keys []client.ObjectKey
		for i := 1; i <= 4; i++ {
			pod := newPod(ns, fmt.Sprintf("web-%d", i), mc.Spec.SchedulerName, "100m")
			pod.Labels = map[string]string{"app": "web"}
			pod.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, TopologyKey: corev1.LabelHostname}}}}
			Expect(k8sClient.Create(ctx, pod)).To(Succeed())
			keys = append(keys, client.ObjectKeyFromObject(pod))
		}
		// running are the Nodes of the running pods, waiting the pods Unschedulable.
		state := func() (running map[string]string, waiting []string) {
			running = map[string]string{}
			for _, key := range keys {
				p := &corev1.Pod{}
				if k8sClient.Get(ctx, key, p) != nil {
					continue
				}
				switch {
				case p.Status.Phase == corev1.PodRunning:
					running[p.Name] = p.Spec.NodeName
				case p.Spec.NodeName == "":
					waiting = append(waiting, p.Name+" "+podCondition(p, corev1.PodScheduled))
				}
			}
			return running, waiting
		}
		distinct := func(m map[string]string) int {
			seen := map[string]bool{}
			for _, n := range m {
				seen[n] = true
			}
			return len(seen)
		}
		Eventually(func(g Gomega) {
			running, waiting := state()
			g.Expect(running).To(HaveLen(3))
			g.Expect(distinct(running)).To(Equal(3), "one replica per agent: %v", running)
			g.Expect(waiting).To(ConsistOf(MatchRegexp(`^web-\d False/Unschedulable: 0/[123] agents available: [123] didn't match pod anti-affinity rules\.$`)))
		}, 60*time.Second, 200*time.Millisecond).Should(Succeed())
		Consistently(func() int { r, _ := state(); return len(r) }, 3*time.Second, 200*time.Millisecond).Should(Equal(3))

		running, _ := state()
		var gone string
		for name := range running {
			gone = name
			break
		}
		freed := running[gone]
		Expect(k8sClient.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: gone}},
			client.GracePeriodSeconds(0))).To(Succeed())
		Eventually(func(g Gomega) {
			running, waiting := state()
			g.Expect(waiting).To(BeEmpty())
			g.Expect(running).To(HaveLen(3))
			g.Expect(distinct(running)).To(Equal(3), "one replica per agent: %v", running)
			g.Expect(running).To(ContainElement(freed))
		}, 60*time.Second, 200*time.Millisecond).Should(Succeed())
	})

	It("run beside the pods their affinity names, and wait while there are none", func() {
		sim := startSim(3, "cpus:4;mem:8192;disk:10000")
		mc := simCluster(sim)
		for _, host := range []string{"agent-1", "agent-2", "agent-3"} {
			agentNodeOf(mc, host)
		}
		ns := newNamespace()
		beside := func(name, app string) *corev1.Pod {
			pod := newPod(ns, name, mc.Spec.SchedulerName, "100m")
			pod.Labels = map[string]string{"app": "cache"}
			pod.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}, TopologyKey: corev1.LabelHostname}}}}
			Expect(k8sClient.Create(ctx, pod)).To(Succeed())
			return pod
		}
		lonely := beside("lonely", "db")
		caches := []*corev1.Pod{beside("cache-1", "web"), beside("cache-2", "web")}
		Eventually(func() (string, error) {
			p, err := podOf(client.ObjectKeyFromObject(lonely))()
			if err != nil {
				return "", err
			}
			return podCondition(p, corev1.PodScheduled), nil
		}, 30*time.Second, 200*time.Millisecond).Should(MatchRegexp(`^False/Unschedulable: 0/[123] agents available: [123] didn't match pod affinity rules\.$`))

		web := newPod(ns, "web", mc.Spec.SchedulerName, "100m")
		web.Labels = map[string]string{"app": "web"}
		Expect(k8sClient.Create(ctx, web)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(web)), 30*time.Second, 200*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		p, err := podOf(client.ObjectKeyFromObject(web))()
		Expect(err).NotTo(HaveOccurred())
		for _, c := range caches {
			Eventually(podOf(client.ObjectKeyFromObject(c)), 60*time.Second, 200*time.Millisecond).Should(And(
				HaveField("Status.Phase", corev1.PodRunning), HaveField("Spec.NodeName", p.Spec.NodeName)))
		}
		l, err := podOf(client.ObjectKeyFromObject(lonely))()
		Expect(err).NotTo(HaveOccurred())
		Expect(l.Spec.NodeName).To(BeEmpty(), "no pod of app=db runs anywhere")
	})

	It("run beside the pods of the namespaces their affinity chooses by labels", func() {
		sim := startSim(3, "cpus:4;mem:8192;disk:10000")
		mc := simCluster(sim)
		for _, host := range []string{"agent-1", "agent-2", "agent-3"} {
			agentNodeOf(mc, host)
		}
		theirs, ours := newNamespace(), newNamespace()
		chosen := &corev1.Namespace{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: theirs}, chosen)).To(Succeed())
		chosen.Labels["team"] = theirs
		Expect(k8sClient.Update(ctx, chosen)).To(Succeed())
		web := newPod(theirs, "web", mc.Spec.SchedulerName, "100m")
		web.Labels = map[string]string{"app": "web"}
		Expect(k8sClient.Create(ctx, web)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(web)), 30*time.Second, 200*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		p, err := podOf(client.ObjectKeyFromObject(web))()
		Expect(err).NotTo(HaveOccurred())

		// A pod of app=web in a namespace the term below does not choose, on another
		// agent.
		other := "agent-1"
		if p.Spec.NodeName == agentNodeOf(mc, other) {
			other = "agent-2"
		}
		decoy := newPod(ours, "decoy", mc.Spec.SchedulerName, "100m")
		decoy.Labels = map[string]string{"app": "web"}
		decoy.Spec.NodeSelector = map[string]string{corev1.LabelHostname: other}
		Expect(k8sClient.Create(ctx, decoy)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(decoy)), 30*time.Second, 200*time.Millisecond).Should(And(
			HaveField("Status.Phase", corev1.PodRunning), HaveField("Spec.NodeName", agentNodeOf(mc, other))))

		// Beside web, not beside decoy, the app=web pod of its own namespace.
		cache := newPod(ours, "cache", mc.Spec.SchedulerName, "100m")
		cache.Labels = map[string]string{"app": "cache"}
		cache.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, TopologyKey: corev1.LabelHostname,
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": theirs}}}}}}
		Expect(k8sClient.Create(ctx, cache)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(cache)), 60*time.Second, 200*time.Millisecond).Should(And(
			HaveField("Status.Phase", corev1.PodRunning), HaveField("Spec.NodeName", p.Spec.NodeName)))
	})

	It("spread by a DoNotSchedule constraint on a cluster that packs pods", func() {
		spreadOnBinpack(6, 2, func(pod *corev1.Pod) {
			pod.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: corev1.LabelHostname,
				WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
		})
	})

	It("spread by preferred anti-affinity on a cluster that packs pods", func() {
		spreadOnBinpack(3, 1, func(pod *corev1.Pod) {
			pod.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, TopologyKey: corev1.LabelHostname}}}}}
		})
	})
})

// spreadOnBinpack creates n pods app=web, each changed by spread, on a binpack cluster of
// three agents, and expects them Running, perAgent on each agent.
func spreadOnBinpack(n, perAgent int, spread func(*corev1.Pod)) {
	sim := startSim(3, "cpus:4;mem:8192;disk:10000")
	mc := simClusterWith(sim, func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.Placement.Strategy = mesosv1alpha1.PlacementBinpack })
	for _, host := range []string{"agent-1", "agent-2", "agent-3"} {
		agentNodeOf(mc, host)
	}
	ns := newNamespace()
	var keys []client.ObjectKey
	for i := 1; i <= n; i++ {
		pod := newPod(ns, fmt.Sprintf("web-%d", i), mc.Spec.SchedulerName, "100m")
		pod.Labels = map[string]string{"app": "web"}
		spread(pod)
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		keys = append(keys, client.ObjectKeyFromObject(pod))
	}
	Eventually(func(g Gomega) {
		perNode := map[string]int{}
		for _, key := range keys {
			p := &corev1.Pod{}
			g.Expect(k8sClient.Get(ctx, key, p)).To(Succeed())
			g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning))
			perNode[p.Spec.NodeName]++
		}
		g.Expect(perNode).To(HaveLen(3), "%d per agent: %v", perAgent, perNode)
		for node, c := range perNode {
			g.Expect(c).To(Equal(perAgent), "%d per agent: %s has %d", perAgent, node, c)
		}
	}, 60*time.Second, 200*time.Millisecond).Should(Succeed())
}
