package scheduler

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/placement"
	"github.com/k8sm/k8sm/internal/podtask"
)

// boundHere is a pod this process bound, and when: until the cache shows its binding,
// placement counts it on its Node all the same (kube-scheduler's assumed pods), or a
// round right after the one that placed it would not see it there, and put a replica
// that must stay away from it beside it. uid is the pod's (a pod made again under the
// name, as a StatefulSet does, is another, unbound), terms says whether it has required
// anti-affinity terms of its own.
type boundHere struct {
	uid            types.UID
	node, hostname string
	at             time.Time
	terms          bool
}

// boundPods are the pods this process bound lately (boundHere), by key; withTerms
// counts those with anti-affinity terms, so that a round skips them all when none has.
type boundPods struct {
	pods      map[types.NamespacedName]boundHere
	withTerms int
	pruned    time.Time
}

// add remembers a pod bound at b.at, and forgets those bound longer than ownerMemory
// ago, by which time the cache shows them bound.
func (w *boundPods) add(key types.NamespacedName, b boundHere) {
	if w.pods == nil {
		w.pods = map[types.NamespacedName]boundHere{}
	}
	w.remove(key)
	w.pods[key] = b
	if b.terms {
		w.withTerms++
	}
	if b.at.Sub(w.pruned) < ownerMemory {
		return
	}
	for k, o := range w.pods {
		if b.at.Sub(o.at) > ownerMemory {
			w.remove(k)
		}
	}
	w.pruned = b.at
}

func (w *boundPods) remove(key types.NamespacedName) {
	if o, ok := w.pods[key]; ok {
		delete(w.pods, key)
		if o.terms {
			w.withTerms--
		}
	}
}

// noteBound remembers a pod this process bound to a Node (boundHere).
func (s *Scheduler) noteBound(pod *corev1.Pod, node, hostname string) {
	terms := podtask.HasAntiAffinityTerms(pod)
	s.mu.Lock()
	s.bound.add(client.ObjectKeyFromObject(pod), boundHere{uid: pod.UID, node: node, hostname: hostname, at: time.Now(), terms: terms})
	s.mu.Unlock()
}

// antiAffinityInput is what placement reads of the pods on Nodes for required pod
// affinity, anti-affinity and spread (placement.Input.PodsIn, AntiAffinityPods), from
// the cache, with the pods this process bound that the cache does not show bound yet.
// The pods of a namespace are listed only when a request of the round needs them. Ended
// pods (podtask.PodTerminal) are in no domain, as kube-scheduler forgets them.
func (s *Scheduler) antiAffinityInput(ctx context.Context) (podsIn func(string) []placement.PlacedPod, withTerms []placement.PlacedPod) {
	nodeLabels := map[string]map[string]string{}
	labelsOf := func(node, hostname string) map[string]string {
		l, ok := nodeLabels[node]
		if !ok {
			n := &corev1.Node{}
			if s.Client.Get(ctx, client.ObjectKey{Name: node}, n, client.UnsafeDisableDeepCopy) == nil {
				l = n.Labels
				if agentnode.ClusterOfNode(n) == s.clusterName() {
					l = agentnode.MatchLabels(l) // as the agent's offers read
				}
			} else if hostname != "" {
				l = map[string]string{corev1.LabelHostname: hostname}
			}
			nodeLabels[node] = l
		}
		return l
	}
	placed := func(p *corev1.Pod, node, hostname string) placement.PlacedPod {
		return placement.PlacedPod{UID: string(p.UID), Namespace: p.Namespace, Labels: p.Labels, NodeLabels: labelsOf(node, hostname),
			NodeName: node, Terminating: p.DeletionTimestamp != nil}
	}
	withOwnTerms := func(p *corev1.Pod, node, hostname string) placement.PlacedPod {
		pp := placed(p, node, hostname)
		pp.AntiAffinity = podtask.AntiAffinityTerms(p)
		return pp
	}

	var list corev1.PodList
	if err := s.Client.List(ctx, &list, client.MatchingFields{indexer.PodAntiAffinity: "true"}, client.UnsafeDisableDeepCopy); err != nil {
		s.Log.Info("Could not list the pods with required anti-affinity; placing without them", "error", err.Error())
	}
	for i := range list.Items {
		if p := &list.Items[i]; !podtask.PodTerminal(p) {
			withTerms = append(withTerms, withOwnTerms(p, p.Spec.NodeName, ""))
		}
	}
	for _, a := range s.assumedPods(ctx, "", true) {
		withTerms = append(withTerms, withOwnTerms(a.pod, a.node, a.hostname))
	}

	podsIn = func(namespace string) []placement.PlacedPod {
		var list corev1.PodList
		if err := s.Client.List(ctx, &list, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
			s.Log.Info("Could not list pods for anti-affinity; placing without them", "namespace", namespace, "error", err.Error())
		}
		var out []placement.PlacedPod
		for i := range list.Items {
			if p := &list.Items[i]; p.Spec.NodeName != "" && !podtask.PodTerminal(p) && !stub(p) {
				out = append(out, placed(p, p.Spec.NodeName, ""))
			}
		}
		for _, a := range s.assumedPods(ctx, namespace, false) {
			out = append(out, placed(a.pod, a.node, a.hostname))
		}
		return out
	}
	return podsIn, withTerms
}

