package taskstore

import (
	"context"
	"slices"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/indexer"
)

func task(ns, name, id, cluster string) *mesosv1alpha1.MesosTask {
	return &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: mesosv1alpha1.MesosTaskSpec{TaskID: id, ClusterRef: cluster}}
}

func apiClient(t *testing.T, funcs interceptor.Funcs, objs ...client.Object) client.WithWatch {
	t.Helper()
	sch := runtime.NewScheme()
	if err := mesosv1alpha1.AddToScheme(sch); err != nil {
		t.Fatal(err)
	}
	return interceptor.NewClient(fake.NewClientBuilder().WithScheme(sch).WithObjects(objs...).Build(), funcs)
}

// testStore is a Store that has listed api's MesosTasks, a client through it, and the
// names it was asked to read again.
type testStore struct {
	s        *Store
	c        client.Client
	api      client.WithWatch
	refetchs []types.NamespacedName
}

func newTestStore(t *testing.T, funcs interceptor.Funcs, objs ...client.Object) *testStore {
	t.Helper()
	ts := &testStore{s: New(nil), api: apiClient(t, funcs, objs...)}
	ts.s.refetch = func(key types.NamespacedName) { ts.refetchs = append(ts.refetchs, key) }
	var list mesosv1alpha1.MesosTaskList
	if err := ts.api.List(context.Background(), &list); err != nil {
		t.Fatal(err)
	}
	ts.s.replaceAll(list.Items, list.ResourceVersion)
	ts.s.markSynced()
	ts.c = Wrap(ts.api, ts.s)
	return ts
}

// metaOf is the watch's event of mt's metadata.
func metaOf(mt *mesosv1alpha1.MesosTask) *watchEvent {
	return &watchEvent{meta: &metav1.PartialObjectMetadata{ObjectMeta: *mt.ObjectMeta.DeepCopy()}}
}

func TestReadsComeFromTheStore(t *testing.T) {
	ts := newTestStore(t, interceptor.Funcs{Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
		t.Error("a read reached the API server")
		return nil
	}}, task("a", "p", "k8sm.1", "c1"), task("b", "p", "k8sm.2", "c2"), task("b", "q", "k8sm.3", "c1"))
	ctx := context.Background()

	got := &mesosv1alpha1.MesosTask{}
	if err := ts.c.Get(ctx, types.NamespacedName{Namespace: "b", Name: "q"}, got); err != nil || got.Spec.TaskID != "k8sm.3" {
		t.Fatalf("Get = %v, %v", got.Spec.TaskID, err)
	}
	got.Spec.TaskID = "changed"
	if ts.s.Get(types.NamespacedName{Namespace: "b", Name: "q"}).Spec.TaskID != "k8sm.3" {
		t.Error("a copy read changed the Store's object")
	}
	if err := ts.c.Get(ctx, types.NamespacedName{Namespace: "a", Name: "none"}, got); err == nil || !isNotFound(err) {
		t.Errorf("Get of a name held by none = %v, want NotFound", err)
	}

	for _, tc := range []struct {
		opts []client.ListOption
		want []string
	}{
		{nil, []string{"k8sm.1", "k8sm.2", "k8sm.3"}},
		{[]client.ListOption{client.InNamespace("b")}, []string{"k8sm.2", "k8sm.3"}},
		{[]client.ListOption{client.MatchingFields{indexer.ClusterRef: "c1"}}, []string{"k8sm.1", "k8sm.3"}},
		{[]client.ListOption{client.MatchingFields{indexer.TaskID: "k8sm.2"}}, []string{"k8sm.2"}},
		{[]client.ListOption{client.MatchingFields{indexer.ClusterRef: "c1"}, client.InNamespace("a"), client.UnsafeDisableDeepCopy}, []string{"k8sm.1"}},
	} {
		var list mesosv1alpha1.MesosTaskList
		if err := ts.c.List(ctx, &list, tc.opts...); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for i := range list.Items {
			ids = append(ids, list.Items[i].Spec.TaskID)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, tc.want) {
			t.Errorf("List(%v) = %v, want %v", tc.opts, ids, tc.want)
		}
	}
	if mt, _ := ts.s.MesosTask(ctx, "k8sm.2"); mt == nil || mt.Namespace != "b" {
		t.Errorf("by task id: %v", mt)
	}
	if list, _ := ts.s.OfCluster(ctx, "c2"); len(list) != 1 || list[0] != ts.s.Get(types.NamespacedName{Namespace: "b", Name: "p"}) {
		t.Error("OfCluster did not give the Store's own object")
	}
}

