package controllers

import (
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
)

// A subscribed cluster whose master will not list its agents, or did not list the tasks
// it holds (or hid the framework's), stays Ready but says it is Degraded, with why and
// what to do.
func TestStatusFromDriverOperatorAPINotListing(t *testing.T) {
	r := &MesosClusterReconciler{}
	mc := &mesosv1alpha1.MesosCluster{}
	mc.Generation = 3
	refused := errors.New("GET_AGENTS from http://m:5050: 403 Forbidden")
	hidden := errors.New("the master listed 3 tasks, none of framework fw-1, which runs 2: its ACLs hide them from the framework's principal (VIEW_FRAMEWORK, VIEW_TASK)")
	machineHidden := errors.New("the master's maintenance schedule leaves out the window of agent a1 (host-1), which its offers show: (get_maintenance_schedules)")
	for _, tc := range []struct {
		name           string
		agentsErr      error
		tasksErr       error
		scheduleErr    error
		degraded       metav1.ConditionStatus
		degradedReason string
		says           []string // in the message
	}{
		{name: "listed", degraded: metav1.ConditionFalse, degradedReason: ReasonAsExpected},
		{name: "agents refused", agentsErr: refused, degraded: metav1.ConditionTrue, degradedReason: ReasonAgentsUnlisted, says: []string{"403 Forbidden"}},
		{name: "tasks hidden", tasksErr: hidden, degraded: metav1.ConditionTrue, degradedReason: ReasonTasksUnlisted, says: []string{"VIEW_TASK", "view_tasks"}},
		{name: "schedule hides machines", scheduleErr: machineHidden, degraded: metav1.ConditionTrue, degradedReason: ReasonScheduleUnread, says: []string{"get_maintenance_schedules", "next offer"}},
	} {
		st := &mesosv1alpha1.MesosClusterStatus{}
		setDegraded(st, mc.Generation, r.statusFromDriver(mc, st, framework.Status{Subscribed: true, FrameworkID: "fw-1", Leader: "http://m:5050",
			AgentsError: tc.agentsErr, TasksError: tc.tasksErr, ScheduleError: tc.scheduleErr}))
		ready := meta.FindStatusCondition(st.Conditions, mesosv1alpha1.ConditionReady)
		deg := meta.FindStatusCondition(st.Conditions, mesosv1alpha1.ConditionDegraded)
		if ready == nil || ready.Status != metav1.ConditionTrue {
			t.Errorf("%s: Ready = %+v, want True", tc.name, ready)
		}
		if deg == nil || deg.Status != tc.degraded || deg.Reason != tc.degradedReason || deg.ObservedGeneration != 3 {
			t.Errorf("%s: Degraded = %+v, want %s/%s", tc.name, deg, tc.degraded, tc.degradedReason)
			continue
		}
		for _, want := range tc.says {
			if !strings.Contains(deg.Message, want) {
				t.Errorf("%s: message %q does not say %q", tc.name, deg.Message, want)
			}
		}
	}
}

// A failover timeout shorter than a manager's or master's failover takes is told on
// Degraded: Mesos would kill every task in it.
func TestStatusFromDriverShortFailoverTimeout(t *testing.T) {
	r := &MesosClusterReconciler{}
	for _, tc := range []struct {
		timeout  *metav1.Duration
		degraded metav1.ConditionStatus
		reason   string
	}{
		{nil, metav1.ConditionFalse, ReasonAsExpected},
		{&metav1.Duration{Duration: time.Hour}, metav1.ConditionFalse, ReasonAsExpected},
		{&metav1.Duration{Duration: 0}, metav1.ConditionTrue, ReasonShortFailoverTimeout},
		{&metav1.Duration{Duration: 30 * time.Second}, metav1.ConditionTrue, ReasonShortFailoverTimeout},
	} {
		mc := &mesosv1alpha1.MesosCluster{}
		mc.Spec.Framework.FailoverTimeout = tc.timeout
		st := &mesosv1alpha1.MesosClusterStatus{}
		setDegraded(st, mc.Generation, r.statusFromDriver(mc, st, framework.Status{Subscribed: true, FrameworkID: "fw-1", Leader: "http://m:5050"}))
		deg := meta.FindStatusCondition(st.Conditions, mesosv1alpha1.ConditionDegraded)
		if deg == nil || deg.Status != tc.degraded || deg.Reason != tc.reason {
			t.Errorf("failoverTimeout %v: Degraded = %+v, want %s/%s", tc.timeout, deg, tc.degraded, tc.reason)
		}
		if ready := meta.FindStatusCondition(st.Conditions, mesosv1alpha1.ConditionReady); ready == nil || ready.Status != metav1.ConditionTrue {
			t.Errorf("failoverTimeout %v: Ready = %+v, want True", tc.timeout, ready)
		}
	}
}

// A namespaceSelector that is no label selector (a key no label may have) is told on
// Degraded: the cluster takes no pod, and said nothing.
func TestStatusFromDriverInvalidNamespaceSelector(t *testing.T) {
	r := &MesosClusterReconciler{}
	for _, tc := range []struct {
		key    string
		reason string
	}{
		{"team", ReasonAsExpected},
		{"bad key", ReasonInvalidNamespaceSelector},
	} {
		mc := &mesosv1alpha1.MesosCluster{}
		mc.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{tc.key: "a"}}
		st := &mesosv1alpha1.MesosClusterStatus{}
		setDegraded(st, mc.Generation, r.statusFromDriver(mc, st, framework.Status{Subscribed: true, FrameworkID: "fw-1", Leader: "http://m:5050"}))
		if deg := meta.FindStatusCondition(st.Conditions, mesosv1alpha1.ConditionDegraded); deg == nil || deg.Reason != tc.reason {
			t.Errorf("selector key %q: Degraded = %+v, want reason %s", tc.key, deg, tc.reason)
		}
	}
}

