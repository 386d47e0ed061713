package taskstore

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// listPage is how many MesosTasks a page of the Store's list holds.
const listPage = 500

// watchEvent is what the metadata watch says of a name: its metadata, and whether it went.
type watchEvent struct {
	meta    *metav1.PartialObjectMetadata
	deleted bool
}

// observe takes in a watch event. During a write of the name it waits for the write's
// end (settle): the event may be that write's, and the Store not hold its answer yet.
func (s *Store) observe(ev *watchEvent) {
	key := types.NamespacedName{Namespace: ev.meta.Namespace, Name: ev.meta.Name}
	s.mu.Lock()
	if s.writing[key] > 0 {
		s.seen[key] = ev
		s.mu.Unlock()
		return
	}
	cur := s.byKey[key]
	switch {
	case ev.deleted:
		if cur != nil && cur.UID == ev.meta.UID {
			s.removeLocked(key, cur)
			return
		}
		s.mu.Unlock()
		return
	case cur != nil && cur.UID == ev.meta.UID &&
		(cur.ResourceVersion == ev.meta.ResourceVersion || newer(cur.ResourceVersion, ev.meta.ResourceVersion)):
		// The Store's own write, or older than what it holds.
		s.mu.Unlock()
		return
	case cur != nil && cur.UID == ev.meta.UID && metadataOnly(cur, &ev.meta.ObjectMeta):
		mt := *cur
		mt.ObjectMeta = *ev.meta.ObjectMeta.DeepCopy()
		s.mu.Unlock()
		s.put(&mt)
		return
	}
	s.mu.Unlock()
	s.refetchNow(key)
}

// metadataOnly says whether the change from cur to meta is of metadata alone, which the
// event carries whole: a MesosTask has no status subresource, so a change of its spec or
// status moves its generation, and one of its metadata does not; but for the deletion
// begun, which moves it by one.
func metadataOnly(cur *mesosv1alpha1.MesosTask, meta *metav1.ObjectMeta) bool {
	if meta.Generation == cur.Generation {
		return true
	}
	return cur.DeletionTimestamp.IsZero() && !meta.DeletionTimestamp.IsZero() && meta.Generation == cur.Generation+1
}

// replaceAll takes in a whole list of the MesosTasks, listed at resource version rv:
// each is kept unless the Store holds a newer version, and what the Store holds that the
// list has not goes, unless it was written since or is being written.
func (s *Store) replaceAll(items []mesosv1alpha1.MesosTask, rv string) {
	listed := make(map[types.NamespacedName]bool, len(items))
	for i := range items {
		listed[types.NamespacedName{Namespace: items[i].Namespace, Name: items[i].Name}] = true
		s.put(&items[i])
	}
	s.mu.RLock()
	var gone []*mesosv1alpha1.MesosTask
	for key, mt := range s.byKey {
		if !listed[key] && s.writing[key] == 0 && !newer(mt.ResourceVersion, rv) {
			gone = append(gone, mt)
		}
	}
	s.mu.RUnlock()
	for _, mt := range gone {
		s.removeIf(mt)
	}
}

// removeIf drops mt if the Store still holds it.
func (s *Store) removeIf(mt *mesosv1alpha1.MesosTask) {
	key := types.NamespacedName{Namespace: mt.Namespace, Name: mt.Name}
	s.mu.Lock()
	if s.byKey[key] != mt {
		s.mu.Unlock()
		return
	}
	s.removeLocked(key, mt)
}

// fetched takes in what the API server said of a name read again (nil: not found), if
// the Store still holds what it held before the read (held): otherwise a write of this
// process came meanwhile, with what it returned, or another event, which reads again.
func (s *Store) fetched(key types.NamespacedName, held, mt *mesosv1alpha1.MesosTask) {
	s.mu.Lock()
	if s.byKey[key] != held || s.writing[key] > 0 {
		s.mu.Unlock()
		return
	}
	if mt == nil {
		s.removeLocked(key, held)
		return
	}
	s.mu.Unlock()
	s.put(mt)
}

// Watcher fills the Store and keeps it in line with the API server: one List of the
// MesosTasks, then a watch of their metadata (see the package's doc), and a List again
// when the watch cannot go on. It runs on every replica of the manager, as a cache does,
// so that a new leader starts with it filled.
type Watcher struct {
	Store *Store
	// Reader reads whole MesosTasks from the API server (the manager's API reader).
	Reader client.Reader
	// Metadata watches the MesosTasks' metadata.
	Metadata metadata.Interface
	Log      logr.Logger
}