// What a write returns is kept, and the watch's event of that write changes nothing
// and reads nothing again.
func TestWritesAreKeptAndTheirEventsIgnored(t *testing.T) {
	ts := newTestStore(t, interceptor.Funcs{})
	ctx := context.Background()
	key := types.NamespacedName{Namespace: "a", Name: "p"}
	mt := task("a", "p", "k8sm.1", "c1")
	if err := ts.c.Create(ctx, mt); err != nil {
		t.Fatal(err)
	}
	if held := ts.s.Get(key); held == nil || held.ResourceVersion != mt.ResourceVersion {
		t.Fatalf("after the create the Store holds %v", held)
	}
	created := metaOf(mt)
	mt.Status.Phase = mesosv1alpha1.TaskPhaseRunning
	if err := ts.c.Update(ctx, mt); err != nil {
		t.Fatal(err)
	}
	ts.s.observe(created) // late: older than what the Store holds
	ts.s.observe(metaOf(mt))
	if held := ts.s.Get(key); held.Status.Phase != mesosv1alpha1.TaskPhaseRunning || held.ResourceVersion != mt.ResourceVersion {
		t.Errorf("the Store holds %s at %s, want Running at %s", held.Status.Phase, held.ResourceVersion, mt.ResourceVersion)
	}
	if len(ts.refetchs) != 0 {
		t.Errorf("read again: %v", ts.refetchs)
	}
}

// Others' changes of metadata alone (a finalizer, the deletion begun) come from the
// watch's event; any other is read again; a delete removes.
func TestOthersChanges(t *testing.T) {
	held := task("a", "p", "k8sm.1", "c1")
	held.Finalizers = []string{"mesos.k8sm.io/task"}
	ts := newTestStore(t, interceptor.Funcs{}, held)
	key := types.NamespacedName{Namespace: "a", Name: "p"}
	cur := ts.s.Get(key)
	rv := func(n int) string { return cur.ResourceVersion + string(rune('0'+n)) }

	label := metaOf(cur)
	label.meta.Labels, label.meta.ResourceVersion = map[string]string{"x": "y"}, rv(1)
	ts.s.observe(label)
	if got := ts.s.Get(key); got.Labels["x"] != "y" || got.Spec.TaskID != "k8sm.1" || got.ResourceVersion != rv(1) {
		t.Errorf("after a label's change: %v %v %v", got.Labels, got.Spec.TaskID, got.ResourceVersion)
	}

	deleting := metaOf(ts.s.Get(key))
	now := metav1.NewTime(time.Now())
	deleting.meta.DeletionTimestamp, deleting.meta.Generation, deleting.meta.ResourceVersion = &now, cur.Generation+1, rv(2)
	ts.s.observe(deleting)
	if got := ts.s.Get(key); got.DeletionTimestamp.IsZero() || got.Generation != cur.Generation+1 {
		t.Errorf("the deletion begun is not held: %v", got.ObjectMeta)
	}
	if len(ts.refetchs) != 0 {
		t.Fatalf("read again for metadata: %v", ts.refetchs)
	}

	status := metaOf(ts.s.Get(key))
	status.meta.Generation, status.meta.ResourceVersion = status.meta.Generation+1, rv(3)
	ts.s.observe(status)
	if !slices.Equal(ts.refetchs, []types.NamespacedName{key}) {
		t.Errorf("a change of spec or status read again %v, want %v", ts.refetchs, key)
	}

	gone := metaOf(ts.s.Get(key))
	gone.deleted = true
	ts.s.observe(gone)
	if ts.s.Get(key) != nil {
		t.Error("a deleted MesosTask is still held")
	}
	if got, _ := ts.s.MesosTask(context.Background(), "k8sm.1"); got != nil {
		t.Error("a deleted MesosTask is still found by its task id")
	}
}

// An event that comes during a write of its name waits for the write: one older than
// what the write returned changes nothing, a newer one is taken in.
func TestAnEventDuringAWriteWaitsForIt(t *testing.T) {
	var ts *testStore
	var during func()
	ts = newTestStore(t, interceptor.Funcs{Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
		err := c.Update(ctx, o, opts...)
		if during != nil {
			during()
		}
		return err
	}}, task("a", "p", "k8sm.1", "c1"))
	key := types.NamespacedName{Namespace: "a", Name: "p"}
	mt := ts.s.Get(key).DeepCopy()
	during = func() {
		ev := metaOf(mt) // the write's own event, before the write returns
		ts.s.observe(ev)
		if ts.s.Get(key).ResourceVersion == mt.ResourceVersion {
			t.Error("the event was taken in during the write")
		}
	}
	mt.Status.Phase = mesosv1alpha1.TaskPhaseRunning
	if err := ts.c.Update(context.Background(), mt); err != nil {
		t.Fatal(err)
	}
	if len(ts.refetchs) != 0 || ts.s.Get(key).Status.Phase != mesosv1alpha1.TaskPhaseRunning {
		t.Errorf("read again %v, held %s", ts.refetchs, ts.s.Get(key).Status.Phase)
	}

	during = func() {
		ev := metaOf(mt)
		ev.meta.ResourceVersion = "999999"
		ev.meta.Generation++
		ts.s.observe(ev) // another's write after this one
	}
	mt.Status.Phase = mesosv1alpha1.TaskPhaseKilling
	if err := ts.c.Update(context.Background(), mt); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ts.refetchs, []types.NamespacedName{key}) {
		t.Errorf("a newer change during the write read again %v, want %v", ts.refetchs, key)
	}
}

