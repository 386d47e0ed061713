package scheduler

import (
	"context"
	"slices"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/testapi"
)

// A pod deleted while its launch is being prepared (bound, its ACCEPT waiting for the
// batch's other bindings) has its task killed by the Pod reconciler. That KILL can reach
// Mesos before the ACCEPT, and Mesos answers a KILL of a task it does not know as a
// reconciliation: TASK_GONE. Taken for "Mesos never ran the launch", it removed the pod
// (Failed), and the ACCEPT then started the task with no pod: a StatefulSet's new web-0
// ran beside the old one until the unowned task was killed. The answer is not taken for
// the task's end while the launch may be in flight: the pod stays, and Mesos is asked
// again later.
func TestAKillAnswerThatOvertakesTheLaunchDoesNotRemoveThePod(t *testing.T) {
	pod, queued := queuedPod(t, "web-0")
	var log testapi.PodWrites
	var s *Scheduler
	funcs := log.Funcs()
	funcs.SubResourceCreate = func(ctx context.Context, c client.Client, sub string, o, req client.Object, opts ...client.SubResourceCreateOption) error {
		if err := bindPod(ctx, c, sub, o, req, opts...); err != nil {
			return err
		}
		// Deleted once bound (it waits for its KILL's answer, as a pod with a grace
		// period does), and Mesos's answer to that KILL comes before the ACCEPT is sent.
		p := pod.DeepCopy()
		if err := c.Get(ctx, client.ObjectKeyFromObject(p), p); err != nil {
			return err
		}
		p.Finalizers = []string{"example.com/hold"}
		if err := c.Update(ctx, p); err != nil {
			return err
		}
		if err := c.Delete(ctx, p); err != nil {
			return err
		}
		newWorker(s, -1).handle(ctx, masterUpdate(queued.Spec.TaskID, mesos.TASK_GONE, mesos.REASON_RECONCILIATION))
		return nil
	}
	c := fakeAPIWith(t, funcs, pod)
	d := newFakeDriver()
	s, _ = newTestScheduler(c, d)
	ctx := context.Background()
	s.Enqueue(ctx, queued, pod)

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})

	launched := slices.Contains(d.launches["o-agent-1"], queued.Spec.TaskID)
	if w := log.List(); len(w) > 0 && launched {
		t.Fatalf("the pod was written %v while its task was launched", w)
	}
	if !launched {
		t.Fatalf("the task was not launched (%v), and nothing else was asserted", d.launches)
	}
	if got := pod.DeepCopy(); c.Get(ctx, client.ObjectKeyFromObject(pod), got) != nil || got.DeletionTimestamp.IsZero() {
		t.Errorf("the deleted pod went, or lost its deletion")
	}
}
