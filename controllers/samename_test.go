package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// earlierTask is the MesosTask "web-0" of an earlier pod of that name (uid old), with its
// finalizer, its task in phase.
func earlierTask(phase mesosv1alpha1.TaskPhase) *mesosv1alpha1.MesosTask {
	return &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0", UID: "mt-old", Finalizers: []string{TaskFinalizer}},
		Spec:   mesosv1alpha1.MesosTaskSpec{ClusterRef: "c", PodUID: "old", TaskID: "k8sm.old"},
		Status: mesosv1alpha1.MesosTaskStatus{Phase: phase, AgentID: "S1", Hostname: "agent-1"}}
}

// A pod made again under the name of a pod whose MesosTask is still there (a
// StatefulSet's web-0, the earlier one force-deleted) has that MesosTask deleted once,
// and waits for it to go: while the earlier task may still run, the pod says so
// (PodScheduled=False, once), and it is looked at again when the MesosTask goes, not
// every second.
func TestAPodMadeAgainWaitsForTheEarlierTask(t *testing.T) {
	for _, tc := range []struct {
		name    string
		phase   mesosv1alpha1.TaskPhase
		waiting bool // the pod says it waits for the earlier task
	}{
		{"the earlier task runs", mesosv1alpha1.TaskPhaseRunning, true},
		{"the earlier task is being killed", mesosv1alpha1.TaskPhaseKilling, true},
		{"the earlier task's agent is unreachable", mesosv1alpha1.TaskPhaseUnreachable, true},
		{"the earlier task ended", mesosv1alpha1.TaskPhaseKilled, false},
		{"the earlier task was never launched", mesosv1alpha1.TaskPhasePending, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0", UID: "new"},
				Spec:   corev1.PodSpec{SchedulerName: "mesos", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
				Status: corev1.PodStatus{Phase: corev1.PodPending}}
			deletes, statusWrites := 0, 0
			c := podAPI(t, interceptor.Funcs{
				Delete: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.DeleteOption) error {
					deletes++
					return c.Delete(ctx, o, opts...)
				},
				SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
					statusWrites++
					return c.SubResource(sub).Patch(ctx, o, p, opts...)
				},
			}, pod, earlierTask(tc.phase), readyCluster())
			rec := events.NewFakeRecorder(10)
			r := &PodReconciler{Client: c, Registry: scheduler.NewRegistry(), Recorder: rec}

			for pass := range 3 {
				res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pod)})
				if err != nil {
					t.Fatal(err)
				}
				if res.RequeueAfter < 10*time.Second {
					t.Errorf("pass %d: looked at again after %v: the MesosTask's going brings it back", pass, res.RequeueAfter)
				}
			}

			if deletes != 1 {
				t.Errorf("the earlier MesosTask was deleted %d times, want once", deletes)
			}
			mt := &mesosv1alpha1.MesosTask{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), mt); err != nil || mt.DeletionTimestamp.IsZero() {
				t.Errorf("the earlier MesosTask is not being deleted: %v", err)
			}
			got := &corev1.Pod{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), got); err != nil {
				t.Fatal(err)
			}
			cond := podCondition(got, corev1.PodScheduled)
			if tc.waiting {
				if cond == nil || cond.Status != corev1.ConditionFalse || !strings.Contains(cond.Message, "k8sm.old") || !strings.Contains(cond.Message, "agent-1") {
					t.Errorf("PodScheduled = %+v, want False naming the earlier task and its agent", cond)
				}
				if statusWrites != 1 || len(rec.Events) != 1 {
					t.Errorf("%d status writes and %d events, want 1 and 1", statusWrites, len(rec.Events))
				}
			} else if cond != nil || statusWrites != 0 || len(rec.Events) != 0 {
				t.Errorf("the pod was told to wait for a task that cannot run: %+v, %d events", cond, len(rec.Events))
			}
		})
	}
}

