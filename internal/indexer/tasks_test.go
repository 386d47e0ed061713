package indexer

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
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

// The pods on a Node and of a scheduler are read from the cache's own field indexes,
// where controller-runtime keeps them, and are those a List by the same fields returns
// (ListTasks, over a fake client).
func TestPodsAreReadFromTheCachesFieldIndexes(t *testing.T) {
	ctx := context.Background()
	s := scheme(t)
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(corev1.SchemeGroupVersion.WithKind("Pod"), meta.RESTScopeNamespace)
	mapper.Add(mesosv1alpha1.GroupVersion.WithKind("MesosCluster"), meta.RESTScopeRoot)
	// Never started: nothing is asked of the address, and the pods are added to the
	// informer's store by hand.
	c, err := cache.New(&rest.Config{Host: "http://127.0.0.1:1"}, cache.Options{Scheme: s, Mapper: mapper})
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := Setup(ctx, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	it, ok := tasks.(informerTasks)
	if !ok || !it.fieldIndexes {
		t.Fatalf("Setup's lookups = %T, fieldIndexes %v: the cache's indexes are not where they were, and every walk lists", tasks, ok && it.fieldIndexes)
	}
	pods := []*corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "on-1", UID: "u1"}, Spec: corev1.PodSpec{NodeName: "mesos-c-h1", SchedulerName: "c"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "on-1", UID: "u2"}, Spec: corev1.PodSpec{NodeName: "mesos-c-h1", SchedulerName: corev1.DefaultSchedulerName}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "on-2", UID: "u3"}, Spec: corev1.PodSpec{NodeName: "mesos-c-h2", SchedulerName: "c"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "pending", UID: "u4"}, Spec: corev1.PodSpec{SchedulerName: "c"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "kubelet", UID: "u5"}, Spec: corev1.PodSpec{NodeName: "node-1", SchedulerName: "c"}},
	}
	fc := fake.NewClientBuilder().WithScheme(s).
		WithIndex(&corev1.Pod{}, PodNodeName, AgentNodeOf).WithIndex(&corev1.Pod{}, PodSchedulerName, PodSchedulerNameOf)
	for _, p := range pods {
		if err := it.pods.Add(p); err != nil {
			t.Fatal(err)
		}
		fc = fc.WithObjects(p.DeepCopy())
	}
	names := func(pods []*corev1.Pod, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range pods {
			out = append(out, p.Namespace+"/"+p.Name)
		}
		slices.Sort(out)
		return out
	}
	for _, lookup := range []struct {
		name  string
		tasks Tasks
	}{{"the cache's indexes", it}, {"a List", ListTasks{Reader: fc.Build()}}} {
		for _, tc := range []struct {
			what      string
			got, want []string
		}{
			{"on mesos-c-h1", names(lookup.tasks.PodsOnNode(ctx, "mesos-c-h1")), []string{"a/on-1", "b/on-1"}},
			{"on mesos-c-h2", names(lookup.tasks.PodsOnNode(ctx, "mesos-c-h2")), []string{"a/on-2"}},
			{"on node-1 (not an agent's)", names(lookup.tasks.PodsOnNode(ctx, "node-1")), nil},
			{"of c", names(lookup.tasks.PodsOfScheduler(ctx, "c")), []string{"a/kubelet", "a/on-1", "a/on-2", "a/pending"}},
			{"of none", names(lookup.tasks.PodsOfScheduler(ctx, "none")), nil},
		} {
			if !slices.Equal(tc.got, tc.want) {
				t.Errorf("%s: pods %s = %v, want %v", lookup.name, tc.what, tc.got, tc.want)
			}
		}
	}
}