// A write that finds its object changed or gone has it read again; what is read again
// is taken in only if nothing changed the name meanwhile.
func TestConflictsAreReadAgain(t *testing.T) {
	ts := newTestStore(t, interceptor.Funcs{}, task("a", "p", "k8sm.1", "c1"))
	key := types.NamespacedName{Namespace: "a", Name: "p"}
	stale := ts.s.Get(key).DeepCopy()
	other := stale.DeepCopy()
	other.Status.Phase = mesosv1alpha1.TaskPhaseRunning
	if err := ts.api.Update(context.Background(), other); err != nil { // another's write
		t.Fatal(err)
	}
	stale.Status.Phase = mesosv1alpha1.TaskPhaseFailed
	if err := ts.c.Update(context.Background(), stale); !isConflict(err) {
		t.Fatalf("Update = %v, want a conflict", err)
	}
	if !slices.Equal(ts.refetchs, []types.NamespacedName{key}) {
		t.Fatalf("read again %v, want %v", ts.refetchs, key)
	}
	before := ts.s.Get(key)
	ts.s.fetched(key, before, other)
	if got := ts.s.Get(key); got.Status.Phase != mesosv1alpha1.TaskPhaseRunning {
		t.Errorf("after the read: %s", got.Status.Phase)
	}
	ts.s.fetched(key, before, nil) // a read that began before the last change
	if ts.s.Get(key) == nil {
		t.Error("a read older than the Store's object removed it")
	}
	ts.s.fetched(key, ts.s.Get(key), nil)
	if ts.s.Get(key) != nil {
		t.Error("a MesosTask read again and not found is still held")
	}
}

// A list again keeps what was written since and drops what went.
func TestAListAgain(t *testing.T) {
	ts := newTestStore(t, interceptor.Funcs{}, task("a", "p", "k8sm.1", "c1"), task("a", "q", "k8sm.2", "c1"))
	ctx := context.Background()
	var list mesosv1alpha1.MesosTaskList
	if err := ts.api.List(ctx, &list); err != nil {
		t.Fatal(err)
	}
	written := list.Items[0].DeepCopy()
	written.Status.Phase = mesosv1alpha1.TaskPhaseRunning
	if err := ts.c.Update(ctx, written); err != nil {
		t.Fatal(err)
	}
	ts.s.replaceAll(list.Items[:1], list.ResourceVersion) // the second went; the first is older
	if got := ts.s.Get(types.NamespacedName{Namespace: "a", Name: "p"}); got == nil || got.Status.Phase != mesosv1alpha1.TaskPhaseRunning {
		t.Errorf("the first after the list: %v", got)
	}
	if ts.s.Get(types.NamespacedName{Namespace: "a", Name: "q"}) != nil {
		t.Error("one not listed is still held")
	}
}

// A source hands a controller what the Store held as it started, then each change.
func TestSubscribers(t *testing.T) {
	ts := newTestStore(t, interceptor.Funcs{}, task("a", "p", "k8sm.1", "c1"))
	var seen []string
	ts.s.Subscribe(func(old, new *mesosv1alpha1.MesosTask) {
		switch {
		case old == nil:
			seen = append(seen, "add "+new.Name)
		case new == nil:
			seen = append(seen, "remove "+old.Name)
		default:
			seen = append(seen, "update "+new.Name+" "+string(new.Status.Phase))
		}
	})
	ctx := context.Background()
	mt := task("a", "q", "k8sm.2", "c1")
	if err := ts.c.Create(ctx, mt); err != nil {
		t.Fatal(err)
	}
	mt.Status.Phase = mesosv1alpha1.TaskPhaseRunning
	if err := ts.c.Update(ctx, mt); err != nil {
		t.Fatal(err)
	}
	if err := ts.c.Delete(ctx, mt); err != nil {
		t.Fatal(err)
	}
	gone := metaOf(ts.s.Get(types.NamespacedName{Namespace: "a", Name: "q"}))
	gone.deleted = true
	ts.s.observe(gone)
	want := []string{"add p", "add q", "update q Running", "remove q"}
	if !slices.Equal(seen, want) {
		t.Errorf("seen %v, want %v", seen, want)
	}
}

func TestNewer(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{{"10", "9", true}, {"9", "10", false}, {"9", "9", false}, {"x", "9", false}, {"10", "", false}} {
		if got := newer(tc.a, tc.b); got != tc.want {
			t.Errorf("newer(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
func isConflict(err error) bool { return apierrors.IsConflict(err) }

// With the mutation detector on, a reader that changes a held object is found out when
// the object is next replaced.
func TestMutationDetector(t *testing.T) {
	t.Setenv("KUBE_CACHE_MUTATION_DETECTOR", "true")
	s := New(nil)
	s.put(task("a", "p", "k8sm.1", "c1"))
	held := s.Get(types.NamespacedName{Namespace: "a", Name: "p"})
	held.Status.Phase = mesosv1alpha1.TaskPhaseRunning // what a reader must never do
	defer func() {
		if recover() == nil {
			t.Error("a changed object went unnoticed")
		}
	}()
	next := task("a", "p", "k8sm.1", "c1")
	next.ResourceVersion = "2"
	s.put(next)
}