// NeedLeaderElection: every replica keeps its Store.
func (w *Watcher) NeedLeaderElection() bool { return false }

// Start runs until ctx ends.
func (w *Watcher) Start(ctx context.Context) error {
	q := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[types.NamespacedName](100*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[types.NamespacedName]{Name: "mesostask-refetch"})
	defer q.ShutDown()
	w.Store.mu.Lock()
	w.Store.refetch = q.Add
	w.Store.mu.Unlock()
	go w.refetchLoop(ctx, q)
	lw := &listWatch{w: w}
	r := toolscache.NewReflectorWithOptions(lw, &metav1.PartialObjectMetadata{}, reflectorStore{w.Store},
		toolscache.ReflectorOptions{Name: "mesostasks"})
	r.RunWithContext(ctx)
	return nil
}

// refetchLoop reads again, from the API server, each name the watch said changed in a
// way its event does not carry.
func (w *Watcher) refetchLoop(ctx context.Context, q workqueue.TypedRateLimitingInterface[types.NamespacedName]) {
	for {
		key, shutdown := q.Get()
		if shutdown {
			return
		}
		held := w.Store.Get(key)
		mt := &mesosv1alpha1.MesosTask{}
		err := w.Reader.Get(ctx, key, mt)
		switch {
		case apierrors.IsNotFound(err):
			w.Store.fetched(key, held, nil)
			q.Forget(key)
		case err != nil:
			if ctx.Err() == nil {
				w.Log.V(1).Info("Could not read a MesosTask again; retrying", "mesostask", key.String(), "error", err.Error())
				q.AddRateLimited(key)
			}
		default:
			w.Store.fetched(key, held, mt)
			q.Forget(key)
		}
		q.Done(key)
	}
}

// listWatch lists whole MesosTasks into the Store, and hands the reflector their
// metadata; it watches their metadata.
type listWatch struct{ w *Watcher }

// IsWatchListSemanticsUnSupported: the list is the Store's own (whole objects), which a
// watch's initial events would not give.
func (*listWatch) IsWatchListSemanticsUnSupported() bool { return true }

func (l *listWatch) List(options metav1.ListOptions) (runtime.Object, error) {
	return l.ListWithContext(context.Background(), options)
}

func (l *listWatch) ListWithContext(ctx context.Context, _ metav1.ListOptions) (runtime.Object, error) {
	var items []mesosv1alpha1.MesosTask
	rv, cont := "", ""
	for {
		var page mesosv1alpha1.MesosTaskList
		if err := l.w.Reader.List(ctx, &page, client.Limit(listPage), client.Continue(cont)); err != nil {
			return nil, fmt.Errorf("listing MesosTasks: %w", err)
		}
		if rv == "" {
			rv = page.ResourceVersion
		}
		items = append(items, page.Items...)
		if cont = page.Continue; cont == "" {
			break
		}
	}
	l.w.Store.replaceAll(items, rv)
	metas := &metav1.PartialObjectMetadataList{ListMeta: metav1.ListMeta{ResourceVersion: rv},
		Items: make([]metav1.PartialObjectMetadata, len(items))}
	for i := range items {
		metas.Items[i].ObjectMeta = items[i].ObjectMeta
	}
	return metas, nil
}

func (l *listWatch) Watch(options metav1.ListOptions) (watch.Interface, error) {
	return l.WatchWithContext(context.Background(), options)
}

func (l *listWatch) WatchWithContext(ctx context.Context, options metav1.ListOptions) (watch.Interface, error) {
	return l.w.Metadata.Resource(mesosv1alpha1.GroupVersion.WithResource("mesostasks")).Watch(ctx, options)
}

// reflectorStore hands the reflector's events to the Store.
type reflectorStore struct{ s *Store }

func (r reflectorStore) Add(obj any) error    { return r.take(obj, false) }
func (r reflectorStore) Update(obj any) error { return r.take(obj, false) }
func (r reflectorStore) Delete(obj any) error { return r.take(obj, true) }

func (r reflectorStore) take(obj any, deleted bool) error {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return fmt.Errorf("the MesosTask watch gave a %T", obj)
	}
	r.s.observe(&watchEvent{meta: m, deleted: deleted})
	return nil
}

// Replace follows the list, which put its objects in the Store already (listWatch).
func (r reflectorStore) Replace(items []any, _ string) error {
	for _, obj := range items {
		if err := r.take(obj, false); err != nil {
			return err
		}
	}
	r.s.markSynced()
	return nil
}

func (reflectorStore) Resync() error { return nil }
