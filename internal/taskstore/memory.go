package taskstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// InMemory returns c, but with the MesosTasks held by the Store alone: they are read
// from it, as with Wrap, and written to it, never to the API server. A write is answered
// as kube-apiserver answers it: a create gets a UID, a creation time, generation 1 and a
// resource version (the Store's revision of the change, so the served objects' resource
// versions are the Store's own); an update or a delete with a resource version or UID
// that is not the held one's is a conflict; an update that changes nothing changes
// nothing; spec or status changed bump the generation (a MesosTask has no status
// subresource); a delete of one with finalizers marks it deleted, and the update that
// takes its last finalizer off removes it; no finalizer is added to one being deleted.
// Nothing is validated against the CRD's schema: the writer is the manager.
//
// The Store holds what this process wrote, nothing from before: docs/mesostask-served.md
// says where each answer comes from then. It is synced once the replica leads (Leading);
// until then its readers wait, and the served MesosTasks answer 503.
func InMemory(c client.Client, s *Store) client.Client {
	return &memoryClient{storeClient: storeClient{Client: c, s: s}}
}

// Leading marks a Store written in memory synced once its replica leads: a standby's holds
// nothing, and must not answer as if the cluster had no MesosTasks. With a Takeover, the
// Store first holds the MesosTasks of the MesosTask CRD, where an earlier install left it.
type Leading struct {
	Store    *Store
	Takeover *Takeover
	// Copy is what this replica kept of the leader before it (taskapi.Mirror), if it
	// kept anything.
	Copy Copy
	Log  logr.Logger
}

// Copy holds a copy of another replica's MesosTasks.
type Copy interface {
	// Kept is the copy: none if no whole one is kept.
	Kept(ctx context.Context) []mesosv1alpha1.MesosTask
}

// NeedLeaderElection: the Store is the leader's.
func (*Leading) NeedLeaderElection() bool { return true }

// Start marks the Store synced, once it holds the CRD's MesosTasks (Takeover), whose CRD
// then goes, and the copy kept of the leader before it.
func (l *Leading) Start(ctx context.Context) error {
	var items []mesosv1alpha1.MesosTask
	tookOver := false
	if l.Takeover != nil {
		items, tookOver = l.Takeover.load(ctx, l.Store)
	}
	if l.Copy != nil {
		if kept := l.Copy.Kept(ctx); len(kept) > 0 {
			n := l.Store.Import(kept)
			l.Log.Info("Holding the MesosTasks of the copy kept of the leader before", "mesostasks", len(kept), "held", n)
		}
	}
	l.Store.markSynced()
	if tookOver {
		l.Takeover.release(ctx, items)
	}
	<-ctx.Done()
	return nil
}

// Reader returns r, but with the MesosTasks read from the Store: for the reads meant to
// go past a cache, where the Store is all there is.
func Reader(r client.Reader, s *Store) client.Reader {
	return storeReader{Reader: r, s: s}
}

type storeReader struct {
	client.Reader
	s *Store
}

