// Package testapi holds fake API server recorders that tests of several packages share.
package testapi

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// PodWrites records the pod status writes ("status <phase>") and deletes ("delete") a
// fake API server takes, in order.
type PodWrites struct {
	mu  sync.Mutex
	log []string
}

// Funcs are the interceptors that record the writes, for a fake client's builder.
func (w *PodWrites) Funcs() interceptor.Funcs {
	return interceptor.Funcs{
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, o client.Object, opts ...client.SubResourceUpdateOption) error {
			if p, ok := o.(*corev1.Pod); ok && sub == "status" {
				w.Add("status " + string(p.Status.Phase))
			}
			return c.SubResource(sub).Update(ctx, o, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.DeleteOption) error {
			if _, ok := o.(*corev1.Pod); ok {
				w.Add("delete")
			}
			return c.Delete(ctx, o, opts...)
		},
	}
}

// Add records another event beside the writes (an acknowledgement, say), in order.
func (w *PodWrites) Add(s string) {
	w.mu.Lock()
	w.log = append(w.log, s)
	w.mu.Unlock()
}

// List is the writes recorded so far.
func (w *PodWrites) List() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.log...)
}

// Reset forgets the writes recorded so far.
func (w *PodWrites) Reset() {
	w.mu.Lock()
	w.log = nil
	w.mu.Unlock()
}
