package scheduler

import (
	"context"
	"fmt"
	"maps"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/podtask"
)

// With the MesosTasks in memory a new leader holds none: before it asks Mesos, it makes
// the record of each bound pod whose status shows its task ran, so that Mesos's answer
// only confirms it (no write); a pod that shows nothing reported gets its record from
// the answer, as before. Without TasksInMemory nothing is written before the answers.
func TestANewLeaderRemakesTheRecordsOfTasksThatRan(t *testing.T) {
	for _, remake := range []bool{true, false} {
		t.Run(map[bool]string{true: "remade", false: "from the answers"}[remake], func(t *testing.T) {
			ran, _ := podWithTask("ran", "100m")
			ran.Spec.NodeName = "mesos-c-agent-2"
			started := metav1.Now()
			ran.Status = corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &started,
				ContainerStatuses: []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}}}}
			staging, _ := podWithTask("staging", "100m")
			staging.Spec.NodeName = "mesos-c-agent-2"
			podtask.MarkLaunched(&staging.Status, started) // bound by another, its launch sent
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "mesos-c-agent-2",
				Annotations: map[string]string{agentnode.AnnotationAgentID: "a-2"}, Labels: map[string]string{corev1.LabelHostname: "agent-2", agentnode.LabelCluster: "c"}}}
			objs := []client.Object{ran, staging, node}
			// More that ran: every one gets its record in the same pass.
			var more []*corev1.Pod
			for i := range 5 {
				p := ran.DeepCopy()
				p.Name, p.UID = fmt.Sprintf("ran-%d", i), types.UID(fmt.Sprintf("uid-ran-%d", i))
				more = append(more, p)
				objs = append(objs, p)
			}
			c := fakeAPI(t, objs...)
			d := newFakeDriver()
			s, _ := newTestScheduler(c, d)
			s.TasksInMemory = remake

			s.reconcileTasks(context.Background(), d)

			ranID, stagingID := podtask.TaskIDFor(ran), podtask.TaskIDFor(staging)
			want := map[string]string{ranID: "a-2", stagingID: "a-2"}
			for _, p := range more {
				want[podtask.TaskIDFor(p)] = "a-2"
			}
			if len(d.reconciles) != 2 || !maps.Equal(d.reconciles[0], want) {
				t.Fatalf("reconciliations = %v, want explicit %v then implicit", d.reconciles, want)
			}
			mt := &mesosv1alpha1.MesosTask{}
			err := c.Get(context.Background(), client.ObjectKeyFromObject(ran), mt)
			if !remake {
				if err == nil {
					t.Fatalf("a record written before Mesos answered: %+v", mt.Status)
				}
				return
			}
			if err != nil {
				t.Fatalf("no record remade before asking: %v", err)
			}
			if mt.Status.Phase != mesosv1alpha1.TaskPhaseRunning || mt.Status.AgentID != "a-2" || mt.Status.Hostname != "agent-2" || mt.Spec.TaskID != ranID {
				t.Fatalf("remade %+v", mt.Status)
			}
			for _, p := range more {
				if err := c.Get(context.Background(), client.ObjectKeyFromObject(p), &mesosv1alpha1.MesosTask{}); err != nil {
					t.Errorf("no record remade for %s: %v", p.Name, err)
				}
			}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(staging), &mesosv1alpha1.MesosTask{}); err == nil {
				t.Fatal("a record remade for a pod that shows nothing reported")
			}
			version := mt.ResourceVersion
			answer(s, ranID, "a-2", mesos.TASK_RUNNING)
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(ran), mt); err != nil || mt.ResourceVersion != version {
				t.Fatalf("Mesos's answer that confirms the remade record wrote it again (%v): %+v", err, mt.Status)
			}
			answer(s, stagingID, "a-2", mesos.TASK_RUNNING)
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(staging), mt); err != nil || mt.Status.Phase != mesosv1alpha1.TaskPhaseRunning {
				t.Fatalf("the answer made no record of the task not remade (%v): %+v", err, mt.Status)
			}
			for _, p := range more {
				answer(s, podtask.TaskIDFor(p), "a-2", mesos.TASK_RUNNING)
			}
			if !d.isReconciled() {
				t.Fatal("not reconciled once Mesos answered for each task")
			}
		})
	}
}
