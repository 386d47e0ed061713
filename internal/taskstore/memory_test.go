package taskstore

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/go-logr/logr"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// inMemory is a Store written in memory, the client over it, and the changes its
// subscriber saw, as "+name", "~name" and "-name".
type inMemory struct {
	s       *Store
	c       client.Client
	changes []string
}

func newInMemory(t *testing.T) *inMemory {
	t.Helper()
	m := &inMemory{s: New(nil)}
	// The API server's client fails every MesosTask request: none may reach it.
	api := apiClient(t, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*mesosv1alpha1.MesosTask); ok {
				t.Fatalf("a MesosTask create reached the API server")
			}
			return c.Create(ctx, obj, opts...)
		},
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*mesosv1alpha1.MesosTask); ok {
				t.Fatalf("a MesosTask read reached the API server")
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	m.c = InMemory(api, m.s)
	m.s.markSynced()
	m.s.Subscribe(func(old, new *mesosv1alpha1.MesosTask) {
		switch {
		case old == nil:
			m.changes = append(m.changes, "+"+new.Name)
		case new == nil:
			m.changes = append(m.changes, "-"+old.Name)
		default:
			m.changes = append(m.changes, "~"+new.Name)
		}
	})
	return m
}

func (m *inMemory) held(t *testing.T, name string) *mesosv1alpha1.MesosTask {
	t.Helper()
	mt := &mesosv1alpha1.MesosTask{}
	if err := m.c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: name}, mt); err != nil {
		t.Fatalf("getting %s: %v", name, err)
	}
	return mt
}

