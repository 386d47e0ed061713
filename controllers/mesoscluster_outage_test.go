package controllers

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

func TestOutageTolerationSpec(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout *metav1.Duration
		want    int64
	}{
		{"default: a week", nil, 7 * 24 * 3600},
		{"an hour", &metav1.Duration{Duration: time.Hour}, 3600},
		{"whole seconds, rounded up as the manager rounds them", &metav1.Duration{Duration: 90*time.Second + 100*time.Millisecond}, 91},
		{"half a second", &metav1.Duration{Duration: 500 * time.Millisecond}, 1},
		{"none", &metav1.Duration{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mc := &mesosv1alpha1.MesosCluster{Spec: mesosv1alpha1.MesosClusterSpec{SchedulerName: "mesos-a"}}
			mc.Spec.Framework.FailoverTimeout = tc.timeout
			got := outageTolerationSpec(mc)
			if got.SchedulerName != "mesos-a" || got.TolerationSeconds != tc.want {
				t.Errorf("spec = %+v, want schedulerName mesos-a and %d seconds", got, tc.want)
			}
		})
	}
}

// The manager writes each cluster's OutageToleration, controlled by the cluster, keeps it
// to the cluster's spec, takes over one an earlier cluster of the same name left, and
// removes its own only.
func TestEnsureOutageToleration(t *testing.T) {
	sch := runtime.NewScheme()
	_ = mesosv1alpha1.AddToScheme(sch)
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "a", UID: "uid-a"},
		Spec: mesosv1alpha1.MesosClusterSpec{SchedulerName: "mesos-a"}}
	ctx := context.Background()
	get := func(c client.Client) *mesosv1alpha1.OutageToleration {
		t.Helper()
		ot := &mesosv1alpha1.OutageToleration{}
		if err := c.Get(ctx, client.ObjectKey{Name: "a"}, ot); err != nil {
			t.Fatalf("the OutageToleration: %v", err)
		}
		return ot
	}
	check := func(ot *mesosv1alpha1.OutageToleration, seconds int64) {
		t.Helper()
		if ot.Spec.SchedulerName != "mesos-a" || ot.Spec.TolerationSeconds != seconds {
			t.Errorf("spec = %+v, want mesos-a and %d seconds", ot.Spec, seconds)
		}
		if !metav1.IsControlledBy(ot, mc) || len(ot.OwnerReferences) != 1 {
			t.Errorf("owners = %+v, want the cluster alone as controller", ot.OwnerReferences)
		}
	}

	// Where the API server has no OutageToleration kind, nothing is written (or read).
	c := fake.NewClientBuilder().WithScheme(sch).Build()
	r := &MesosClusterReconciler{Client: c}
	r.ensureOutageToleration(ctx, mc)
	if err := c.Get(ctx, client.ObjectKey{Name: "a"}, &mesosv1alpha1.OutageToleration{}); err == nil {
		t.Error("an OutageToleration was written where the API server has no such kind")
	}
	r.outageTolerations = true
	r.ensureOutageToleration(ctx, mc)
	check(get(c), 7*24*3600)
	version := get(c).ResourceVersion
	r.ensureOutageToleration(ctx, mc)
	if got := get(c).ResourceVersion; got != version {
		t.Errorf("rewritten without a change: version %s → %s", version, got)
	}

	mc.Spec.Framework.FailoverTimeout = &metav1.Duration{Duration: time.Hour}
	r.ensureOutageToleration(ctx, mc)
	check(get(c), 3600)

	// One an earlier cluster "a" left behind (the garbage collector had not removed it).
	stale := &mesosv1alpha1.OutageToleration{ObjectMeta: metav1.ObjectMeta{Name: "a",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "mesos.k8sm.io/v1alpha1", Kind: "MesosCluster", Name: "a", UID: "uid-old", Controller: new(true)}}},
		Spec: mesosv1alpha1.OutageTolerationSpec{SchedulerName: "mesos-a", TolerationSeconds: 3600}}
	c = fake.NewClientBuilder().WithScheme(sch).WithObjects(stale).Build()
	r = &MesosClusterReconciler{Client: c, outageTolerations: true}
	r.removeOutageToleration(ctx, mc)
	get(c) // not this cluster's: kept
	r.ensureOutageToleration(ctx, mc)
	check(get(c), 3600)
	r.removeOutageToleration(ctx, mc)
	if err := c.Get(ctx, client.ObjectKey{Name: "a"}, &mesosv1alpha1.OutageToleration{}); err == nil {
		t.Error("the cluster's OutageToleration was not removed")
	}
}

// An install whose CRDs were not updated with the manager has no OutageToleration kind.
func TestServesOutageTolerations(t *testing.T) {
	gv := mesosv1alpha1.GroupVersion
	without := meta.NewDefaultRESTMapper([]schema.GroupVersion{gv})
	without.Add(gv.WithKind("MesosCluster"), meta.RESTScopeRoot)
	if servesOutageTolerations(without) {
		t.Error("served by a mapper without the kind")
	}
	with := meta.NewDefaultRESTMapper([]schema.GroupVersion{gv})
	with.Add(gv.WithKind("OutageToleration"), meta.RESTScopeRoot)
	if !servesOutageTolerations(with) {
		t.Error("not served by a mapper with the kind")
	}
}
