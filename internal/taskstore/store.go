// Package taskstore keeps the cluster's MesosTasks in the manager's memory, without
// watching them whole where the manager writes them.
//
// The leading manager writes nearly every MesosTask there is, and an informer would have
// it decode each of its own writes a second time, from a JSON watch event the API server
// encodes for it (a custom resource has no protobuf): in a burst, about 6% of the
// manager's CPU (docs/performance.md). The Store instead keeps what the manager's
// writes return (Client), after one List at its start, and, once its replica leads,
// watches the MesosTasks' metadata alone (protobuf, a few hundred bytes) only to learn of
// what others do: the garbage collector's deletes, a person's edit, a MesosTask made by
// an earlier version. (A standby replica, which writes none, watches them whole, as a
// cache would: Watcher.) A watch event whose resource version the Store holds already is its own write; one of
// metadata only (a deletion begun, a finalizer) is applied from the event; anything else
// is read again from the API server.
//
// Readers get what an informer's cache would give (the Store's own objects, to read
// only, with client.UnsafeDisableDeepCopy), and controllers a source of its changes
// (Source) in place of a watch.
package taskstore

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// Store holds MesosTasks by name and by task id. Its objects are never changed in
// place: a change puts a new object.
type Store struct {
	mu     sync.RWMutex
	byKey  map[types.NamespacedName]*mesosv1alpha1.MesosTask
	byID   map[string]*mesosv1alpha1.MesosTask
	subs   []func(old, new *mesosv1alpha1.MesosTask)
	synced chan struct{}
	once   sync.Once
	// writing counts the writes under way per name; seen is the latest watch event that
	// came for a name during one, looked at once they are done (settle).
	writing map[types.NamespacedName]int
	seen    map[types.NamespacedName]*watchEvent
	// trim readies an object for the Store (managed fields off, strings shared).
	trim func(*mesosv1alpha1.MesosTask)
	// refetch asks for a name to be read again from the API server (Watcher).
	refetch func(types.NamespacedName)
	// kept are copies of the objects held, by object, with KUBE_CACHE_MUTATION_DETECTOR
	// set (as every test runs): an object that differs from its copy when it is
	// replaced was changed by a reader, which panics, as client-go's detector does for
	// a cache's objects.
	kept map[*mesosv1alpha1.MesosTask]*mesosv1alpha1.MesosTask

	// The revisions of the Store's changes (revisions.go): the first, the latest, each
	// object's, the latest changes (a ring, next its oldest once full) and the followers.
	base, rev uint64
	revs      map[*mesosv1alpha1.MesosTask]uint64
	recent    []Change
	next      int
	followers map[*Follower]struct{}
}

// New returns an empty Store; trim, if set, readies each object kept.
func New(trim func(*mesosv1alpha1.MesosTask)) *Store {
	if trim == nil {
		trim = func(*mesosv1alpha1.MesosTask) {}
	}
	s := &Store{byKey: map[types.NamespacedName]*mesosv1alpha1.MesosTask{}, byID: map[string]*mesosv1alpha1.MesosTask{},
		synced: make(chan struct{}), writing: map[types.NamespacedName]int{}, seen: map[types.NamespacedName]*watchEvent{},
		trim: trim, refetch: func(types.NamespacedName) {}}
	s.initRevisions()
	if detect, _ := strconv.ParseBool(os.Getenv("KUBE_CACHE_MUTATION_DETECTOR")); detect {
		s.kept = map[*mesosv1alpha1.MesosTask]*mesosv1alpha1.MesosTask{}
	}
	return s
}

// replacedLocked checks, with the mutation detector on, that old was not changed while
// held, and keeps a copy of its successor new (nil: none).
func (s *Store) replacedLocked(old, new *mesosv1alpha1.MesosTask) {
	if s.kept == nil {
		return
	}
	if old != nil {
		if was, ok := s.kept[old]; ok && !equality.Semantic.DeepEqual(was, old) {
			panic(fmt.Sprintf("the MesosTask %s/%s held by the Store was modified by a reader", old.Namespace, old.Name))
		}
		delete(s.kept, old)
	}
	if new != nil {
		s.kept[new] = new.DeepCopy()
	}
}

