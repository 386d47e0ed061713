package scheduler

import (
	"context"
	"fmt"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// A pod this process bound, or whose bind it tried, and whose launch it never sent, is
// launched on its Node's agent: the bind made with its answer lost (the pod bound, the
// scheduler told it failed), or the round's subscription ended after the bind. It has no
// MesosTask, which to any other process says its task may run (the binding is the
// launch record); this one knows it does not. Before, the pod left the queue at its
// next offer and waited, bound, Pending and silent, for the next reconciliation of the
// tasks (15 minutes by default) to find it never ran.
func TestAPodBoundWithoutItsLaunchSentIsLaunchedOnItsAgent(t *testing.T) {
	for _, tc := range []struct {
		name string
		// during is what goes wrong while the pod is bound.
		during func(d *fakeDriver) error
	}{
		{name: "the bind made, its answer lost", during: func(*fakeDriver) error { return errBroken }},
		{name: "the subscription ended during the bind", during: func(d *fakeDriver) error { d.endSubscription(true); return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod, mt := podWithTask("p", "500m")
			d := newFakeDriver()
			once := true
			c := fakeAPIWith(t, interceptor.Funcs{SubResourceCreate: func(ctx context.Context, c client.Client, sub string, o, req client.Object, opts ...client.SubResourceCreateOption) error {
				if err := bindPod(ctx, c, sub, o, req, opts...); err != nil || !once {
					return err
				}
				once = false
				return tc.during(d)
			}}, pod) // queued, its MesosTask not written
			s, _ := newTestScheduler(c, d)
			ctx := context.Background()
			s.Enqueue(ctx, mt, pod)
			s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
			if len(d.launches) != 0 {
				t.Fatalf("launched %v, want nothing", d.launches)
			}
			bound := &corev1.Pod{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(pod), bound); err != nil || bound.Spec.NodeName == "" {
				t.Fatalf("the pod is not bound (%v): the test's premise", err)
			}

			// Another agent's offer does not take it: it is bound to agent-1's Node.
			other := agentOffer("agent-2", 2)
			other.ID.Value = "o2"
			s.handleNew(ctx, []mesos.Offer{other})
			if len(d.launches) != 0 || !s.Pending(mt.Spec.TaskID) {
				t.Fatalf("after agent-2's offer: launched %v, pending %v; want none, pending", d.launches, s.Pending(mt.Spec.TaskID))
			}
			again := agentOffer("agent-1", 2)
			again.ID.Value = "o3"
			s.handleNew(ctx, []mesos.Offer{again})
			if got := d.launches["o3"]; len(got) != 1 || got[0] != mt.Spec.TaskID {
				t.Fatalf("agent-1's next offer launched %v, want %s (pending %v)", d.launches, mt.Spec.TaskID, s.Pending(mt.Spec.TaskID))
			}
		})
	}
}

// A bind refused because the pod is bound already (409: another process bound it, a
// leader before this one, which may have launched its task) is no bind of this process:
// the pod, seen bound later to the Node this process tried, is not launched as one it
// bound without a launch. Its task may run: the reconciliation of the bound pods without
// a MesosTask asks Mesos.
func TestAPodOthersBoundIsNotLaunchedAsOneThisProcessBound(t *testing.T) {
	pod, mt := podWithTask("p", "500m")
	d := newFakeDriver()
	c := fakeAPIWith(t, interceptor.Funcs{SubResourceCreate: func(ctx context.Context, c client.Client, sub string, o, req client.Object, opts ...client.SubResourceCreateOption) error {
		// Bound by another before this bind: the cache had not seen it.
		if err := bindPod(ctx, c, sub, o, req, opts...); err != nil {
			return err
		}
		return apierrors.NewConflict(schema.GroupResource{Resource: "pods/binding"}, o.GetName(),
			fmt.Errorf("pod %s is already assigned to node %q", o.GetName(), req.(*corev1.Binding).Target.Name))
	}}, pod)
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	s.Enqueue(ctx, mt, pod)
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
	again := agentOffer("agent-1", 2)
	again.ID.Value = "o2"
	s.handleNew(ctx, []mesos.Offer{again})
	if len(d.launches) != 0 {
		t.Fatalf("launched %v, want nothing: another process bound the pod, and may have launched its task", d.launches)
	}
}