// A deleted MesosTask whose task is unreachable lets go of it once its pod is gone or
// another pod took its name: KILL cannot reach the agent, and the pod of that name would
// wait until the agent came back. The task is killed when Mesos reports it again (the
// scheduler kills tasks no MesosTask owns). While its own pod is there, or while its
// agent is reachable, the MesosTask is kept until the task ended. Its own pod there, the
// task unreachable longer than UnreachableTimeout (the pod deleted in the foreground:
// the garbage collector deletes the MesosTask first, and the pod waits for it), the pod
// is Failed with reason NodeLost, as it would be were its MesosTask not deleted, and the
// task let go: they waited for each other, and for the agent, before.
func TestADeletedTaskOfAnUnreachableAgentIsReleasedWhenItsPodIsGone(t *testing.T) {
	for _, tc := range []struct {
		name        string
		phase       mesosv1alpha1.TaskPhase
		podUID      string        // of the pod named web-0; none when empty
		unreachable time.Duration // since the task's last update
		released    bool
		nodeLost    bool // the pod Failed, NodeLost
		events      []string
	}{
		{"unreachable, its pod gone", mesosv1alpha1.TaskPhaseUnreachable, "", time.Minute, true, false, []string{"Warning Released"}},
		{"unreachable, its name taken by another pod", mesosv1alpha1.TaskPhaseUnreachable, "new", time.Minute, true, false,
			[]string{"Warning Released", "Warning EarlierTaskUnreachable"}},
		{"unreachable, its pod still there", mesosv1alpha1.TaskPhaseUnreachable, "old", time.Minute, false, false, nil},
		{"unreachable too long, its pod still there", mesosv1alpha1.TaskPhaseUnreachable, "old", 10 * time.Minute, true, true,
			[]string{"Warning Released", "Warning Released"}},
		// Mesos not asked since the framework subscribed: the task may be back.
		{"unreachable too long as last recorded, its pod still there", mesosv1alpha1.TaskPhaseUnreachable, "old", 10 * time.Minute, false, false, nil},
		{"running, its pod gone", mesosv1alpha1.TaskPhaseRunning, "", time.Minute, false, false, nil},
		{"killing, its name taken by another pod", mesosv1alpha1.TaskPhaseKilling, "new", time.Minute, false, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mt := earlierTask(tc.phase)
			now := metav1.Now()
			mt.DeletionTimestamp = &now
			mt.Status.LastUpdateTime = &metav1.Time{Time: now.Add(-tc.unreachable)}
			objs := []client.Object{mt, readyCluster()}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0", UID: types.UID(tc.podUID)},
				Spec:   corev1.PodSpec{SchedulerName: "mesos", NodeName: "mesos-c-agent-1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning}}
			if tc.podUID == "old" {
				// Deleted in the foreground: it waits for its MesosTask to go.
				pod.DeletionTimestamp, pod.Finalizers = &now, []string{metav1.FinalizerDeleteDependents}
			}
			if tc.podUID != "" {
				objs = append(objs, pod)
			}
			c := podAPI(t, interceptor.Funcs{}, objs...)
			rec := events.NewFakeRecorder(10)
			reg := scheduler.NewRegistry()
			if tc.nodeLost {
				reg = registryOf(t, answeredSince)
			}
			r := &MesosTaskReconciler{Client: c, Registry: reg, Recorder: rec}

			res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(mt)})
			if err != nil {
				t.Fatal(err)
			}

			err = c.Get(context.Background(), client.ObjectKeyFromObject(mt), &mesosv1alpha1.MesosTask{})
			if gone := apierrors.IsNotFound(err); gone != tc.released {
				t.Fatalf("MesosTask released = %v, want %v (%v)", gone, tc.released, err)
			}
			if !tc.released && res.RequeueAfter == 0 {
				t.Error("a MesosTask kept for its task is not looked at again")
			}
			if tc.podUID != "" {
				got := &corev1.Pod{}
				if err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), got); err != nil {
					t.Fatal(err)
				}
				if lost := got.Status.Phase == corev1.PodFailed && got.Status.Reason == podtask.ReasonNodeLost; lost != tc.nodeLost {
					t.Errorf("pod %s/%s, want NodeLost: %v", got.Status.Phase, got.Status.Reason, tc.nodeLost)
				}
			}
			var got []string
			for len(rec.Events) > 0 {
				e := <-rec.Events
				f := strings.Fields(e)
				got = append(got, f[0]+" "+f[1])
			}
			if strings.Join(got, ",") != strings.Join(tc.events, ",") {
				t.Errorf("events %v, want %v", got, tc.events)
			}
		})
	}
}

// podCondition is a pod's condition of a type, nil if it has none.
func podCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}
