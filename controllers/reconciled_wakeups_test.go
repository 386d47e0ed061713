package controllers

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/event"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// A cluster's Reconciled condition turning True (and only that) brings what waits for
// Mesos's answers: its running pods that are not Ready, and its unreachable MesosTasks.
func TestReconciledTurningTrueBringsWhatWaitsOnIt(t *testing.T) {
	with := func(status metav1.ConditionStatus) *mesosv1alpha1.MesosCluster {
		mc := readyCluster()
		mc.Status.Conditions = []metav1.Condition{{Type: mesosv1alpha1.ConditionReconciled, Status: status}}
		return mc
	}
	for _, tc := range []struct {
		name     string
		old, new *mesosv1alpha1.MesosCluster
		want     bool
	}{
		{"turned True", with(metav1.ConditionFalse), with(metav1.ConditionTrue), true},
		{"True from none", readyCluster(), with(metav1.ConditionTrue), true},
		{"True still", with(metav1.ConditionTrue), with(metav1.ConditionTrue), false},
		{"turned False", with(metav1.ConditionTrue), with(metav1.ConditionFalse), false},
	} {
		if got := reconciledTurnedTrue.Update(event.UpdateEvent{ObjectOld: tc.old, ObjectNew: tc.new}); got != tc.want {
			t.Errorf("%s: passed %v, want %v", tc.name, got, tc.want)
		}
	}

	notReady := runningPod("mesos-c-agent-1")
	notReady.Name, notReady.UID = "not-ready", "u2"
	notReady.Status.Conditions[3].Status = corev1.ConditionFalse
	ready := runningPod("mesos-c-agent-1")
	ready.Name = "ready"
	queued := runningPod("")
	queued.Name, queued.UID = "queued", "u3"
	r := &PodReconciler{Client: podAPI(t, interceptor.Funcs{}, notReady, ready, queued), Registry: scheduler.NewRegistry()}
	var got []string
	for _, req := range r.notReadyPodsOfCluster(context.Background(), readyCluster()) {
		got = append(got, req.String())
	}
	if want := []string{"ns/not-ready"}; !slices.Equal(got, want) {
		t.Errorf("pods looked at = %v, want %v", got, want)
	}

	unreachable, running, other := earlierTask(mesosv1alpha1.TaskPhaseUnreachable), earlierTask(mesosv1alpha1.TaskPhaseRunning), earlierTask(mesosv1alpha1.TaskPhaseUnreachable)
	running.Name, other.Name, other.Spec.ClusterRef = "running", "other", "another"
	sch := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(sch)
	_ = mesosv1alpha1.AddToScheme(sch)
	c := fake.NewClientBuilder().WithScheme(sch).WithObjects(unreachable, running, other).
		WithIndex(&mesosv1alpha1.MesosTask{}, indexer.ClusterRef, indexer.ClusterRefOf).Build()
	mr := &MesosTaskReconciler{Client: c}
	got = nil
	for _, req := range mr.unreachableTasksOfCluster(context.Background(), readyCluster()) {
		got = append(got, req.String())
	}
	if want := []string{client.ObjectKeyFromObject(unreachable).String()}; !slices.Equal(got, want) {
		t.Errorf("MesosTasks looked at = %v, want %v", got, want)
	}
}

// A wake-up of the cluster's driver (SetReconciled sends one) brings its running pods that
// are not Ready once Mesos answered since the framework subscribed, not before: the
// status write of Reconciled may be missed (True over True after a leader change).
func TestADriverWakeUpBringsNotReadyPodsOnceMesosAnswered(t *testing.T) {
	for _, tc := range []struct {
		mesos answered
		want  []string
	}{
		{notAnswered, nil},
		{answeredJustNow, []string{"ns/not-ready"}},
	} {
		notReady := runningPod("mesos-c-agent-1")
		notReady.Name = "not-ready"
		notReady.Status.Conditions[3].Status = corev1.ConditionFalse
		r := &PodReconciler{Client: podAPI(t, interceptor.Funcs{}, notReady, readyCluster()), Registry: registryOf(t, tc.mesos)}
		var got []string
		for _, req := range r.podsOfClusterNamed(context.Background(), readyCluster()) {
			got = append(got, req.String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Mesos %v: pods looked at = %v, want %v", tc.mesos, got, tc.want)
		}
	}
}

// A wake-up of the cluster's driver brings its pending tasks, and its unreachable ones
// once Mesos answered since the framework subscribed (their NodeLost waited on that),
// not those that run, nor another cluster's.
func TestADriverWakeUpBringsUnreachableTasksOnceMesosAnswered(t *testing.T) {
	for _, tc := range []struct {
		mesos answered
		want  []string
	}{
		{notAnswered, []string{"ns/pending"}},
		{answeredJustNow, []string{"ns/pending", "ns/unreachable"}},
	} {
		pending, running, unreachable, other := earlierTask(mesosv1alpha1.TaskPhasePending), earlierTask(mesosv1alpha1.TaskPhaseRunning),
			earlierTask(mesosv1alpha1.TaskPhaseUnreachable), earlierTask(mesosv1alpha1.TaskPhaseUnreachable)
		pending.Name, running.Name, unreachable.Name, other.Name, other.Spec.ClusterRef = "pending", "running", "unreachable", "other", "another"
		sch := runtime.NewScheme()
		_ = clientgoscheme.AddToScheme(sch)
		_ = mesosv1alpha1.AddToScheme(sch)
		c := fake.NewClientBuilder().WithScheme(sch).WithObjects(pending, running, unreachable, other).
			WithIndex(&mesosv1alpha1.MesosTask{}, indexer.ClusterRef, indexer.ClusterRefOf).Build()
		r := &MesosTaskReconciler{Client: c, Registry: registryOf(t, tc.mesos)}
		var got []string
		for _, req := range r.tasksToWake(context.Background(), readyCluster()) {
			got = append(got, req.String())
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("Mesos %v: MesosTasks looked at = %v, want %v", tc.mesos, got, tc.want)
		}
	}
}
