package controllers

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// degradedSince is a status whose Degraded has been True for reason since an hour ago
// (to the second, as the API server stores it).
func degradedSince(reason string) (*mesosv1alpha1.MesosClusterStatus, metav1.Time) {
	since := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	st := &mesosv1alpha1.MesosClusterStatus{ObservedGeneration: 1, FrameworkID: "fw-1", Conditions: []metav1.Condition{{
		Type: mesosv1alpha1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: reason, Message: "m",
		ObservedGeneration: 1, LastTransitionTime: since}}}
	return st, since
}

// A cluster that stays Degraded for a reason found after the driver's status (here the
// kubelet API's client CA) keeps the time it became Degraded: before, the pass set
// Degraded False from the driver, then True again, and each pass moved the time to now.
func TestDegradedKeepsItsTimeAcrossPasses(t *testing.T) {
	mc := &mesosv1alpha1.MesosCluster{}
	mc.Generation = 1
	st, since := degradedSince(ReasonKubeletClientCAInvalid)
	r := &MesosClusterReconciler{}
	degraded := r.statusFromDriver(mc, st, framework.Status{Subscribed: true, FrameworkID: "fw-1", Leader: "http://m:5050"})
	setDegraded(st, mc.Generation, degraded.or(kubeletAPIDegradation(ReasonKubeletClientCAInvalid, errors.New("no PEM"))))
	c := meta.FindStatusCondition(st.Conditions, mesosv1alpha1.ConditionDegraded)
	if c.Status != metav1.ConditionTrue || c.Reason != ReasonKubeletClientCAInvalid || !c.LastTransitionTime.Equal(&since) {
		t.Errorf("Degraded = %s/%s since %s, want True/%s since %s", c.Status, c.Reason, c.LastTransitionTime, ReasonKubeletClientCAInvalid, since)
	}
}

// A cluster Degraded for a missing kubelet API client CA Secret is not written again at
// each pass: its Degraded keeps its time, and an unchanged status is no write (each
// write wakes the Node reconciler for a pass over the cluster's Nodes).
func TestDegradedClusterStatusNotRewritten(t *testing.T) {
	// A master that never answers: the driver stays Connecting, and what it reports stays
	// the same from pass to pass.
	hang := make(chan struct{})
	master := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, req *http.Request) {
		select {
		case <-hang:
		case <-req.Context().Done():
		}
	}))
	defer master.Close()
	st, since := degradedSince(ReasonKubeletClientCANotFound)
	mc := &mesosv1alpha1.MesosCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "c", Finalizers: []string{FrameworkFinalizer}, Generation: 1},
		Spec: mesosv1alpha1.MesosClusterSpec{Master: master.URL, SchedulerName: "mesos",
			KubeletAPI: mesosv1alpha1.KubeletAPISpec{ClientCASecretRef: &mesosv1alpha1.SecretKeyRef{Namespace: "k8sm-system", Name: "missing"}}},
		Status: *st,
	}
	c := clusterAPI(t, mc)
	r := &MesosClusterReconciler{Client: c, APIReader: c, Registry: scheduler.NewRegistry(), SecretNamespace: "k8sm-system",
		Recorder:      events.NewFakeRecorder(100),
		NewScheduler:  func(*mesosv1alpha1.MesosCluster) framework.Scheduler { return nil },
		DriverOptions: func(cfg *framework.Config) { cfg.AgentPollInterval = -1 }}
	defer r.Registry.StopAll()
	defer close(hang)
	before := reconcileCluster(t, r, "c")
	after := reconcileCluster(t, r, "c")
	deg := meta.FindStatusCondition(after.Status.Conditions, mesosv1alpha1.ConditionDegraded)
	if deg == nil || deg.Status != metav1.ConditionTrue || deg.Reason != ReasonKubeletClientCANotFound || !deg.LastTransitionTime.Equal(&since) {
		t.Errorf("Degraded = %+v, want True/%s since %s", deg, ReasonKubeletClientCANotFound, since)
	}
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("a pass that found nothing new wrote the status: resourceVersion %s, was %s", after.ResourceVersion, before.ResourceVersion)
	}
}

// A condition whose status did not change keeps its stored transition time when the
// status is written, whatever time the pass gave it: a pass that sets a condition twice
// (False, then True again) does not make the stored True look new, nor the status
// changed.
func TestWriteStatusKeepsTransitionTimes(t *testing.T) {
	stored, since := degradedSince(ReasonKubeletClientCANotFound)
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Status: *stored}
	c := clusterAPI(t, mc)
	r := &MesosClusterReconciler{Client: c, Recorder: events.NewFakeRecorder(10)}
	ctx := context.Background()
	if err := c.Get(ctx, client.ObjectKeyFromObject(mc), mc); err != nil {
		t.Fatal(err)
	}
	before := mc.ResourceVersion
	st := mc.Status.DeepCopy()
	st.Conditions[0].LastTransitionTime = metav1.Now()
	if err := r.writeStatus(ctx, mc, st); err != nil {
		t.Fatal(err)
	}
	got := &mesosv1alpha1.MesosCluster{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(mc), got); err != nil {
		t.Fatal(err)
	}
	if deg := meta.FindStatusCondition(got.Status.Conditions, mesosv1alpha1.ConditionDegraded); !deg.LastTransitionTime.Equal(&since) {
		t.Errorf("Degraded, True before and after, is now since %s, was since %s", deg.LastTransitionTime, since)
	}
	if got.ResourceVersion != before {
		t.Errorf("only a transition time differed, and the status was written: resourceVersion %s, was %s", got.ResourceVersion, before)
	}
}