// Get reads a MesosTask from the Store, anything else from r.
func (r storeReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if mt, ok := obj.(*mesosv1alpha1.MesosTask); ok {
		return r.s.get(ctx, key, mt, opts)
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

// List lists MesosTasks from the Store, anything else from r.
func (r storeReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if l, ok := list.(*mesosv1alpha1.MesosTaskList); ok {
		return r.s.list(ctx, l, opts)
	}
	return r.Reader.List(ctx, list, opts...)
}

type memoryClient struct {
	storeClient
}

var errTerminating = errors.New("no new finalizers can be added if the object is being deleted")

// Create holds a new MesosTask.
func (c *memoryClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	mt, ok := obj.(*mesosv1alpha1.MesosTask)
	if !ok {
		return c.Client.Create(ctx, obj, opts...)
	}
	if mt.Name == "" || mt.Namespace == "" {
		return apierrors.NewBadRequest("a MesosTask needs a name and a namespace")
	}
	if mt.ResourceVersion != "" {
		return apierrors.NewBadRequest("resourceVersion should not be set on objects to be created")
	}
	return c.s.change(keyOf(mt), mt, func(held *mesosv1alpha1.MesosTask, rv string, now metav1.Time) (*mesosv1alpha1.MesosTask, bool, error) {
		if held != nil {
			return nil, false, apierrors.NewAlreadyExists(resource, mt.Name)
		}
		next := mt.DeepCopy()
		next.UID = uuid.NewUUID()
		next.CreationTimestamp = now
		next.Generation = 1
		next.ResourceVersion = rv
		next.DeletionTimestamp, next.DeletionGracePeriodSeconds = nil, nil
		next.ManagedFields = nil
		return next, false, nil
	})
}

// Update replaces a held MesosTask.
func (c *memoryClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	mt, ok := obj.(*mesosv1alpha1.MesosTask)
	if !ok {
		return c.Client.Update(ctx, obj, opts...)
	}
	return c.s.change(keyOf(mt), mt, func(held *mesosv1alpha1.MesosTask, rv string, _ metav1.Time) (*mesosv1alpha1.MesosTask, bool, error) {
		return updated(held, mt, rv)
	})
}

// Patch applies a JSON merge patch or a JSON patch to a held MesosTask, as an update of
// the result (one with a resource version, as client.MergeFromWithOptimisticLock makes,
// conflicts with a newer one held).
func (c *memoryClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	mt, ok := obj.(*mesosv1alpha1.MesosTask)
	if !ok {
		return c.Client.Patch(ctx, obj, patch, opts...)
	}
	data, err := patch.Data(obj)
	if err != nil {
		return err
	}
	return c.s.change(keyOf(mt), mt, func(held *mesosv1alpha1.MesosTask, rv string, _ metav1.Time) (*mesosv1alpha1.MesosTask, bool, error) {
		if held == nil {
			return nil, false, apierrors.NewNotFound(resource, mt.Name)
		}
		whole, err := json.Marshal(held)
		if err != nil {
			return nil, false, err
		}
		switch patch.Type() {
		case types.MergePatchType:
			whole, err = jsonpatch.MergePatch(whole, data)
		case types.JSONPatchType:
			var p jsonpatch.Patch
			if p, err = jsonpatch.DecodePatch(data); err == nil {
				whole, err = p.Apply(whole)
			}
		default:
			return nil, false, apierrors.NewGenericServerResponse(415, "patch", resource, mt.Name,
				fmt.Sprintf("the patch type %s is not supported for MesosTasks", patch.Type()), 0, false)
		}
		if err != nil {
			return nil, false, apierrors.NewBadRequest(err.Error())
		}
		patched := &mesosv1alpha1.MesosTask{}
		if err := json.Unmarshal(whole, patched); err != nil {
			return nil, false, apierrors.NewBadRequest(err.Error())
		}
		return updated(held, patched, rv)
	})
}

// updated is what an update of held to mt holds: mt with held's UID, creation and
// deletion, at resource version rv (nil, false: no change).
func updated(held, mt *mesosv1alpha1.MesosTask, rv string) (*mesosv1alpha1.MesosTask, bool, error) {
	switch {
	case held == nil:
		return nil, false, apierrors.NewNotFound(resource, mt.Name)
	case mt.ResourceVersion != "" && mt.ResourceVersion != held.ResourceVersion:
		return nil, false, apierrors.NewConflict(resource, mt.Name,
			errors.New("the object has been modified; please apply your changes to the latest version and try again"))
	case mt.UID != "" && mt.UID != held.UID:
		return nil, false, apierrors.NewConflict(resource, mt.Name,
			fmt.Errorf("precondition failed: UID in precondition: %s, UID in object meta: %s", mt.UID, held.UID))
	case !held.DeletionTimestamp.IsZero() && slices.ContainsFunc(mt.Finalizers, func(f string) bool { return !slices.Contains(held.Finalizers, f) }):
		return nil, false, apierrors.NewForbidden(resource, mt.Name, errTerminating)
	}
	next := mt.DeepCopy()
	next.UID = held.UID
	next.CreationTimestamp = held.CreationTimestamp
	next.DeletionTimestamp, next.DeletionGracePeriodSeconds = held.DeletionTimestamp, held.DeletionGracePeriodSeconds
	next.Generation = held.Generation
	next.ResourceVersion = held.ResourceVersion
	next.ManagedFields = nil
	next.TypeMeta = held.TypeMeta
	if equality.Semantic.DeepEqual(next, held) {
		return nil, false, nil
	}
	if !equality.Semantic.DeepEqual(next.Spec, held.Spec) || !equality.Semantic.DeepEqual(next.Status, held.Status) {
		next.Generation++
	}
	next.ResourceVersion = rv
	if !next.DeletionTimestamp.IsZero() && len(next.Finalizers) == 0 {
		return nil, true, nil
	}
	return next, false, nil
}

// Delete removes a held MesosTask, or, while it has finalizers, marks it deleted.
func (c *memoryClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	mt, ok := obj.(*mesosv1alpha1.MesosTask)
	if !ok {
		return c.Client.Delete(ctx, obj, opts...)
	}
	o := &client.DeleteOptions{}
	o.ApplyOptions(opts)
	var out mesosv1alpha1.MesosTask // a delete does not change the caller's object
	return c.s.change(keyOf(mt), &out, func(held *mesosv1alpha1.MesosTask, rv string, now metav1.Time) (*mesosv1alpha1.MesosTask, bool, error) {
		switch {
		case held == nil:
			return nil, false, apierrors.NewNotFound(resource, mt.Name)
		case o.Preconditions != nil && o.Preconditions.UID != nil && *o.Preconditions.UID != held.UID,
			o.Preconditions != nil && o.Preconditions.ResourceVersion != nil && *o.Preconditions.ResourceVersion != held.ResourceVersion:
			return nil, false, apierrors.NewConflict(resource, mt.Name, errors.New("precondition failed"))
		case len(held.Finalizers) == 0:
			return nil, true, nil
		case !held.DeletionTimestamp.IsZero():
			return nil, false, nil
		}
		next := held.DeepCopy()
		next.DeletionTimestamp = &now
		next.DeletionGracePeriodSeconds = new(int64)
		next.Generation++
		next.ResourceVersion = rv
		return next, false, nil
	})
}

// DeleteAllOf is not done on MesosTasks held in memory.
func (c *memoryClient) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	if _, ok := obj.(*mesosv1alpha1.MesosTask); ok {
		return apierrors.NewMethodNotSupported(resource, "deletecollection")
	}
	return c.Client.DeleteAllOf(ctx, obj, opts...)
}

// change makes a write in memory. fn, under the Store's lock, is given the object of
// key held (nil: none), the resource version the change gets and the time, and returns
// the object to hold instead, or true to remove the one held, or neither for no change,
// or an error. out gets what the write answers: the object then held.
func (s *Store) change(key types.NamespacedName, out *mesosv1alpha1.MesosTask,
	fn func(held *mesosv1alpha1.MesosTask, rv string, now metav1.Time) (*mesosv1alpha1.MesosTask, bool, error)) error {
	s.mu.Lock()
	held := s.byKey[key]
	next, remove, err := fn(held, strconv.FormatUint(s.rev+1, 10), metav1.NewTime(time.Now().Truncate(time.Second)))
	switch {
	case err != nil:
		s.mu.Unlock()
		return err
	case remove:
		s.removeLocked(key, held)
		return nil
	case next == nil:
		s.mu.Unlock()
		held.DeepCopyInto(out)
		return nil
	}
	next.TypeMeta = metav1.TypeMeta{APIVersion: mesosv1alpha1.GroupVersion.String(), Kind: "MesosTask"}
	s.trim(next)
	next.DeepCopyInto(out)
	s.keepLocked(key, held, next)
	return nil
}
