package controllers

import (
	"context"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

func TestCountTasks(t *testing.T) {
	task := func(name string, phase mesosv1alpha1.TaskPhase) client.Object {
		cpus := resource.MustParse("500m")
		return &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
			Spec: mesosv1alpha1.MesosTaskSpec{ClusterRef: "c", PodUID: name, TaskID: "k8sm." + name,
				Resources: mesosv1alpha1.TaskResources{CPUs: &cpus}},
			Status: mesosv1alpha1.MesosTaskStatus{Phase: phase}}
	}
	tasks := []client.Object{
		task("queued", ""),
		task("unschedulable", mesosv1alpha1.TaskPhasePending),
		task("launched", ""), // launched, its first update not yet written
		task("staging", mesosv1alpha1.TaskPhaseStaging),
		task("running", mesosv1alpha1.TaskPhaseRunning),
		task("done", mesosv1alpha1.TaskPhaseFinished),
	}
	for _, tc := range []struct {
		name      string
		scheduler bool // the cluster's scheduler runs in this process
		want      mesosv1alpha1.TaskCounts
		wantCPUs  string
	}{
		{"launches known", true, mesosv1alpha1.TaskCounts{Pending: 2, Launching: 2, Running: 1, Terminated: 1}, "1500m"},
		// After a restart nothing says a task without a phase was launched until
		// reconciliation asks Mesos: it counts as pending.
		{"no scheduler", false, mesosv1alpha1.TaskCounts{Pending: 3, Launching: 1, Running: 1, Terminated: 1}, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sch := runtime.NewScheme()
			_ = clientgoscheme.AddToScheme(sch)
			_ = mesosv1alpha1.AddToScheme(sch)
			c := fake.NewClientBuilder().WithScheme(sch).WithObjects(tasks...).
				WithIndex(&mesosv1alpha1.MesosTask{}, ClusterRefIndex, func(o client.Object) []string {
					return []string{o.(*mesosv1alpha1.MesosTask).Spec.ClusterRef}
				}).Build()
			mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}}
			r := &MesosClusterReconciler{Client: c, Drivers: &Drivers{}}
			if tc.scheduler {
				s := r.Drivers.ensureScheduler("c", func() *PodScheduler {
					return NewPodScheduler(c, events.NewFakeRecorder(10), logr.Discard(), mc)
				})
				s.launches["k8sm.launched"] = launchInfo{agentID: "a1", hostname: "h1", at: metav1.Now()}
			}
			st := &mesosv1alpha1.MesosClusterStatus{}
			if err := r.countTasks(context.Background(), mc, st); err != nil {
				t.Fatal(err)
			}
			if *st.Tasks != tc.want {
				t.Errorf("counts = %+v, want %+v", *st.Tasks, tc.want)
			}
			if got := st.Allocated.CPUs.String(); got != tc.wantCPUs {
				t.Errorf("allocated cpus = %s, want %s", got, tc.wantCPUs)
			}
		})
	}
}
