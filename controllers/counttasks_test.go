package controllers

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

func TestTally(t *testing.T) {
	task := func(name string, phase mesosv1alpha1.TaskPhase) *mesosv1alpha1.MesosTask {
		cpus := resource.MustParse("500m")
		return &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
			Spec: mesosv1alpha1.MesosTaskSpec{ClusterRef: "c", PodUID: name, TaskID: "k8sm." + name,
				Resources: mesosv1alpha1.TaskResources{CPUs: &cpus}},
			Status: mesosv1alpha1.MesosTaskStatus{Phase: phase}}
	}
	tasks := []*mesosv1alpha1.MesosTask{
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
	task := func(phase mesosv1alpha1.TaskPhase, executor, agent string) *mesosv1alpha1.MesosTask {
		return &mesosv1alpha1.MesosTask{Status: mesosv1alpha1.MesosTaskStatus{Phase: phase, ExecutorID: executor, AgentID: agent}}
	}
	got := executorUsage([]*mesosv1alpha1.MesosTask{
		task(mesosv1alpha1.TaskPhaseRunning, "old", "a1"),
		task(mesosv1alpha1.TaskPhaseRunning, "old", "a1"),
		task(mesosv1alpha1.TaskPhaseKilling, "old", "a2"),
		task(mesosv1alpha1.TaskPhaseRunning, "new", "a1"),
		task(mesosv1alpha1.TaskPhaseStaging, "new", "a3"),
		task(mesosv1alpha1.TaskPhaseFinished, "older", "a1"), // ended: its executor runs nothing
		task(mesosv1alpha1.TaskPhasePending, "", ""),
	}, "new")
	want := []mesosv1alpha1.ExecutorUsage{{ID: "new", Agents: 2, Tasks: 2}, {ID: "old", Agents: 2, Tasks: 3}}
	if !slices.Equal(got, want) {
		t.Fatalf("executors = %+v, want %+v", got, want)
	}
	if executorUsage(nil, "") != nil {
		t.Fatal("no live task: the list is not empty")
	}
}

// Past status.executors' bound (64), the current executor and the busiest others are
// listed: a longer list had every status write of the cluster refused.
func TestExecutorUsageIsBounded(t *testing.T) {
	var tasks []*mesosv1alpha1.MesosTask
	add := func(executor string, n int) {
		for range n {
			tasks = append(tasks, &mesosv1alpha1.MesosTask{Status: mesosv1alpha1.MesosTaskStatus{
				Phase: mesosv1alpha1.TaskPhaseRunning, ExecutorID: executor, AgentID: "a1"}})
		}
	}
	for i := range 70 {
		add(fmt.Sprintf("old-%02d", i), 1+i%3)
	}
	add("current", 1)
	got := executorUsage(tasks, "current")
	if len(got) != maxExecutorsListed {
		t.Fatalf("%d executors listed, want %d", len(got), maxExecutorsListed)
	}
	if !slices.ContainsFunc(got, func(u mesosv1alpha1.ExecutorUsage) bool { return u.ID == "current" }) {
		t.Error("the current executor is not listed")
	}
	byTasks := map[int32]int{}
	for _, u := range got {
		byTasks[u.Tasks]++
	}
	// 23 old executors run 3 tasks, 23 run 2: all listed before those running 1.
	if byTasks[3] != 23 || byTasks[2] != 23 {
		t.Errorf("listed by tasks run: %v, want every executor running 3 and 2 tasks", byTasks)
	}
	if !slices.IsSortedFunc(got, func(a, b mesosv1alpha1.ExecutorUsage) int { return strings.Compare(a.ID, b.ID) }) {
		t.Error("the list is not sorted by id")
	}
}
