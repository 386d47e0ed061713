package controllers

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/k8sm/k8sm/internal/podtask"
)

// A pod with scheduling gates (a quota system's, until it admits the pod) is not queued,
// as kube-scheduler keeps it out of its queue: it would take offers from the pods that
// may run, and its binding would be refused. Its PodScheduled=False/SchedulingGated,
// the API server's, stays as it is; once its last gate goes (a pod update, which brings
// it here again), it is queued.
func TestAGatedPodIsQueuedOnceItsGatesGo(t *testing.T) {
	mc := readyCluster()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1"},
		Spec: corev1.PodSpec{SchedulerName: "mesos", Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"}}},
			SchedulingGates: []corev1.PodSchedulingGate{{Name: "example.com/quota"}, {Name: "example.com/other"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled,
			Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated, Message: "Scheduling is blocked due to non-empty scheduling gates"}}}}
	writes := 0
	c := podAPI(t, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			writes++
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		},
	}, pod, mc, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}})
	reg, s := withScheduler(c, mc)
	rec := events.NewFakeRecorder(10)
	r := &PodReconciler{Client: c, Registry: reg, Recorder: rec}
	ctx := context.Background()
	id := podtask.TaskIDFor(pod)
	reconcile := func() {
		t.Helper()
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pod)}); err != nil {
			t.Fatal(err)
		}
	}
	ungate := func(gates ...corev1.PodSchedulingGate) {
		t.Helper()
		p := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(pod), p); err != nil {
			t.Fatal(err)
		}
		p.Spec.SchedulingGates = gates
		if err := c.Update(ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	reconcile()
	ungate(corev1.PodSchedulingGate{Name: "example.com/other"})
	reconcile()
	if s.Pending(id) {
		t.Fatal("a gated pod is queued")
	}
	got := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(pod), got); err != nil {
		t.Fatal(err)
	}
	if cond := podCondition(got, corev1.PodScheduled); cond == nil || cond.Reason != corev1.PodReasonSchedulingGated || writes != 0 || len(rec.Events) != 0 {
		t.Fatalf("a gated pod was told %+v (%d status writes, %d events), want its SchedulingGated condition alone", cond, writes, len(rec.Events))
	}

	ungate()
	reconcile()
	if !s.Pending(id) {
		t.Fatal("a pod whose gates went is not queued")
	}
}