// Mesos's refusals are told apart on Ready: the framework removed, another scheduler
// subscribed as it, or another refusal.
func TestStatusFromDriverRefused(t *testing.T) {
	r := &MesosClusterReconciler{}
	mc := &mesosv1alpha1.MesosCluster{}
	for _, tc := range []struct{ refused, reason string }{
		{"Framework has been removed", ReasonFrameworkRemoved},
		{"Framework failed over", ReasonFrameworkTakenOver},
		{"Role 'x' is not allowed", framework.ReasonSubscribeRefused},
		{"Changing framework's principal is not allowed.", ReasonPrincipalChangeRefused},
	} {
		st := &mesosv1alpha1.MesosClusterStatus{FrameworkID: "fw-1"}
		setDegraded(st, mc.Generation, r.statusFromDriver(mc, st, framework.Status{Refused: tc.refused}))
		ready := meta.FindStatusCondition(st.Conditions, mesosv1alpha1.ConditionReady)
		if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != tc.reason || !strings.Contains(ready.Message, tc.refused) {
			t.Errorf("refused %q: Ready = %+v, want False/%s with Mesos's message", tc.refused, ready, tc.reason)
		}
	}
}

// The cluster controller does not run again for its own status writes (under load the
// task counts differ on every pass, and each write would start the next), but for any
// other change.
func TestNotStatusOnly(t *testing.T) {
	base := func() *mesosv1alpha1.MesosCluster {
		mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c", Generation: 2, Finalizers: []string{FrameworkFinalizer},
			Labels: map[string]string{"a": "b"}, Annotations: map[string]string{"x": "y"}}}
		mc.Status.Agents = 3
		return mc
	}
	now := metav1.Now()
	for _, tc := range []struct {
		name   string
		change func(*mesosv1alpha1.MesosCluster)
		want   bool
	}{
		{"status only", func(mc *mesosv1alpha1.MesosCluster) { mc.Status.Agents = 4; mc.ResourceVersion = "9" }, false},
		{"spec (generation)", func(mc *mesosv1alpha1.MesosCluster) { mc.Generation = 3 }, true},
		{"deletion asked", func(mc *mesosv1alpha1.MesosCluster) { mc.DeletionTimestamp = &now }, true},
		{"finalizer removed", func(mc *mesosv1alpha1.MesosCluster) { mc.Finalizers = nil }, true},
		{"label", func(mc *mesosv1alpha1.MesosCluster) { mc.Labels["a"] = "c" }, true},
		{"annotation", func(mc *mesosv1alpha1.MesosCluster) { mc.Annotations["x"] = "z" }, true},
	} {
		old, cur := base(), base()
		tc.change(cur)
		if got := notStatusOnly.Update(event.UpdateEvent{ObjectOld: old, ObjectNew: cur}); got != tc.want {
			t.Errorf("%s: passes = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Credentials go only to masters reached over TLS, unless the cluster allows otherwise.
func TestPlaintextMaster(t *testing.T) {
	for _, tc := range []struct {
		master string
		tls    bool
		want   bool
	}{
		{"https://m1:5050", false, false},
		{"https://m1:5050, https://m2:5050", false, false},
		{"https://m1:5050,http://m2:5050", false, true},
		{"http://m1:5050", true, true}, // spec.tls does not make an http:// URL https
		{"zk://zk1:2181/mesos", false, true},
		{"zk://zk1:2181/mesos", true, false},
	} {
		mc := &mesosv1alpha1.MesosCluster{}
		mc.Spec.Master = tc.master
		if tc.tls {
			mc.Spec.TLS = &mesosv1alpha1.TLSSpec{}
		}
		if got := plaintextMaster(mc); got != tc.want {
			t.Errorf("%s (tls %v): plaintext = %v, want %v", tc.master, tc.tls, got, tc.want)
		}
	}
}

// A framework Mesos refuses for a changed principal says so on Ready and Degraded, and
// what to do: Mesos never takes another principal for a registered framework.
func TestStatusFromDriverPrincipalChangeRefused(t *testing.T) {
	r := &MesosClusterReconciler{}
	mc := &mesosv1alpha1.MesosCluster{}
	mc.Spec.Framework.Principal = "k8sm-2"
	st := &mesosv1alpha1.MesosClusterStatus{FrameworkID: "fw-1"}
	setDegraded(st, mc.Generation, r.statusFromDriver(mc, st, framework.Status{Refused: "Changing framework's principal is not allowed."}))
	for _, typ := range []string{mesosv1alpha1.ConditionReady, mesosv1alpha1.ConditionDegraded} {
		c := meta.FindStatusCondition(st.Conditions, typ)
		if c == nil || c.Reason != ReasonPrincipalChangeRefused {
			t.Fatalf("%s = %+v, want reason %s", typ, c, ReasonPrincipalChangeRefused)
		}
		for _, want := range []string{"fw-1", `"k8sm-2"`, "cannot change its principal", "new MesosCluster", "168h"} {
			if !strings.Contains(c.Message, want) {
				t.Errorf("%s message %q does not say %q", typ, c.Message, want)
			}
		}
	}
}