// stub says whether the cache keeps a pod as a stub of its name, scheduler and Node
// (controllers.CacheOptions: a pod of the default scheduler not on an agent's Node),
// without its labels: a pod has at least one container.
func stub(p *corev1.Pod) bool { return len(p.Spec.Containers) == 0 }

// assumedPod is a pod this process bound whose binding the cache does not show yet.
type assumedPod struct {
	pod            *corev1.Pod
	node, hostname string
}

// assumedPods are the pods this process bound lately that the cache shows unbound still
// (the cache's own objects, to read only): of a namespace, every one for "", and only
// those with anti-affinity terms when withTerms. Those the cache shows bound, or gone,
// or made again under the name, or bound longer than ownerMemory ago, are forgotten.
func (s *Scheduler) assumedPods(ctx context.Context, namespace string, withTerms bool) []assumedPod {
	s.mu.Lock()
	if withTerms && s.bound.withTerms == 0 {
		s.mu.Unlock()
		return nil
	}
	type entry struct {
		key types.NamespacedName
		b   boundHere
	}
	var bound []entry
	for k, b := range s.bound.pods {
		if (!withTerms || b.terms) && (namespace == "" || k.Namespace == namespace) {
			bound = append(bound, entry{k, b})
		}
	}
	s.mu.Unlock()
	var out []assumedPod
	var done []entry
	for _, e := range bound {
		pod := &corev1.Pod{}
		if time.Since(e.b.at) > ownerMemory || s.Client.Get(ctx, e.key, pod, client.UnsafeDisableDeepCopy) != nil ||
			pod.UID != e.b.uid || pod.Spec.NodeName != "" {
			done = append(done, e)
			continue
		}
		if !podtask.PodTerminal(pod) {
			out = append(out, assumedPod{pod: pod, node: e.b.node, hostname: e.b.hostname})
		}
	}
	if len(done) > 0 {
		s.mu.Lock()
		for _, e := range done {
			if b, ok := s.bound.pods[e.key]; ok && b.at.Equal(e.b.at) {
				s.bound.remove(e.key)
			}
		}
		s.mu.Unlock()
	}
	return out
}

// clusterNodes is placement's Input.ClusterNodes: the cluster's agents' Nodes, from the
// cache, with their labels as the agents' offers read them (agentnode.MatchLabels) and
// their taints.
func (s *Scheduler) clusterNodes() []*corev1.Node {
	var list corev1.NodeList
	if err := s.Client.List(context.Background(), &list, client.MatchingLabels{agentnode.LabelCluster: s.clusterName()}, client.UnsafeDisableDeepCopy); err != nil {
		s.Log.Info("Could not list the cluster's Nodes; spreading over the agents offered alone", "error", err.Error())
		return nil
	}
	out := make([]*corev1.Node, len(list.Items))
	for i := range list.Items {
		n := &list.Items[i]
		out[i] = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: agentnode.MatchLabels(n.Labels)}, Spec: corev1.NodeSpec{Taints: n.Spec.Taints}}
	}
	return out
}

// namespaceLabels is placement's Input.NamespaceLabels: a namespace's labels, from the
// cache (to read only), for pod affinity terms that choose namespaces by their labels;
// nil (a namespace without labels, as kube-scheduler takes one it cannot find) when
// there is no such namespace, or the cache cannot say.
func (s *Scheduler) namespaceLabels(name string) map[string]string {
	ns := &corev1.Namespace{}
	if err := s.Client.Get(context.Background(), client.ObjectKey{Name: name}, ns, client.UnsafeDisableDeepCopy); err != nil {
		if !apierrors.IsNotFound(err) {
			s.Log.Info("Could not read a namespace's labels; pod affinity terms choosing namespaces by labels take it for one without labels", "namespace", name, "error", err.Error())
		}
		return nil
	}
	return ns.Labels
}
