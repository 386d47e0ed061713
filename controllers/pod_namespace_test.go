package controllers

import (
	"context"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/event"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// selectiveCluster is readyCluster taking the pods of namespaces labelled k8sm=on only.
func selectiveCluster() *mesosv1alpha1.MesosCluster {
	mc := readyCluster()
	mc.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"k8sm": "on"}}
	return mc
}

// withScheduler gives a registry the scheduler of mc over c, its loops not running.
func withScheduler(c client.Client, mc *mesosv1alpha1.MesosCluster) (*scheduler.Registry, *scheduler.Scheduler) {
	reg := scheduler.NewRegistry()
	s := reg.EnsureScheduler(mc.Name, func() *scheduler.Scheduler {
		return scheduler.New(mc, scheduler.Options{Client: c, Recorder: events.NewFakeRecorder(10), Log: logr.Discard()})
	})
	return reg, s
}

// A pod waiting to be placed in a namespace its cluster does not take (it never did,
// or its namespaceSelector or the namespace's labels changed since it was queued) leaves
// the queue and says why, PodScheduled=False/NamespaceNotAllowed with a warning event,
// once; a pod of a namespace taken is queued, also one whose MesosTask was written while
// it waited.
func TestAPodOfANamespaceNotTakenIsRefusedAndTold(t *testing.T) {
	for _, tc := range []struct {
		name     string
		label    string                  // the namespace's k8sm label
		task     mesosv1alpha1.TaskPhase // its MesosTask's, none when empty
		queued   bool
		refusing bool
	}{
		{name: "not taken", label: "off", refusing: true},
		{name: "not taken, its MesosTask written", label: "off", task: mesosv1alpha1.TaskPhasePending, refusing: true},
		{name: "taken", label: "on", queued: true},
		{name: "taken, its MesosTask written", label: "on", task: mesosv1alpha1.TaskPhasePending, queued: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mc := selectiveCluster()
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1"},
				Spec:   corev1.PodSpec{SchedulerName: "mesos", Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"}}}},
				Status: corev1.PodStatus{Phase: corev1.PodPending}}
			objs := []client.Object{pod, mc, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", Labels: map[string]string{"k8sm": tc.label}}}}
			mt, _ := podtask.NewMesosTask(pod, mc, "")
			if tc.task != "" {
				mt.Status.Phase = tc.task
				objs = append(objs, mt)
			}
			writes := 0
			c := podAPI(t, interceptor.Funcs{
				SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
					writes++
					return c.SubResource(sub).Patch(ctx, o, p, opts...)
				},
			}, objs...)
			reg, s := withScheduler(c, mc)
			// Queued before the namespace's labels changed.
			s.Enqueue(context.Background(), mt, pod)
			rec := events.NewFakeRecorder(10)
			r := &PodReconciler{Client: c, Registry: reg, Recorder: rec}

			for range 2 {
				if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pod)}); err != nil {
					t.Fatal(err)
				}
			}

			if got := s.Pending(mt.Spec.TaskID); got != tc.queued {
				t.Errorf("queued = %v, want %v", got, tc.queued)
			}
			got := &corev1.Pod{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), got); err != nil {
				t.Fatal(err)
			}
			cond := podCondition(got, corev1.PodScheduled)
			if tc.refusing {
				if cond == nil || cond.Status != corev1.ConditionFalse || cond.Reason != podtask.ReasonNamespaceNotAllowed ||
					cond.Message != podtask.NamespaceNotTakenMessage("c", "ns") {
					t.Errorf("PodScheduled = %+v, want False/%s", cond, podtask.ReasonNamespaceNotAllowed)
				}
				if writes != 1 || len(rec.Events) != 1 {
					t.Errorf("%d status writes and %d events over two passes, want 1 and 1", writes, len(rec.Events))
				}
			} else if cond != nil || writes != 0 || len(rec.Events) != 0 {
				t.Errorf("a pod of a namespace taken was told %+v (%d events)", cond, len(rec.Events))
			}
		})
	}
}

// The MesosTask reconciler queues a MesosTask waiting for an offer again (after its
// cluster's scheduler started, say), but not that of an unbound pod whose namespace its
// cluster does not take, nor any while its cluster is being deleted.
func TestAWaitingMesosTaskIsQueuedOnlyInANamespaceTaken(t *testing.T) {
	for _, tc := range []struct {
		name     string
		label    string
		bound    bool
		deleting bool // the cluster
		queued   bool
	}{
		{name: "a namespace taken", label: "on", queued: true},
		{name: "a namespace not taken", label: "off"},
		{name: "bound, a namespace not taken", label: "off", bound: true, queued: true},
		{name: "the cluster being deleted", label: "on", deleting: true},
		{name: "bound, the cluster being deleted", label: "on", bound: true, deleting: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mc := selectiveCluster()
			if tc.deleting {
				now := metav1.Now()
				mc.DeletionTimestamp, mc.Finalizers = &now, []string{"mesos.k8sm.io/teardown"}
			}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1"},
				Spec: corev1.PodSpec{SchedulerName: "mesos", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
			if tc.bound {
				pod.Spec.NodeName = "mesos-c-agent-1"
			}
			mt, _ := podtask.NewMesosTask(pod, mc, pod.Spec.NodeName)
			mt.Status.Phase = mesosv1alpha1.TaskPhasePending
			c := podAPI(t, interceptor.Funcs{}, pod, mt, mc, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", Labels: map[string]string{"k8sm": tc.label}}})
			reg, s := withScheduler(c, mc)
			s.Enqueue(context.Background(), mt, pod)
			r := &MesosTaskReconciler{Client: c, Registry: reg}

			if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(mt)}); err != nil {
				t.Fatal(err)
			}

			if got := s.Pending(mt.Spec.TaskID); got != tc.queued {
				t.Errorf("queued = %v, want %v", got, tc.queued)
			}
		})
	}
}

