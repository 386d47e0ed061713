package scheduler

import (
	"context"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/k8sm/k8sm/internal/agentnode"
)

// onePerAgent gives a pod the label app=web and a required anti-affinity term keeping it
// off the agents of other app=web pods.
func onePerAgent(pod *corev1.Pod) *corev1.Pod {
	pod.Labels = map[string]string{"app": "web"}
	pod.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, TopologyKey: corev1.LabelHostname}}}}
	return pod
}

// Replicas that must stay apart, placed in rounds one after another, go to different
// agents even when the cache does not show the first one's binding yet: the pods this
// process bound count where it bound them (kube-scheduler's assumed pods). A replica
// placed in the round that follows the binding the cache does show keeps away too.
func TestReplicasAwayFromEachOtherAcrossRounds(t *testing.T) {
	for _, tc := range []struct {
		name string
		// lag: bindings are accepted but the cache never shows them.
		lag bool
	}{{"binding seen by the cache", false}, {"binding not seen yet", true}} {
		t.Run(tc.name, func(t *testing.T) {
			p1, mt1 := podWithTask("web-1", "100m")
			p2, mt2 := podWithTask("web-2", "100m")
			onePerAgent(p1)
			onePerAgent(p2)
			funcs := interceptor.Funcs{}
			if tc.lag {
				funcs.SubResourceCreate = func(ctx context.Context, c client.Client, sub string, o, req client.Object, opts ...client.SubResourceCreateOption) error {
					return nil
				}
			}
			var nodes []client.Object
			for _, host := range []string{"agent-1", "agent-2"} {
				nodes = append(nodes, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: agentnode.NodeName("c", host, 0),
					Labels: map[string]string{corev1.LabelHostname: host, agentnode.LabelCluster: "c"}}})
			}
			c := fakeAPIWith(t, funcs, append(nodes, p1, mt1, p2, mt2)...)
			d := newFakeDriver()
			s, _ := newTestScheduler(c, d)
			ctx := context.Background()

			s.Enqueue(ctx, mt1, p1)
			s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 4), agentOffer("agent-2", 4)})
			if got := d.launches["o-agent-1"]; len(got) != 1 {
				t.Fatalf("ACCEPTs %v, want web-1 on agent-1", d.launches)
			}
			s.Enqueue(ctx, mt2, p2)
			// agent-1 has more room for web-2 than agent-2, which spreading prefers: only anti-affinity keeps
			// it away.
			// (The first round's offer of agent-2 is held, and taken again with it.)
			second := agentOffer("agent-1", 8)
			second.ID.Value = "o-agent-1-again"
			s.handleNew(ctx, []mesos.Offer{second})
			if len(d.accepted) != 2 || d.accepted[1][0].TaskID.Value != mt2.Spec.TaskID || d.accepted[1][0].AgentID.Value != "a-agent-2" {
				t.Fatalf("ACCEPTs %v, want web-2 on agent-2", d.launches)
			}
		})
	}
}

// A pod this process bound, deleted and made again under its name before the cache
// showed the binding (a StatefulSet's), is not counted where the old one was bound.
func TestAPodMadeAgainIsNotAssumedBound(t *testing.T) {
	p1, mt1 := podWithTask("web-0", "100m")
	p2, mt2 := podWithTask("web-1", "100m")
	onePerAgent(p1)
	onePerAgent(p2)
	lag := interceptor.Funcs{SubResourceCreate: func(context.Context, client.Client, string, client.Object, client.Object, ...client.SubResourceCreateOption) error {
		return nil
	}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: agentnode.NodeName("c", "agent-1", 0),
		Labels: map[string]string{corev1.LabelHostname: "agent-1", agentnode.LabelCluster: "c"}}}
	c := fakeAPIWith(t, lag, node, p1, mt1, p2, mt2)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	s.Enqueue(ctx, mt1, p1)
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 4)})
	if len(d.accepted) != 1 {
		t.Fatalf("ACCEPTs %v, want web-0 on agent-1", d.launches)
	}
	s.Dequeue(mt1.Spec.TaskID)
	again := p1.DeepCopy()
	again.UID, again.ResourceVersion = "uid-web-0-again", ""
	if err := c.Delete(ctx, p1); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, again); err != nil {
		t.Fatal(err)
	}
	s.Enqueue(ctx, mt2, p2)
	next := agentOffer("agent-1", 4)
	next.ID.Value = "o-agent-1-again"
	s.handleNew(ctx, []mesos.Offer{next})
	if len(d.accepted) != 2 || d.accepted[1][0].TaskID.Value != mt2.Spec.TaskID {
		t.Fatalf("ACCEPTs %v, want web-1 on agent-1, which the old web-0 left", d.launches)
	}
}

