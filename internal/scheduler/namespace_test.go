package scheduler

import (
	"context"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// A pod queued before its cluster's namespaceSelector, or its namespace's labels,
// changed is not launched once they no longer let it in: it leaves the queue (the Pod
// reconciler tells it why, and queues it again when they let it in).
func TestAQueuedPodOfANamespaceNoLongerTakenIsNotLaunched(t *testing.T) {
	on := &metav1.LabelSelector{MatchLabels: map[string]string{"k8sm": "on"}}
	for _, tc := range []struct {
		name     string
		selector *metav1.LabelSelector
		labels   map[string]string // the namespace's; nil: no namespace
		launched bool
	}{
		{"no selector", nil, map[string]string{}, true},
		{"a namespace the selector takes", on, map[string]string{"k8sm": "on"}, true},
		{"a namespace the selector no longer takes", on, map[string]string{"k8sm": "off"}, false},
		{"a namespace that is gone", on, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod, mt := podWithTask("small", "500m")
			objs := []client.Object{pod}
			if tc.labels != nil {
				objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", Labels: tc.labels}})
			}
			c := fakeAPI(t, objs...)
			d := newFakeDriver()
			s, _ := newTestScheduler(c, d)
			s.SetCluster(&mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"},
				Spec:   mesosv1alpha1.MesosClusterSpec{SchedulerName: "mesos", NamespaceSelector: tc.selector},
				Status: mesosv1alpha1.MesosClusterStatus{FrameworkID: "fw-1"}})
			ctx := context.Background()
			s.Enqueue(ctx, mt, pod)

			s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})

			if launched := len(d.launches["o-agent-1"]) == 1; launched != tc.launched {
				t.Errorf("launched = %v, want %v", launched, tc.launched)
			}
			if s.Pending(mt.Spec.TaskID) {
				t.Error("the pod is still queued")
			}
		})
	}
}

// A pod let in by a namespaceSelector relaxed a moment ago is launched: the Pod
// reconciler queued it reading the MesosCluster from the cache, and the round that takes
// it reads the selector there too, not from the scheduler's copy, which the MesosCluster
// reconciler sets only at the end of its next pass.
func TestAPodLetInByARelaxedSelectorIsLaunchedBeforeTheSchedulerHearsOfIt(t *testing.T) {
	on := &metav1.LabelSelector{MatchLabels: map[string]string{"k8sm": "on"}}
	anyOf := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "k8sm", Operator: metav1.LabelSelectorOpIn, Values: []string{"on", "off"}}}}
	cluster := func(sel *metav1.LabelSelector) *mesosv1alpha1.MesosCluster {
		return &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"},
			Spec:   mesosv1alpha1.MesosClusterSpec{SchedulerName: "mesos", NamespaceSelector: sel},
			Status: mesosv1alpha1.MesosClusterStatus{FrameworkID: "fw-1"}}
	}
	pod, mt := podWithTask("small", "500m")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", Labels: map[string]string{"k8sm": "off"}}}
	c := fakeAPI(t, pod, ns, cluster(anyOf))
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	s.SetCluster(cluster(on)) // the selector before it was relaxed
	ctx := context.Background()
	s.Enqueue(ctx, mt, pod)

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})

	if len(d.launches["o-agent-1"]) != 1 {
		t.Errorf("launched %v, want the pod's task", d.launches)
	}
}
