package controllers

import (
	"sort"
	"strings"
	"sync"
	"unique"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// The cache holds a pod and a MesosTask per task, each decoded with strings of its own,
// though most of them repeat from one object to the next: namespaces, scheduler and
// Node names, images, tolerations, conditions, agents, states. Sharing them took the
// manager's live heap at the end of a 1,000 × 10,000 burst from 98 to 82–84 MB. Strings
// are immutable, so a shared one is as good as a copy, and writes read from the cache
// send the same values. Strings of one object (names, uids, addresses of pods, task
// ids) are left alone: sharing them would cost more than it saves.

// The maps that repeat are shared too: the resource lists of containers (the pods of a
// workload ask for the same) and label sets. A small map takes several hundred bytes
// whatever it holds, and the containers' requests were the largest part of a cached
// pod. A map is not immutable as a string is, but nothing writes to a cached object
// (the tests run with client-go's cache mutation detector, which fails on such a write),
// and a copy of one copies its maps. At most maxSharedMaps values of each kind are kept
// to share: when that many are, they are let go (the objects that share one keep it),
// and sharing starts afresh, so that values seen once (the labels of an indexed Job's
// pods, say) neither pin memory nor crowd out those that repeat.
const maxSharedMaps = 4096

var (
	sharedLabels    = sharedMaps[map[string]string, string, string]{text: func(v string) string { return v }}
	sharedResources = sharedMaps[corev1.ResourceList, corev1.ResourceName, resource.Quantity]{
		text: func(q resource.Quantity) string { return q.String() }}
)

// sharedMaps keeps one copy of each map value, by the text of its entries.
type sharedMaps[M ~map[K]V, K ~string, V any] struct {
	text func(V) string
	mu   sync.Mutex
	kept map[string]M
}

// share sets *m to the shared copy of its value, which becomes that copy if there is
// none yet.
func (s *sharedMaps[M, K, V]) share(m *M) {
	if len(*m) == 0 {
		return
	}
	keys := make([]string, 0, len(*m))
	for k := range *m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		// Neither keys nor values (label and resource names, label values, quantities)
		// can hold a NUL.
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(s.text((*m)[K(k)]))
		b.WriteByte(0)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if have, ok := s.kept[b.String()]; ok {
		*m = have
		return
	}
	if s.kept == nil || len(s.kept) >= maxSharedMaps {
		s.kept = map[string]M{}
	}
	s.kept[b.String()] = *m
}

// shareResources shares the resource lists of a container's requirements.
func shareResources(r *corev1.ResourceRequirements) {
	sharedResources.share(&r.Requests)
	sharedResources.share(&r.Limits)
}

// maxSharedStrings bounds the strings kept shared, as maxSharedMaps the maps: past it
// they are let go (the objects that share one keep it), and sharing starts afresh.
const maxSharedStrings = 1 << 16

// sharedStrings keeps a handle to each string shared. unique lets a value go at the
// first garbage collection after its last handle is gone: without one kept, a string
// interned after that got a copy of its own, and the cache held a copy per collection
// instead of one.
var sharedStrings struct {
	mu   sync.Mutex
	kept map[unique.Handle[string]]struct{}
}

// in makes *s the shared copy of its value.
func in(s *string) {
	if *s == "" {
		return
	}
	h := unique.Make(*s)
	*s = h.Value()
	sharedStrings.mu.Lock()
	defer sharedStrings.mu.Unlock()
	if _, ok := sharedStrings.kept[h]; ok {
		return
	}
	if sharedStrings.kept == nil || len(sharedStrings.kept) >= maxSharedStrings {
		sharedStrings.kept = map[unique.Handle[string]]struct{}{}
	}
	sharedStrings.kept[h] = struct{}{}
}

// internMeta shares an object's namespace, owners' kinds and finalizers.
func internMeta(m *metav1.ObjectMeta) {
	in(&m.Namespace)
	for i := range m.OwnerReferences {
		in(&m.OwnerReferences[i].APIVersion)
		in(&m.OwnerReferences[i].Kind)
	}
	for i := range m.Finalizers {
		in(&m.Finalizers[i])
	}
}

// internPod shares the repeated strings and maps of a pod kept whole.
func internPod(p *corev1.Pod) {
	internMeta(&p.ObjectMeta)
	sharedLabels.share(&p.Labels)
	s := &p.Spec
	sharedLabels.share(&s.NodeSelector)
	for i := range s.InitContainers {
		shareResources(&s.InitContainers[i].Resources)
	}
	for _, f := range []*string{&s.SchedulerName, &s.NodeName, &s.ServiceAccountName, (*string)(&s.RestartPolicy), (*string)(&s.DNSPolicy), &s.PriorityClassName} {
		in(f)
	}
	for i := range s.Containers {
		c := &s.Containers[i]
		shareResources(&c.Resources)
		for _, f := range []*string{&c.Name, &c.Image, (*string)(&c.ImagePullPolicy), &c.TerminationMessagePath, (*string)(&c.TerminationMessagePolicy)} {
			in(f)
		}
		for j := range c.Command {
			in(&c.Command[j])
		}
	}
	for i := range s.Tolerations {
		t := &s.Tolerations[i]
		for _, f := range []*string{&t.Key, (*string)(&t.Operator), (*string)(&t.Effect), &t.Value} {
			in(f)
		}
	}
	st := &p.Status
	for _, f := range []*string{(*string)(&st.Phase), (*string)(&st.QOSClass), &st.HostIP} {
		in(f)
	}
	for i := range st.HostIPs {
		in(&st.HostIPs[i].IP)
	}
	for i := range st.Conditions {
		c := &st.Conditions[i]
		for _, f := range []*string{(*string)(&c.Type), (*string)(&c.Status), &c.Reason, &c.Message} {
			in(f)
		}
	}
	for i := range st.ContainerStatuses {
		c := &st.ContainerStatuses[i]
		in(&c.Name)
		in(&c.Image)
		in(&c.ImageID)
		if c.State.Waiting != nil {
			in(&c.State.Waiting.Reason)
		}
	}
}

// internTask shares the repeated strings and labels of a MesosTask.
func internTask(t *mesosv1alpha1.MesosTask) {
	internMeta(&t.ObjectMeta)
	sharedLabels.share(&t.Labels)
	for _, f := range []*string{&t.Spec.ClusterRef, &t.Spec.ExecutorID, &t.Spec.Role, &t.Spec.NodeName} {
		in(f)
	}
	st := &t.Status
	for _, f := range []*string{(*string)(&st.Phase), (*string)(&st.PodPhase), &st.MesosState, &st.AgentID, &st.ExecutorID, &st.Hostname, &st.Reason, &st.Message, &st.Source} {
		in(f)
	}
	for i := range st.Conditions {
		c := &st.Conditions[i]
		for _, f := range []*string{&c.Type, (*string)(&c.Status), &c.Reason, &c.Message} {
			in(f)
		}
	}
}