// A pod the cache keeps as a stub (the default scheduler's, on a kubelet's Node) has no
// labels to match: a term that matches pods without the label does not count it.
func TestStubPodsAreNotCounted(t *testing.T) {
	zone := map[string]string{corev1.LabelTopologyZone: "a"}
	kubelet := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "kubelet-1", Labels: zone}}
	agent := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: agentnode.NodeName("c", "agent-1", 0),
		Labels: map[string]string{corev1.LabelHostname: "agent-1", agentnode.LabelCluster: "c", corev1.LabelTopologyZone: "a"}}}
	stubPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "other", UID: "uid-other"},
		Spec: corev1.PodSpec{SchedulerName: corev1.DefaultSchedulerName, NodeName: "kubelet-1"}}
	pod, mt := podWithTask("batch", "100m")
	pod.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpDoesNotExist}}},
			TopologyKey:   corev1.LabelTopologyZone}}}}
	pod.Labels = map[string]string{"app": "batch"}
	c := fakeAPI(t, kubelet, agent, stubPod, pod, mt)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	s.Enqueue(ctx, mt, pod)
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 4)})
	if len(d.accepted) != 1 {
		t.Fatalf("ACCEPTs %v, want the pod on agent-1: a stub has no labels to match", d.launches)
	}
}

// A term that chooses namespaces by their labels counts the pods of the namespaces
// whose labels it matches, read from the cache, and of no other.
func TestTermsChooseNamespacesByLabels(t *testing.T) {
	for _, tc := range []struct {
		name, team, want string
	}{{"the namespace is chosen", "a", "a-agent-2"}, {"the namespace is not chosen", "b", "a-agent-1"}} {
		t.Run(tc.name, func(t *testing.T) {
			var objs []client.Object
			for _, host := range []string{"agent-1", "agent-2"} {
				objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: agentnode.NodeName("c", host, 0),
					Labels: map[string]string{corev1.LabelHostname: host, agentnode.LabelCluster: "c"}}})
			}
			objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team", Labels: map[string]string{"team": tc.team}}})
			running, _ := podWithTask("web-0", "100m")
			running.Namespace, running.Spec.NodeName = "team", agentnode.NodeName("c", "agent-1", 0)
			running.Labels = map[string]string{"app": "web"}
			pod, mt := podWithTask("web-1", "100m")
			pod.Labels = map[string]string{"app": "web"}
			pod.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					LabelSelector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
					TopologyKey:       corev1.LabelHostname}}}}
			c := fakeAPI(t, append(objs, running, pod, mt)...)
			d := newFakeDriver()
			s, _ := newTestScheduler(c, d)
			ctx := context.Background()
			s.Enqueue(ctx, mt, pod)
			// agent-1 has more room, which spreading prefers: only the term keeps the pod away.
			s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 8), agentOffer("agent-2", 4)})
			if len(d.accepted) != 1 || d.accepted[0][0].AgentID.Value != tc.want {
				t.Fatalf("ACCEPTs %v, want web-1 on %s", d.launches, tc.want)
			}
		})
	}
}

// A spread constraint with nodeTaintsPolicy: Honor leaves out of its domains the
// cluster's Nodes without offers whose taints the pod does not tolerate, as the cache
// has them.
func TestSpreadHonoursTaintsOfNodesWithoutOffers(t *testing.T) {
	var objs []client.Object
	for _, host := range []string{"agent-1", "agent-2", "agent-3"} {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: agentnode.NodeName("c", host, 0),
			Labels: map[string]string{corev1.LabelHostname: host, agentnode.LabelCluster: "c"}}}
		if host == "agent-3" {
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
		}
		objs = append(objs, n)
	}
	for i, host := range []string{"agent-1", "agent-2"} {
		running, _ := podWithTask("web-"+host, "100m")
		running.UID = types.UID("uid-running-" + string(rune('a'+i)))
		running.Spec.NodeName, running.Labels = agentnode.NodeName("c", host, 0), map[string]string{"app": "web"}
		objs = append(objs, running)
	}
	honor := corev1.NodeInclusionPolicyHonor
	pod, mt := podWithTask("web-new", "100m")
	pod.Labels = map[string]string{"app": "web"}
	pod.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: corev1.LabelHostname,
		WhenUnsatisfiable: corev1.DoNotSchedule, NodeTaintsPolicy: &honor,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	c := fakeAPI(t, append(objs, pod, mt)...)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	s.Enqueue(ctx, mt, pod)
	// Counted, agent-3 would hold none, and neither offered agent could take a second pod.
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 4), agentOffer("agent-2", 4)})
	if len(d.accepted) != 1 {
		t.Fatalf("ACCEPTs %v, want web-new on agent-1 or agent-2: agent-3's taint leaves it out of the domains", d.launches)
	}
}
