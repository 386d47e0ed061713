package scheduler

import (
	"context"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// An update whose MesosTask goes between its read from the cache and the write (its pod
// was deleted, the MesosTask's finalizer let go) is answered as one of a task nothing
// owns: the task is killed, not left running until the next implicit reconciliation.
func TestAnUpdateWhoseMesosTaskWentBeforeTheWriteKillsTheTask(t *testing.T) {
	_, mt := podWithTask("p", "100m")
	mt.Status.Phase = mesosv1alpha1.TaskPhasePending
	c := fakeAPIWith(t, interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
			if _, ok := o.(*mesosv1alpha1.MesosTask); ok {
				return apierrors.NewNotFound(schema.GroupResource{Group: mesosv1alpha1.GroupVersion.Group, Resource: "mesostasks"}, o.GetName())
			}
			return c.Update(ctx, o, opts...)
		},
	}, mt) // the pod is gone already
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	acked := false
	w := &worker{s: s, grace: -1, starting: map[string]startingUpdate{}}
	w.handle(context.Background(), statusUpdate{status: mesos.TaskStatus{TaskID: mesos.TaskID{Value: mt.Spec.TaskID},
		AgentID: &mesos.AgentID{Value: "a-1"}, State: mesos.TASK_RUNNING.Enum(), UUID: []byte("0123456789abcdef")},
		ack: func(context.Context) error { acked = true; return nil }})
	if len(d.kills) != 1 || d.kills[0] != mt.Spec.TaskID {
		t.Errorf("kills = %v, want the task killed", d.kills)
	}
	if !acked {
		t.Errorf("the update was not acknowledged, though its answer (the kill) was sent")
	}
}
