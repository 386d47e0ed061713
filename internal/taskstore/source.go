package taskstore

import (
	"context"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// Source is a controller's source of the Store's changes, in place of a watch of
// MesosTasks: each is handed to h as an informer's event would be (added: Create,
// changed: Update, removed: Delete), when every predicate passes it. A controller that
// starts gets every MesosTask held as added, as from an informer's first list.
func (s *Store) Source(h handler.EventHandler, preds ...predicate.Predicate) source.Source {
	return source.Func(func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		s.Subscribe(func(old, new *mesosv1alpha1.MesosTask) {
			switch {
			case old == nil:
				e := event.CreateEvent{Object: new}
				if passes(preds, func(p predicate.Predicate) bool { return p.Create(e) }) {
					h.Create(ctx, e, q)
				}
			case new == nil:
				e := event.DeleteEvent{Object: old}
				if passes(preds, func(p predicate.Predicate) bool { return p.Delete(e) }) {
					h.Delete(ctx, e, q)
				}
			default:
				e := event.UpdateEvent{ObjectOld: client.Object(old), ObjectNew: client.Object(new)}
				if passes(preds, func(p predicate.Predicate) bool { return p.Update(e) }) {
					h.Update(ctx, e, q)
				}
			}
		})
		return nil
	})
}

func passes(preds []predicate.Predicate, ok func(predicate.Predicate) bool) bool {
	for _, p := range preds {
		if !ok(p) {
			return false
		}
	}
	return true
}
