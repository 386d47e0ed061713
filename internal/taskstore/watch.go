package taskstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
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
// whole MesosTasks, then a watch from where the list left off, again from the last
// version seen whenever a watch ends, and a List again when the API server no longer has
// that version. It runs on every replica of the manager, as a cache does, so that a new
// leader starts with it full. While its replica does not lead, it watches whole
// MesosTasks, as a cache would: the leader writes them, so a standby learns of every
// write from the watch. Once it leads, it watches their metadata alone (the package's
// doc): the leader's writes return what it keeps.
type Watcher struct {
	Store *Store
	// Reader reads whole MesosTasks from the API server (the manager's API reader).
	Reader client.Reader
	// Whole watches whole MesosTasks, while the replica does not lead.
	Whole client.WithWatch
	// Metadata watches the MesosTasks' metadata, once the replica leads.
	Metadata metadata.Interface
	// Elected is closed once the replica leads (the manager's Elected); nil: it leads.
	Elected <-chan struct{}
	Log     logr.Logger
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
	pause := retryPause{}
	rv := ""
	for ctx.Err() == nil {
		if rv == "" {
			listed, err := w.list(ctx)
			if err != nil {
				w.Log.Info("Could not list the MesosTasks; trying again", "error", err.Error())
				pause.wait(ctx)
				continue
			}
			rv = listed
			w.Store.markSynced()
		}
		last, err := w.watch(ctx, rv)
		switch {
		case apierrors.IsResourceExpired(err) || apierrors.IsGone(err):
			rv = "" // the API server no longer has that version: list again
		case err != nil:
			if ctx.Err() == nil {
				w.Log.V(1).Info("The MesosTask watch failed; watching again", "error", err.Error())
			}
			rv = last
			pause.wait(ctx)
		default:
			rv = last
			pause.reset()
		}
	}
	return nil
}

// leads says whether the replica leads.
func (w *Watcher) leads() bool {
	if w.Elected == nil {
		return true
	}
	select {
	case <-w.Elected:
		return true
	default:
		return false
	}
}

// list lists the whole MesosTasks into the Store, in pages, and returns the list's
// resource version.
func (w *Watcher) list(ctx context.Context) (string, error) {
	var items []mesosv1alpha1.MesosTask
	rv, cont := "", ""
	for {
		var page mesosv1alpha1.MesosTaskList
		if err := w.Reader.List(ctx, &page, client.Limit(listPage), client.Continue(cont)); err != nil {
			return "", fmt.Errorf("listing MesosTasks: %w", err)
		}
		if rv == "" {
			rv = page.ResourceVersion
		}
		items = append(items, page.Items...)
		if cont = page.Continue; cont == "" {
			break
		}
	}
	w.Store.replaceAll(items, rv)
	return rv, nil
}

// watch watches from version rv, whole MesosTasks or their metadata (see Watcher), until
// the watch ends, or, on a standby, until the replica leads; it returns the last version
// seen.
func (w *Watcher) watch(ctx context.Context, rv string) (string, error) {
	leading := w.leads()
	timeout := int64(watchTimeout.Seconds() * (1 + rand.Float64())) // as a reflector spreads its watches' ends
	opts := metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true, TimeoutSeconds: &timeout}
	var wi watch.Interface
	var err error
	if leading {
		wi, err = w.Metadata.Resource(mesosv1alpha1.GroupVersion.WithResource("mesostasks")).Watch(ctx, opts)
	} else {
		wi, err = w.Whole.Watch(ctx, &mesosv1alpha1.MesosTaskList{}, &client.ListOptions{Raw: &opts})
	}
	if err != nil {
		return rv, err
	}
	defer wi.Stop()
	elected := w.Elected
	if leading {
		elected = nil
	}
	for {
		select {
		case <-ctx.Done():
			return rv, nil
		case <-elected:
			return rv, nil // from now on the metadata
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return rv, nil
			}
			if ev.Type == watch.Error {
				return rv, apierrors.FromObject(ev.Object)
			}
			if m, err := meta.Accessor(ev.Object); err == nil && m.GetResourceVersion() != "" {
				rv = m.GetResourceVersion()
			}
			w.take(ev)
		}
	}
}

// take hands a watch event to the Store.
func (w *Watcher) take(ev watch.Event) {
	if ev.Type == watch.Bookmark {
		return
	}
	switch o := ev.Object.(type) {
	case *metav1.PartialObjectMetadata:
		w.Store.observe(&watchEvent{meta: o, deleted: ev.Type == watch.Deleted})
	case *mesosv1alpha1.MesosTask:
		if ev.Type == watch.Deleted {
			w.Store.remove(keyOf(o), o.UID)
		} else {
			w.Store.put(o)
		}
	}
}

// watchTimeout is the shortest a watch is asked to last; each lasts up to twice that.
const watchTimeout = 5 * time.Minute

// retryPause waits longer after each failure in a row, from 100 ms to 10 s.
type retryPause struct{ d time.Duration }

func (p *retryPause) wait(ctx context.Context) {
	p.d = min(max(2*p.d, 100*time.Millisecond), 10*time.Second)
	t := time.NewTimer(p.d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (p *retryPause) reset() { p.d = 0 }

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