// WaitForSync waits until the Store holds what the API server held at its start.
func (s *Store) WaitForSync(ctx context.Context) error {
	select {
	case <-s.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Synced says whether the Store holds what the API server held at its start.
func (s *Store) Synced() bool {
	select {
	case <-s.synced:
		return true
	default:
		return false
	}
}

func (s *Store) markSynced() { s.once.Do(func() { close(s.synced) }) }

// Get is the MesosTask of a name, or nil.
func (s *Store) Get(key types.NamespacedName) *mesosv1alpha1.MesosTask {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byKey[key]
}

// MesosTask is the MesosTask whose spec.taskID is id, or nil.
func (s *Store) MesosTask(_ context.Context, id string) (*mesosv1alpha1.MesosTask, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byID[id], nil
}

// OfCluster are the MesosTasks of a cluster (spec.clusterRef), in no order.
func (s *Store) OfCluster(_ context.Context, cluster string) ([]*mesosv1alpha1.MesosTask, error) {
	return s.Select(func(mt *mesosv1alpha1.MesosTask) bool { return mt.Spec.ClusterRef == cluster }), nil
}

// Select are the MesosTasks keep says so of, in no order.
func (s *Store) Select(keep func(*mesosv1alpha1.MesosTask) bool) []*mesosv1alpha1.MesosTask {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*mesosv1alpha1.MesosTask
	for _, mt := range s.byKey {
		if keep(mt) {
			out = append(out, mt)
		}
	}
	return out
}

// Subscribe calls fn with every change from now on (old nil: added; new nil: removed),
// and first with every object held, as added. fn must not block, nor call the Store.
func (s *Store) Subscribe(fn func(old, new *mesosv1alpha1.MesosTask)) {
	s.mu.Lock()
	s.subs = append(s.subs, fn)
	held := make([]*mesosv1alpha1.MesosTask, 0, len(s.byKey))
	for _, mt := range s.byKey {
		held = append(held, mt)
	}
	s.mu.Unlock()
	for _, mt := range held {
		fn(nil, mt)
	}
}

// put keeps an object as the API server returned it (a copy, without its managed
// fields: the caller keeps its own), unless the Store holds a newer version; one being
// deleted with no finalizer left is gone.
func (s *Store) put(obj *mesosv1alpha1.MesosTask) {
	// Managed fields are never kept (nothing reads them), so not copied either: a
	// write's answer carries about a kilobyte of them.
	src := *obj
	src.ManagedFields = nil
	mt := src.DeepCopy()
	mt.TypeMeta = metav1.TypeMeta{APIVersion: mesosv1alpha1.GroupVersion.String(), Kind: "MesosTask"}
	s.trim(mt)
	key := types.NamespacedName{Namespace: mt.Namespace, Name: mt.Name}
	s.mu.Lock()
	old := s.byKey[key]
	if old != nil && old.UID == mt.UID && (old.ResourceVersion == mt.ResourceVersion || newer(old.ResourceVersion, mt.ResourceVersion)) {
		s.mu.Unlock()
		return
	}
	if !mt.DeletionTimestamp.IsZero() && len(mt.Finalizers) == 0 {
		s.removeLocked(key, old)
		return
	}
	s.keepLocked(key, old, mt)
}

// keepLocked holds mt in place of old, the object of key, and unlocks.
func (s *Store) keepLocked(key types.NamespacedName, old, mt *mesosv1alpha1.MesosTask) {
	if old != nil && old.Spec.TaskID != mt.Spec.TaskID && s.byID[old.Spec.TaskID] == old {
		delete(s.byID, old.Spec.TaskID)
	}
	s.byKey[key] = mt
	s.byID[mt.Spec.TaskID] = mt
	s.replacedLocked(old, mt)
	s.changedLocked(old, mt)
	subs := s.subs
	s.mu.Unlock()
	for _, fn := range subs {
		fn(old, mt)
	}
}

// remove drops the object of a name if it is uid's (any, for an empty uid).
func (s *Store) remove(key types.NamespacedName, uid types.UID) {
	s.mu.Lock()
	old := s.byKey[key]
	if old == nil || uid != "" && old.UID != uid {
		s.mu.Unlock()
		return
	}
	s.removeLocked(key, old)
}

// removeLocked drops old, the object of key, and unlocks.
func (s *Store) removeLocked(key types.NamespacedName, old *mesosv1alpha1.MesosTask) {
	if old == nil {
		s.mu.Unlock()
		return
	}
	delete(s.byKey, key)
	if s.byID[old.Spec.TaskID] == old {
		delete(s.byID, old.Spec.TaskID)
	}
	s.replacedLocked(old, nil)
	s.changedLocked(old, nil)
	subs := s.subs
	s.mu.Unlock()
	for _, fn := range subs {
		fn(old, nil)
	}
}

// refetchNow has the object of a name read again from the API server.
func (s *Store) refetchNow(key types.NamespacedName) {
	s.mu.RLock()
	f := s.refetch
	s.mu.RUnlock()
	f(key)
}

// begin notes a write of a name under way; settle, once it is done, looks at what the
// watch said of the name meanwhile.
func (s *Store) begin(key types.NamespacedName) {
	s.mu.Lock()
	s.writing[key]++
	s.mu.Unlock()
}

func (s *Store) settle(key types.NamespacedName) {
	s.mu.Lock()
	s.writing[key]--
	var ev *watchEvent
	if s.writing[key] <= 0 {
		delete(s.writing, key)
		ev = s.seen[key]
		delete(s.seen, key)
	}
	s.mu.Unlock()
	if ev != nil {
		s.observe(ev)
	}
}

// newer says whether resource version a is newer than b. Resource versions are opaque
// to clients, but the API server's are etcd's revisions, which only grow; where either
// is not a number, neither is newer.
func newer(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	return errA == nil && errB == nil && x > y
}
