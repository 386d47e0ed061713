package indexer

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// A bound pod is found by its task id, out of its bucket (the id's last two characters).
func TestBoundPodByTaskID(t *testing.T) {
	pods := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, toolscache.Indexers{PodTaskID: podTaskIDIndex})
	for _, o := range []any{
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "p", UID: "u1"}, Spec: corev1.PodSpec{NodeName: "mesos-c-h1"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "p", UID: "u2"}, Spec: corev1.PodSpec{NodeName: "kubelet-node"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "c", Name: "p", UID: "u3"}},
		// In u1's bucket: a lookup takes the one whose id it asks for.
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "d", Name: "p", UID: "vu1"}, Spec: corev1.PodSpec{NodeName: "mesos-c-h2"}},
	} {
		if err := pods.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	// One value per object, its id's last two characters: no copy under a namespace,
	// and no set of its own.
	if got, want := pods.ListIndexFuncValues(PodTaskID), []string{"u1"}; !slices.Equal(got, want) {
		t.Errorf("PodTaskID index values = %v, want %v (only pods on an agent's Node)", got, want)
	}

	ix := informerTasks{pods: pods}
	ctx := context.Background()
	for _, tc := range []struct {
		id      string
		boundNS string
	}{
		{id: "k8sm.u1", boundNS: "a"},
		{id: "k8sm.vu1", boundNS: "d"},
		{id: "k8sm.u2"}, // its pod is a kubelet's
		{id: "k8sm.u3"}, // not bound
		{id: "k8sm.nope"},
		{id: "k8sm.xu1"}, // in u1's bucket, no object's
		{id: "1"},
	} {
		pod, err := ix.BoundPod(ctx, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if pod != nil {
			got = pod.Namespace
		}
		if got != tc.boundNS {
			t.Errorf("BoundPod(%s) in %q, want %q", tc.id, got, tc.boundNS)
		}
	}
}

// A cluster's tasks through a client's field index (the fake's, in tests): those of
// its clusterRef alone.
func TestTasksOfCluster(t *testing.T) {
	objs := []*mesosv1alpha1.MesosTask{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "p"}, Spec: mesosv1alpha1.MesosTaskSpec{ClusterRef: "c1", TaskID: "k8sm.u1"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "p"}, Spec: mesosv1alpha1.MesosTaskSpec{ClusterRef: "c2", TaskID: "k8sm.u2"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "q"}, Spec: mesosv1alpha1.MesosTaskSpec{ClusterRef: "c1", TaskID: "k8sm.u3"}},
	}
	c := fake.NewClientBuilder().WithScheme(scheme(t)).WithObjects(objs[0], objs[1], objs[2]).
		WithIndex(&mesosv1alpha1.MesosTask{}, ClusterRef, ClusterRefOf).Build()
	ix := ListTasks{Reader: c}
	for _, tc := range []struct {
		cluster string
		want    []string
	}{
		{"c1", []string{"k8sm.u1", "k8sm.u3"}},
		{"c2", []string{"k8sm.u2"}},
		{"c3", nil},
	} {
		list, err := ix.OfCluster(context.Background(), tc.cluster)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, mt := range list {
			got = append(got, mt.Spec.TaskID)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("OfCluster(%s) = %v, want %v", tc.cluster, got, tc.want)
		}
	}
}

func scheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := mesosv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}