func TestAMesosTaskInMemoryIsAnsweredAsTheAPIServerWould(t *testing.T) {
	ctx := context.Background()
	m := newInMemory(t)

	mt := task("ns", "a", "t-a", "c")
	if err := m.c.Create(ctx, mt); err != nil {
		t.Fatal(err)
	}
	if mt.UID == "" || mt.ResourceVersion == "" || mt.Generation != 1 || mt.CreationTimestamp.IsZero() {
		t.Fatalf("the create answered %+v, want a UID, a resource version, generation 1 and a creation time", mt.ObjectMeta)
	}
	if got := m.held(t, "a"); got.UID != mt.UID || got.ResourceVersion != mt.ResourceVersion {
		t.Fatalf("held %s/%s, the create answered %s/%s", got.UID, got.ResourceVersion, mt.UID, mt.ResourceVersion)
	}
	if held := m.s.Get(types.NamespacedName{Namespace: "ns", Name: "a"}); strconv.FormatUint(m.s.RevisionOf(held), 10) != mt.ResourceVersion {
		t.Fatalf("resource version %s, the Store's revision of it %d: want the same", mt.ResourceVersion, m.s.RevisionOf(held))
	}
	if err := m.c.Create(ctx, task("ns", "a", "t-a", "c")); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("a second create: %v, want AlreadyExists", err)
	}
	withVersion := task("ns", "b", "t-b", "c")
	withVersion.ResourceVersion = "5"
	if err := m.c.Create(ctx, withVersion); !apierrors.IsBadRequest(err) {
		t.Fatalf("a create with a resource version: %v, want BadRequest", err)
	}

	// An update from a version read before another's is a conflict; from the latest it
	// is taken, with the next resource version.
	stale := mt.DeepCopy()
	mt.Status.Phase = mesosv1alpha1.TaskPhaseRunning
	if err := m.c.Update(ctx, mt); err != nil {
		t.Fatal(err)
	}
	if mt.Generation != 2 {
		t.Fatalf("a status change left generation %d, want 2 (a MesosTask has no status subresource)", mt.Generation)
	}
	if !newer(mt.ResourceVersion, stale.ResourceVersion) {
		t.Fatalf("the update's resource version %s is not newer than %s", mt.ResourceVersion, stale.ResourceVersion)
	}
	stale.Labels = map[string]string{"x": "y"}
	if err := m.c.Update(ctx, stale); !apierrors.IsConflict(err) {
		t.Fatalf("an update from a stale version: %v, want Conflict", err)
	}
	otherUID := m.held(t, "a")
	otherUID.UID = "someone-else"
	if err := m.c.Update(ctx, otherUID); !apierrors.IsConflict(err) {
		t.Fatalf("an update of another UID: %v, want Conflict", err)
	}
	// An update that changes nothing is no change: same version, no event.
	before, seen := mt.ResourceVersion, len(m.changes)
	if err := m.c.Update(ctx, mt.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	if got := m.held(t, "a"); got.ResourceVersion != before || len(m.changes) != seen {
		t.Fatalf("an update that changed nothing moved the version %s to %s, or told of a change", before, got.ResourceVersion)
	}
	// A label is metadata: the generation stays.
	unconditional := m.held(t, "a")
	unconditional.ResourceVersion = ""
	unconditional.Labels = map[string]string{"k": "v"}
	if err := m.c.Update(ctx, unconditional); err != nil {
		t.Fatal(err)
	}
	if got := m.held(t, "a"); got.Labels["k"] != "v" || got.Generation != 2 {
		t.Fatalf("an unconditional label update held labels %v, generation %d; want k=v, 2", got.Labels, got.Generation)
	}

	// A merge patch with the version it was made from conflicts with a newer one.
	base := m.held(t, "a")
	patched := base.DeepCopy()
	patched.Status.Reason = "Patched"
	if err := m.c.Patch(ctx, patched, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		t.Fatal(err)
	}
	if got := m.held(t, "a"); got.Status.Reason != "Patched" || got.Labels["k"] != "v" {
		t.Fatalf("after the patch: reason %q, labels %v", got.Status.Reason, got.Labels)
	}
	again := base.DeepCopy()
	again.Status.Reason = "Late"
	if err := m.c.Patch(ctx, again, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); !apierrors.IsConflict(err) {
		t.Fatalf("a patch from a stale version: %v, want Conflict", err)
	}

	if err := m.c.Delete(ctx, task("ns", "a", "", ""), client.Preconditions{UID: new(types.UID("someone-else"))}); !apierrors.IsConflict(err) {
		t.Fatalf("a delete with another UID as precondition: %v, want Conflict", err)
	}
	if err := m.c.Delete(ctx, task("ns", "a", "", "")); err != nil {
		t.Fatal(err)
	}
	if err := m.c.Get(ctx, types.NamespacedName{Namespace: "ns", Name: "a"}, &mesosv1alpha1.MesosTask{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after its delete: %v, want NotFound", err)
	}
	if got, _ := m.s.MesosTask(ctx, "t-a"); got != nil {
		t.Fatal("the deleted MesosTask is still held by its task id")
	}
	if err := m.c.Delete(ctx, task("ns", "a", "", "")); !apierrors.IsNotFound(err) {
		t.Fatalf("a second delete: %v, want NotFound", err)
	}
	want := []string{"+a", "~a", "~a", "~a", "-a"}
	if !slices.Equal(m.changes, want) {
		t.Fatalf("the subscriber saw %v, want %v", m.changes, want)
	}
}

func TestAMesosTaskInMemoryWithAFinalizerIsKeptUntilItIsTakenOff(t *testing.T) {
	ctx := context.Background()
	m := newInMemory(t)
	mt := task("ns", "f", "t-f", "c")
	mt.Finalizers = []string{"mesos.k8sm.io/task"}
	if err := m.c.Create(ctx, mt); err != nil {
		t.Fatal(err)
	}
	if err := m.c.Delete(ctx, mt); err != nil {
		t.Fatal(err)
	}
	deleting := m.held(t, "f")
	if deleting.DeletionTimestamp.IsZero() || deleting.Generation != 2 {
		t.Fatalf("a delete of one with a finalizer held deletion %v, generation %d; want a time, 2", deleting.DeletionTimestamp, deleting.Generation)
	}
	if err := m.c.Delete(ctx, deleting); err != nil {
		t.Fatalf("a second delete of one being deleted: %v", err)
	}
	if got := m.held(t, "f"); got.ResourceVersion != deleting.ResourceVersion {
		t.Fatal("a second delete of one being deleted changed it")
	}
	more := deleting.DeepCopy()
	more.Finalizers = append(more.Finalizers, "another")
	if err := m.c.Update(ctx, more); !apierrors.IsForbidden(err) {
		t.Fatalf("adding a finalizer to one being deleted: %v, want Forbidden", err)
	}
	undeleted := deleting.DeepCopy()
	undeleted.DeletionTimestamp = nil
	undeleted.Status.Reason = "Killed"
	if err := m.c.Update(ctx, undeleted); err != nil {
		t.Fatal(err)
	}
	if got := m.held(t, "f"); got.DeletionTimestamp.IsZero() || got.Status.Reason != "Killed" {
		t.Fatalf("an update dropped the deletion (%v) or its change (%q)", got.DeletionTimestamp, got.Status.Reason)
	}
	last := m.held(t, "f")
	last.Finalizers = nil
	if err := m.c.Update(ctx, last); err != nil {
		t.Fatal(err)
	}
	if err := m.c.Get(ctx, types.NamespacedName{Namespace: "ns", Name: "f"}, &mesosv1alpha1.MesosTask{}); !apierrors.IsNotFound(err) {
		t.Fatalf("once its last finalizer was off: %v, want NotFound", err)
	}
	if want := []string{"+f", "~f", "~f", "-f"}; !slices.Equal(m.changes, want) {
		t.Fatalf("the subscriber saw %v, want %v", m.changes, want)
	}
}

func TestTheReaderPastTheCacheReadsTheStore(t *testing.T) {
	ctx := context.Background()
	m := newInMemory(t)
	if err := m.c.Create(ctx, task("ns", "r", "t-r", "c")); err != nil {
		t.Fatal(err)
	}
	r := Reader(apiClient(t, interceptor.Funcs{}), m.s)
	got := &mesosv1alpha1.MesosTask{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: "ns", Name: "r"}, got); err != nil || got.Spec.TaskID != "t-r" {
		t.Fatalf("read %q, %v; want t-r", got.Spec.TaskID, err)
	}
	var list mesosv1alpha1.MesosTaskList
	if err := r.List(ctx, &list, client.InNamespace("ns")); err != nil || len(list.Items) != 1 {
		t.Fatalf("listed %d, %v; want 1", len(list.Items), err)
	}
}

