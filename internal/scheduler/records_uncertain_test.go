package scheduler

import (
	"context"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// A MesosTask create that failed may have been made, its answer lost (a timeout), and the
// cache not show it yet. A later update of the task, under a backlog, is then not taken
// for one whose MesosTask is unwritten and deferred: acknowledged with the pod's status
// alone, it would leave a MesosTask the API server has saying less than Mesos was told
// is known. It is written to the MesosTask before it is acknowledged.
func TestAnUpdateAfterAFailedCreateIsNotDeferred(t *testing.T) {
	var mu sync.Mutex
	creates, failed := 0, false
	funcs := interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
		if _, ok := o.(*mesosv1alpha1.MesosTask); ok {
			mu.Lock()
			creates++
			first := !failed
			failed = true
			mu.Unlock()
			if first {
				return apierrors.NewTimeoutError("injected", 1)
			}
		}
		return c.Create(ctx, o, opts...)
	}}
	p1, q1 := queuedPod(t, "p1")
	p1.GenerateName = "p"
	c := fakeAPIWith(t, funcs, p1)
	s, _ := newTestScheduler(c, newFakeDriver())
	ctx := context.Background()
	s.Enqueue(ctx, q1, p1)
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
	id := q1.Spec.TaskID
	if !s.LaunchUnwritten(id) {
		t.Fatalf("p1 not launched")
	}
	w := &worker{s: s, grace: -1, starting: map[string]startingUpdate{}, retrying: map[string]retryWrite{}, idle: time.Second}

	var ack bool
	w.handle(ctx, acked(id, mesos.TASK_RUNNING, "0123456789abcde1", &ack))
	if ack {
		t.Fatalf("RUNNING acknowledged though its MesosTask's create failed")
	}
	// Mesos sends it again, behind a backlog.
	handleBusy(ctx, w, acked(id, mesos.TASK_RUNNING, "0123456789abcde1", &ack))
	mt := &mesosv1alpha1.MesosTask{}
	err := c.Get(ctx, client.ObjectKeyFromObject(p1), mt)
	mu.Lock()
	n := creates
	mu.Unlock()
	if !ack || err != nil || mt.Status.Phase != mesosv1alpha1.TaskPhaseRunning {
		t.Fatalf("after RUNNING again: acknowledged %v, MesosTask %q (%v) after %d creates; want it written Running, then acknowledged",
			ack, mt.Status.Phase, err, n)
	}
}
