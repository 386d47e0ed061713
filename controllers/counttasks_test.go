package controllers

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

func TestTally(t *testing.T) {
	task := func(name string, phase mesosv1alpha1.TaskPhase) mesosv1alpha1.MesosTask {
		cpus := resource.MustParse("500m")
		return mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
			Spec: mesosv1alpha1.MesosTaskSpec{ClusterRef: "c", PodUID: name, TaskID: "k8sm." + name,
				Resources: mesosv1alpha1.TaskResources{CPUs: &cpus}},
			Status: mesosv1alpha1.MesosTaskStatus{Phase: phase}}
	}
	tasks := []mesosv1alpha1.MesosTask{
		task("queued", ""),
		task("unschedulable", mesosv1alpha1.TaskPhasePending),
		task("launched", ""), // launched, its first update not yet written
		task("staging", mesosv1alpha1.TaskPhaseStaging),
		task("running", mesosv1alpha1.TaskPhaseRunning),
		task("done", mesosv1alpha1.TaskPhaseFinished),
	}
	for _, tc := range []struct {
		name      string
		unwritten func(string) bool // the cluster's scheduler in this process knows of launches
		want      mesosv1alpha1.TaskCounts
		wantCPUs  string
	}{
		{"launches known", func(id string) bool { return id == "k8sm.launched" },
			mesosv1alpha1.TaskCounts{Pending: 2, Launching: 2, Running: 1, Terminated: 1}, "1500m"},
		// After a restart nothing says a task without a phase was launched until
		// reconciliation asks Mesos: it counts as pending.
		{"no scheduler", func(string) bool { return false },
			mesosv1alpha1.TaskCounts{Pending: 3, Launching: 1, Running: 1, Terminated: 1}, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counts, allocated := tally(tasks, tc.unwritten)
			if counts != tc.want {
				t.Errorf("counts = %+v, want %+v", counts, tc.want)
			}
			if got := allocated.CPUs.String(); got != tc.wantCPUs {
				t.Errorf("allocated cpus = %s, want %s", got, tc.wantCPUs)
			}
		})
	}
}

// After a change of spec.executor the cluster shows both executors while the old one's
// pods run out: agents and tasks of each, from the live tasks alone.
func TestExecutorUsage(t *testing.T) {
	task := func(phase mesosv1alpha1.TaskPhase, executor, agent string) mesosv1alpha1.MesosTask {
		return mesosv1alpha1.MesosTask{Status: mesosv1alpha1.MesosTaskStatus{Phase: phase, ExecutorID: executor, AgentID: agent}}
	}
	got := executorUsage([]mesosv1alpha1.MesosTask{
		task(mesosv1alpha1.TaskPhaseRunning, "old", "a1"),
		task(mesosv1alpha1.TaskPhaseRunning, "old", "a1"),
		task(mesosv1alpha1.TaskPhaseKilling, "old", "a2"),
		task(mesosv1alpha1.TaskPhaseRunning, "new", "a1"),
		task(mesosv1alpha1.TaskPhaseStaging, "new", "a3"),
		task(mesosv1alpha1.TaskPhaseFinished, "older", "a1"), // ended: its executor runs nothing
		task(mesosv1alpha1.TaskPhasePending, "", ""),
	})
	want := []mesosv1alpha1.ExecutorUsage{{ID: "new", Agents: 2, Tasks: 2}, {ID: "old", Agents: 2, Tasks: 3}}
	if !slices.Equal(got, want) {
		t.Fatalf("executors = %+v, want %+v", got, want)
	}
	if executorUsage(nil) != nil {
		t.Fatal("no live task: the list is not empty")
	}
}
