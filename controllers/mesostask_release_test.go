package controllers

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// A deleted MesosTask that lets go of its task (its agent unreachable and its pod gone,
// or its cluster gone) tells so once, when its finalizer is removed: a removal that
// loses to a newer version of the MesosTask (a status write of the scheduler, the
// cache behind it) is tried again, shortly, and is not told again.
func TestATaskReleasedIsToldOnceThoughItsFinalizerRemovalConflicts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		phase     mesosv1alpha1.TaskPhase
		podUID    string // of the pod named web-0; none when empty
		noCluster bool
		events    []string
	}{
		{name: "unreachable, its pod gone", phase: mesosv1alpha1.TaskPhaseUnreachable, events: []string{"Warning Released"}},
		{name: "unreachable, its name taken by another pod", phase: mesosv1alpha1.TaskPhaseUnreachable, podUID: "new",
			events: []string{"Warning Released", "Warning EarlierTaskUnreachable"}},
		{name: "running, its cluster gone", phase: mesosv1alpha1.TaskPhaseRunning, noCluster: true, events: []string{"Normal Released"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mt := earlierTask(tc.phase)
			now := metav1.Now()
			mt.DeletionTimestamp = &now
			objs := []client.Object{mt}
			if !tc.noCluster {
				objs = append(objs, readyCluster())
			}
			if tc.podUID != "" {
				objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0", UID: types.UID(tc.podUID)},
					Spec: corev1.PodSpec{SchedulerName: "mesos", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}})
			}
			conflicts := 1
			c := podAPI(t, interceptor.Funcs{
				Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
					if conflicts > 0 {
						conflicts--
						return apierrors.NewConflict(schema.GroupResource{Group: "mesos.k8sm.io", Resource: "mesostasks"}, o.GetName(), nil)
					}
					return c.Update(ctx, o, opts...)
				},
			}, objs...)
			rec := events.NewFakeRecorder(10)
			r := &MesosTaskReconciler{Client: c, Registry: scheduler.NewRegistry(), Recorder: rec}
			req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(mt)}

			res, err := r.Reconcile(context.Background(), req)
			if err != nil || res.RequeueAfter == 0 {
				t.Errorf("Reconcile after a conflict = %+v, %v; want a retry shortly, no error", res, err)
			}
			if _, err := r.Reconcile(context.Background(), req); err != nil {
				t.Fatal(err)
			}

			if err := c.Get(context.Background(), req.NamespacedName, &mesosv1alpha1.MesosTask{}); !apierrors.IsNotFound(err) {
				t.Fatalf("MesosTask still there (%v): want it released", err)
			}
			var got []string
			for len(rec.Events) > 0 {
				f := strings.Fields(<-rec.Events)
				got = append(got, f[0]+" "+f[1])
			}
			if strings.Join(got, ",") != strings.Join(tc.events, ",") {
				t.Errorf("events %v, want %v", got, tc.events)
			}
		})
	}
}
