package controllers

import (
	"context"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/event"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/podtask"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// A pod bound to an agent's Node whose task waits to be launched there (Mesos dropped its
// launch as the agent left) ends Gone, and so Failed, once that Node is seen deleted: no
// offer of it can come. A Node not seen deleted (one not made yet, for an agent that
// offers before its Node is there), or made again since, keeps the task queued for it.
func TestATaskWaitingOnADeletedNodeEnds(t *testing.T) {
	const nodeName = "mesos-c-agent-1"
	for _, tc := range []struct {
		name        string
		seenDeleted bool
		madeAgain   bool
		wantEnded   bool
	}{
		{name: "its Node seen deleted", seenDeleted: true, wantEnded: true},
		{name: "its Node not made yet"},
		{name: "its Node deleted and made again", seenDeleted: true, madeAgain: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			mc := readyCluster()
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0", UID: "u1"},
				Spec: corev1.PodSpec{SchedulerName: "mesos", NodeName: nodeName,
					Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"}}}},
				Status: corev1.PodStatus{Phase: corev1.PodPending}}
			mt := &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0", Finalizers: []string{TaskFinalizer}},
				Spec: mesosv1alpha1.MesosTaskSpec{ClusterRef: "c", PodUID: "u1", TaskID: podtask.TaskIDFor(pod)},
				Status: mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhasePending, MesosState: "TASK_DROPPED",
					Reason: "REASON_INVALID_OFFERS", AgentID: "S1", Hostname: "agent-1"}}
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName, Labels: map[string]string{agentnode.LabelCluster: "c"}}}
			objs := []client.Object{mc, pod, mt}
			if tc.madeAgain {
				objs = append(objs, node)
			}
			sch := runtime.NewScheme()
			_ = clientgoscheme.AddToScheme(sch)
			_ = mesosv1alpha1.AddToScheme(sch)
			c := fake.NewClientBuilder().WithScheme(sch).WithObjects(objs...).WithStatusSubresource(&corev1.Pod{}).
				WithIndex(&corev1.Pod{}, indexer.PodNodeName, indexer.AgentNodeOf).Build()
			reg := scheduler.NewRegistry()
			defer reg.DropScheduler(mc.Name)
			s := reg.EnsureScheduler(mc.Name, func() *scheduler.Scheduler {
				return scheduler.New(mc, scheduler.Options{Client: c, Recorder: events.NewFakeRecorder(10), Log: logr.Discard()})
			})
			rec := events.NewFakeRecorder(10)
			r := &MesosTaskReconciler{Client: c, Registry: reg, Recorder: rec}
			if tc.seenDeleted {
				q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[ctrl.Request]())
				defer q.ShutDown()
				r.nodeGone(ctx, event.DeleteEvent{Object: node}, q)
				if q.Len() != 1 {
					t.Fatalf("%d MesosTasks looked at again after the Node's deletion, want the one of its pod", q.Len())
				}
			}

			if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(mt)}); err != nil {
				t.Fatal(err)
			}
			got := &mesosv1alpha1.MesosTask{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(mt), got); err != nil {
				t.Fatal(err)
			}
			ended := got.Status.Phase == mesosv1alpha1.TaskPhaseGone && got.Status.Reason == podtask.ReasonNodeLost
			if ended != tc.wantEnded || s.Pending(mt.Spec.TaskID) == tc.wantEnded {
				t.Fatalf("phase %s (%s), queued %v; want it ended: %v", got.Status.Phase, got.Status.Reason, s.Pending(mt.Spec.TaskID), tc.wantEnded)
			}
			if !tc.wantEnded {
				return
			}
			if len(rec.Events) != 1 {
				t.Errorf("%d events, want the Warning NodeLost", len(rec.Events))
			}
			// The pass its write starts fails the pod at once: no update of Mesos's is
			// to be written to it first.
			res, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(mt)})
			if err != nil {
				t.Fatal(err)
			}
			failed := &corev1.Pod{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(pod), failed); err != nil {
				t.Fatal(err)
			}
			if failed.Status.Phase != corev1.PodFailed || failed.Status.Reason != podtask.ReasonNodeLost || res.RequeueAfter != 0 {
				t.Errorf("pod %s (%s), looked at again after %v; want it Failed NodeLost at once", failed.Status.Phase, failed.Status.Reason, res.RequeueAfter)
			}
		})
	}
}