// copyOf is a Copy that holds items.
type copyOf []mesosv1alpha1.MesosTask

func (c copyOf) Kept(context.Context) []mesosv1alpha1.MesosTask { return c }

// A new leader's Store holds the copy kept of the leader before it, each MesosTask as it
// was, before it counts as synced; with no copy it holds nothing.
func TestALeaderStartsFromTheCopyItKept(t *testing.T) {
	deleted := metav1.Now()
	kept := copyOf{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a", UID: "uid-a", ResourceVersion: "17", CreationTimestamp: metav1.Now()},
			Spec: mesosv1alpha1.MesosTaskSpec{TaskID: "id-a", ClusterRef: "c"}, Status: mesosv1alpha1.MesosTaskStatus{MesosState: "TASK_RUNNING", Reason: "REASON_X"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "gone", UID: "uid-g", ResourceVersion: "18", DeletionTimestamp: &deleted, Finalizers: []string{"mesos.k8sm.io/task"}},
			Spec: mesosv1alpha1.MesosTaskSpec{TaskID: "id-g", ClusterRef: "c"}},
	}
	for _, tc := range []struct {
		name string
		copy Copy
		want []string
	}{
		{"a copy", kept, []string{"a uid-a TASK_RUNNING REASON_X", "gone uid-g deleted"}},
		{"an empty copy", copyOf(nil), nil},
		{"no copy", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { _ = (&Leading{Store: s, Copy: tc.copy, Log: logr.Discard()}).Start(ctx) }()
			waitCtx, done := context.WithTimeout(ctx, 10*time.Second)
			defer done()
			if err := s.WaitForSync(waitCtx); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, mt := range s.Select(func(*mesosv1alpha1.MesosTask) bool { return true }) {
				d := fmt.Sprintf("%s %s %s %s", mt.Name, mt.UID, mt.Status.MesosState, mt.Status.Reason)
				if mt.DeletionTimestamp != nil && len(mt.Finalizers) == 1 {
					d = fmt.Sprintf("%s %s deleted", mt.Name, mt.UID)
				}
				got = append(got, d)
			}
			sort.Strings(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("held %q, want %q", got, tc.want)
			}
		})
	}
}
