package testapi

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SharedReads is a client whose reads asked for without a copy
// (client.UnsafeDisableDeepCopy) are served as the manager's cache serves them: the same
// object for as long as it is unchanged, copied shallowly into the caller's (or into a
// list's items), its maps, lists and pointers shared. A reader that writes into what it
// was given without a copy first would change the cache's object for every other
// reader; Changed finds what was.
type SharedReads struct {
	client.WithWatch
	mu      sync.Mutex
	objects map[sharedKey]*sharedObject
	// changed are the objects found changed when a newer version replaced them.
	changed map[sharedKey]bool
}

type sharedKey struct {
	kind            reflect.Type
	namespace, name string
}

func (k sharedKey) String() string {
	return fmt.Sprintf("%s %s/%s", k.kind.Name(), k.namespace, k.name)
}

// sharedObject is what readers share and a copy of it as it was first read.
type sharedObject struct {
	obj, snapshot client.Object
}

// ShareReads wraps c as SharedReads, and fails t at its end if a reader changed an
// object it read without a copy.
func ShareReads(t testing.TB, c client.WithWatch) *SharedReads {
	t.Helper()
	s := NewSharedReads(c)
	t.Cleanup(func() {
		for _, k := range s.Changed() {
			t.Errorf("the %s, read without a copy, was changed by its reader", k)
		}
	})
	return s
}

// NewSharedReads wraps c as SharedReads, unchecked.
func NewSharedReads(c client.WithWatch) *SharedReads {
	return &SharedReads{WithWatch: c, objects: map[sharedKey]*sharedObject{}, changed: map[sharedKey]bool{}}
}

func (s *SharedReads) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if !withoutCopy(opts) || isUnstructured(obj) {
		return s.WithWatch.Get(ctx, key, obj, opts...)
	}
	fresh := reflect.New(reflect.TypeOf(obj).Elem()).Interface().(client.Object)
	if err := s.WithWatch.Get(ctx, key, fresh); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(s.shareLocked(fresh)).Elem())
	return nil
}

func (s *SharedReads) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if !withoutCopy(opts) || isUnstructured(list) {
		return s.WithWatch.List(ctx, list, opts...)
	}
	fresh := reflect.New(reflect.TypeOf(list).Elem()).Interface().(client.ObjectList)
	if err := s.WithWatch.List(ctx, fresh, opts...); err != nil {
		return err
	}
	items, err := meta.ExtractList(fresh)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, item := range items {
		o, ok := item.(client.Object)
		if !ok {
			return fmt.Errorf("a list item of %T is not an object", list)
		}
		items[i] = s.shareLocked(o)
	}
	reflect.ValueOf(list).Elem().Set(reflect.ValueOf(fresh).Elem())
	return meta.SetList(list, items)
}

// shareLocked is the object readers share for fresh, read just now: the one shared
// already while its version is fresh's, else fresh.
func (s *SharedReads) shareLocked(fresh client.Object) client.Object {
	k := sharedKey{reflect.TypeOf(fresh).Elem(), fresh.GetNamespace(), fresh.GetName()}
	if sh := s.objects[k]; sh != nil {
		if sh.obj.GetResourceVersion() == fresh.GetResourceVersion() && sh.obj.GetUID() == fresh.GetUID() {
			return sh.obj
		}
		s.checkLocked(k, sh)
	}
	s.objects[k] = &sharedObject{obj: fresh, snapshot: fresh.DeepCopyObject().(client.Object)}
	return fresh
}

func (s *SharedReads) checkLocked(k sharedKey, sh *sharedObject) {
	if !reflect.DeepEqual(sh.obj, sh.snapshot) {
		s.changed[k] = true
	}
}

// Changed names the objects read without a copy that a reader changed since.
func (s *SharedReads) Changed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, sh := range s.objects {
		s.checkLocked(k, sh)
	}
	out := make([]string, 0, len(s.changed))
	for k := range s.changed {
		out = append(out, k.String())
	}
	sort.Strings(out)
	return out
}

// withoutCopy says whether options ask for a read without a copy.
func withoutCopy[O any](opts []O) bool {
	for _, o := range opts {
		if any(o) == any(client.UnsafeDisableDeepCopy) {
			return true
		}
	}
	return false
}

func isUnstructured(o runtime.Object) bool {
	switch o.(type) {
	case *unstructured.Unstructured, *unstructured.UnstructuredList:
		return true
	}
	return false
}
