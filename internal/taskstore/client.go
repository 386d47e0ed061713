package taskstore

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/indexer"
)

// Wrap returns c, but for MesosTasks: reads come from the Store (waiting for its first
// list), and writes go to c and keep what they return in the Store.
func Wrap(c client.Client, s *Store) client.Client {
	return &storeClient{Client: c, s: s}
}

type storeClient struct {
	client.Client
	s *Store
}

var resource = mesosv1alpha1.GroupVersion.WithResource("mesostasks").GroupResource()

func keyOf(mt *mesosv1alpha1.MesosTask) types.NamespacedName {
	return types.NamespacedName{Namespace: mt.Namespace, Name: mt.Name}
}

// Get reads a MesosTask from the Store: a copy, or, with client.UnsafeDisableDeepCopy,
// the Store's own object's fields, to read only.
func (c *storeClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return storeReader{Reader: c.Client, s: c.s}.Get(ctx, key, obj, opts...)
}

// List lists MesosTasks from the Store, by namespace, labels and the fields the
// manager's cache indexed them by (indexer.TaskID, indexer.ClusterRef).
func (c *storeClient) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return storeReader{Reader: c.Client, s: c.s}.List(ctx, list, opts...)
}

func (s *Store) get(ctx context.Context, key client.ObjectKey, mt *mesosv1alpha1.MesosTask, opts []client.GetOption) error {
	if err := s.WaitForSync(ctx); err != nil {
		return err
	}
	held := s.Get(key)
	if held == nil {
		return apierrors.NewNotFound(resource, key.Name)
	}
	o := &client.GetOptions{}
	o.ApplyOptions(opts)
	if o.UnsafeDisableDeepCopy != nil && *o.UnsafeDisableDeepCopy {
		*mt = *held
		return nil
	}
	held.DeepCopyInto(mt)
	return nil
}

func (s *Store) list(ctx context.Context, l *mesosv1alpha1.MesosTaskList, opts []client.ListOption) error {
	if err := s.WaitForSync(ctx); err != nil {
		return err
	}
	o := &client.ListOptions{}
	o.ApplyOptions(opts)
	if o.FieldSelector != nil {
		for _, r := range o.FieldSelector.Requirements() {
			if r.Field != indexer.TaskID && r.Field != indexer.ClusterRef {
				return fmt.Errorf("MesosTasks are not listed by field %q", r.Field)
			}
		}
	}
	found := s.Select(func(mt *mesosv1alpha1.MesosTask) bool {
		return (o.Namespace == "" || mt.Namespace == o.Namespace) &&
			(o.LabelSelector == nil || o.LabelSelector.Matches(labels.Set(mt.Labels))) &&
			(o.FieldSelector == nil || o.FieldSelector.Matches(Fields(mt)))
	})
	shallow := o.UnsafeDisableDeepCopy != nil && *o.UnsafeDisableDeepCopy
	l.Items = make([]mesosv1alpha1.MesosTask, len(found))
	for i, mt := range found {
		if shallow {
			l.Items[i] = *mt
		} else {
			mt.DeepCopyInto(&l.Items[i])
		}
	}
	return nil
}

// Fields are the fields of a MesosTask a field selector may name: its name and
// namespace, as every object's, and the two the manager's cache indexed it by
// (indexer.TaskID, indexer.ClusterRef).
func Fields(mt *mesosv1alpha1.MesosTask) fields.Set {
	return fields.Set{
		"metadata.name":      mt.Name,
		"metadata.namespace": mt.Namespace,
		indexer.ClusterRef:   mt.Spec.ClusterRef,
		indexer.TaskID:       mt.Spec.TaskID,
	}
}

// Create creates a MesosTask and keeps it.
func (c *storeClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if mt, ok := obj.(*mesosv1alpha1.MesosTask); ok {
		return c.write(mt, func() error { return c.Client.Create(ctx, obj, opts...) })
	}
	return c.Client.Create(ctx, obj, opts...)
}

// Update updates a MesosTask and keeps what the API server returned.
func (c *storeClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	if mt, ok := obj.(*mesosv1alpha1.MesosTask); ok {
		return c.write(mt, func() error { return c.Client.Update(ctx, obj, opts...) })
	}
	return c.Client.Update(ctx, obj, opts...)
}

// Patch patches a MesosTask and keeps what the API server returned.
func (c *storeClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	if mt, ok := obj.(*mesosv1alpha1.MesosTask); ok {
		return c.write(mt, func() error { return c.Client.Patch(ctx, obj, patch, opts...) })
	}
	return c.Client.Patch(ctx, obj, patch, opts...)
}

// write makes a write of mt (do), noted as under way, and keeps what it returned: the
// object, or, when the write found it gone or changed by another, what the API server
// holds (read again).
func (c *storeClient) write(mt *mesosv1alpha1.MesosTask, do func() error) error {
	key := keyOf(mt)
	c.s.begin(key)
	defer c.s.settle(key)
	err := do()
	switch {
	case err == nil:
		c.s.put(mt)
	case apierrors.IsNotFound(err), apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
		c.s.refetchNow(key)
	}
	return err
}

// Delete deletes a MesosTask. Its deletion begun (a finalizer keeps it) or done comes
// with the watch, as for a delete of another's.
func (c *storeClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	mt, ok := obj.(*mesosv1alpha1.MesosTask)
	if !ok {
		return c.Client.Delete(ctx, obj, opts...)
	}
	key := keyOf(mt)
	c.s.begin(key)
	defer c.s.settle(key)
	err := c.Client.Delete(ctx, obj, opts...)
	if apierrors.IsNotFound(err) {
		c.s.remove(key, "")
	}
	return err
}