// A namespace whose labels change brings back its pods that wait to be placed by a
// cluster with a namespaceSelector: the change may let them in. Pods bound, being
// deleted, of other namespaces, or of a cluster taking every namespace are left alone.
func TestANamespaceWhoseLabelsChangeBringsBackItsWaitingPods(t *testing.T) {
	pod := func(ns, name, scheduler, node string, deleting bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.PodSpec{SchedulerName: scheduler, NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		if deleting {
			now := metav1.Now()
			p.DeletionTimestamp, p.Finalizers = &now, []string{"test.k8sm.io/hold"}
		}
		return p
	}
	everyNamespace := readyCluster()
	everyNamespace.Name, everyNamespace.Spec.SchedulerName = "open", "open"
	c := podAPI(t, interceptor.Funcs{}, selectiveCluster(), everyNamespace,
		pod("ns", "waiting", "mesos", "", false),
		pod("ns", "bound", "mesos", "mesos-c-agent-1", false),
		pod("ns", "deleted", "mesos", "", true),
		pod("ns", "of-the-open-cluster", "open", "", false),
		pod("ns", "kube-schedulers", corev1.DefaultSchedulerName, "", false),
		pod("other", "elsewhere", "mesos", "", false))
	r := &PodReconciler{Client: c, Registry: scheduler.NewRegistry()}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", Labels: map[string]string{"k8sm": "on"}}}

	got := r.podsOfNamespace(context.Background(), ns)
	if len(got) != 1 || got[0].Name != "waiting" || got[0].Namespace != "ns" {
		t.Errorf("pods looked at again: %v, want ns/waiting", got)
	}

	relabelled := ns.DeepCopy()
	relabelled.Labels["k8sm"] = "off"
	annotated := ns.DeepCopy()
	annotated.Annotations = map[string]string{"a": "b"}
	if !namespaceLabelsChanged.Update(event.UpdateEvent{ObjectOld: ns, ObjectNew: relabelled}) {
		t.Error("a change of labels is not passed")
	}
	if namespaceLabelsChanged.Update(event.UpdateEvent{ObjectOld: ns, ObjectNew: annotated}) || namespaceLabelsChanged.Create(event.CreateEvent{Object: ns}) {
		t.Error("a namespace created, or changed but for its labels, is passed")
	}
}

// A pod created with spec.nodeName naming an agent's Node and the cluster's own
// schedulerName is not one the cluster bound (no Binding set PodScheduled=True): it is
// taken as any pod bound before it was taken, its namespace checked, not left alone as a
// launched one. Otherwise such a pod skipped the namespaceSelector, and ran after the
// next reconciliation of the tasks asked Mesos about it.
func TestAPodCreatedBoundWithTheClustersSchedulerNameIsTaken(t *testing.T) {
	for _, tc := range []struct {
		name       string
		label      string // the namespace's k8sm label
		byBinding  bool   // bound by a Binding (PodScheduled=True), not created bound
		wantFailed bool
		wantTask   bool
	}{
		{name: "created bound, in a namespace not taken", label: "off", wantFailed: true},
		{name: "created bound, in a namespace taken", label: "on", wantTask: true},
		{name: "bound by the cluster, its task launched", label: "off", byBinding: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mc := selectiveCluster()
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1"},
				Spec: corev1.PodSpec{SchedulerName: "mesos", NodeName: "mesos-c-agent-1",
					Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"}}}},
				Status: corev1.PodStatus{Phase: corev1.PodPending}}
			if tc.byBinding {
				pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}
			}
			_, node := runningTaskOnAgent()
			c := podAPI(t, interceptor.Funcs{}, pod, mc, node, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", Labels: map[string]string{"k8sm": tc.label}}})
			reg, _ := withScheduler(c, mc)
			r := &PodReconciler{Client: c, Registry: reg, Recorder: events.NewFakeRecorder(10)}
			if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pod)}); err != nil {
				t.Fatal(err)
			}
			got := &corev1.Pod{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), got); err != nil {
				t.Fatal(err)
			}
			if failed := got.Status.Phase == corev1.PodFailed; failed != tc.wantFailed {
				t.Errorf("pod %s (%s), want Failed: %v", got.Status.Phase, got.Status.Reason, tc.wantFailed)
			}
			err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), &mesosv1alpha1.MesosTask{})
			if hasTask := err == nil; hasTask != tc.wantTask {
				t.Errorf("MesosTask written: %v (%v), want %v", hasTask, err, tc.wantTask)
			}
		})
	}
}
