package scheduler

import (
	"context"
	"slices"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
)

// A pod force-deleted and made again under the same name (a StatefulSet's) while its
// task had not reported: the old task's update names the pod by name alone (this
// process's launch record, or a MesosTask of that name), and the MesosTask or pod found
// so may be the new pod's. It is not the old task's owner: the old task is killed, as
// any task nothing owns, and the new pod and its MesosTask are left as they are.
func TestAnOldTasksUpdateIsNotWrittenToANewPodOfTheSameName(t *testing.T) {
	newPod := func() *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u2"},
			Spec: corev1.PodSpec{NodeName: "mesos-c-agent-2"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	}
	newTask := func() *mesosv1alpha1.MesosTask {
		return &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"},
			Spec:   mesosv1alpha1.MesosTaskSpec{ClusterRef: "c", PodUID: "u2", TaskID: "k8sm.u2"},
			Status: mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, MesosState: "TASK_RUNNING", AgentID: "a-2", Hostname: "agent-2"}}
	}
	for _, tc := range []struct {
		name      string
		objs      []client.Object
		launched  bool // this process launched the old task, and noted its pod by name
		state     mesos.TaskState
		wantKills []string
	}{
		{name: "the new pod's MesosTask, the old task running", objs: []client.Object{newPod(), newTask()}, launched: true,
			state: mesos.TASK_RUNNING, wantKills: []string{"k8sm.u1"}},
		{name: "the new pod's MesosTask, the old task failed", objs: []client.Object{newPod(), newTask()}, launched: true,
			state: mesos.TASK_FAILED},
		{name: "the new pod bound, its MesosTask not written", objs: []client.Object{newPod()}, launched: true,
			state: mesos.TASK_RUNNING, wantKills: []string{"k8sm.u1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeAPI(t, tc.objs...)
			d := newFakeDriver()
			s, _ := newTestScheduler(c, d)
			ctx := context.Background()
			key := client.ObjectKey{Namespace: "ns", Name: "p"}
			if tc.launched {
				s.noteLaunch("k8sm.u1", launchNow("a-1", "agent-1"), &key)
			}
			before := &mesosv1alpha1.MesosTask{}
			_ = c.Get(ctx, key, before)

			if err := s.persist(ctx, mesos.TaskStatus{TaskID: mesos.TaskID{Value: "k8sm.u1"}, State: tc.state.Enum(),
				AgentID: &mesos.AgentID{Value: "a-1"}, UUID: []byte("0123456789abcdef"), Source: mesos.SOURCE_EXECUTOR.Enum()}); err != nil {
				t.Fatal(err)
			}

			if !slices.Equal(d.kills, tc.wantKills) {
				t.Errorf("kills = %v, want %v", d.kills, tc.wantKills)
			}
			after := &mesosv1alpha1.MesosTask{}
			_ = c.Get(ctx, key, after)
			if after.Spec.TaskID != before.Spec.TaskID || after.ResourceVersion != before.ResourceVersion {
				t.Errorf("the MesosTask of the name became %s (%s, agent %s), was %s", after.Spec.TaskID, after.Status.Phase, after.Status.AgentID, before.Spec.TaskID)
			}
			pod := &corev1.Pod{}
			if err := c.Get(ctx, key, pod); err != nil {
				t.Fatal(err)
			}
			if pod.Status.Phase != corev1.PodRunning {
				t.Errorf("the new pod is %s, want Running as it was", pod.Status.Phase)
			}
			if s.LaunchUnwritten("k8sm.u1") {
				t.Error("the old task's launch is still noted")
			}
		})
	}
}

// An old pod's MesosTask (its launch not filled in, its task's first update coming
// late) learns where the task runs from the update and from its own pod's Node, never
// from the Node of a new pod of the same name.
func TestALaunchIsNotFilledInFromANewPodOfTheSameName(t *testing.T) {
	old := &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"},
		Spec: mesosv1alpha1.MesosTaskSpec{ClusterRef: "c", PodUID: "u1", TaskID: "k8sm.u1"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u2"}, Spec: corev1.PodSpec{NodeName: "mesos-c-agent-2"}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "mesos-c-agent-2",
		Annotations: map[string]string{agentnode.AnnotationAgentID: "a-2"}, Labels: map[string]string{corev1.LabelHostname: "agent-2", agentnode.LabelCluster: "c"}}}
	c := fakeAPI(t, old, pod, node)
	s, _ := newTestScheduler(c, newFakeDriver())
	ctx := context.Background()

	if err := s.persist(ctx, mesos.TaskStatus{TaskID: mesos.TaskID{Value: "k8sm.u1"}, State: mesos.TASK_RUNNING.Enum(),
		AgentID: &mesos.AgentID{Value: "a-1"}, UUID: []byte("0123456789abcdef"), Source: mesos.SOURCE_EXECUTOR.Enum()}); err != nil {
		t.Fatal(err)
	}

	got := &mesosv1alpha1.MesosTask{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(old), got); err != nil {
		t.Fatal(err)
	}
	if got.Status.AgentID != "a-1" || got.Status.Hostname == "agent-2" {
		t.Errorf("the old task's MesosTask says agent %q on %q, want a-1 and not the new pod's host", got.Status.AgentID, got.Status.Hostname)
	}
}

// The update of a bound pod's task, where the MesosTask of the pod's name is an earlier
// pod's (a new leader recorded it from the tasks Mesos holds, or its copy of the
// MesosTasks lagged behind the last leader's), is the bound pod's: its binding records
// the launch. It is written again later, once that MesosTask went, and the running
// pod's task is not killed.
func TestABoundPodsUpdateWaitsOutAnEarlierPodsMesosTask(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u2"},
		Spec: corev1.PodSpec{NodeName: "mesos-c-agent-2"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	earlier := &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"},
		Spec:   mesosv1alpha1.MesosTaskSpec{ClusterRef: "c", PodUID: "u1", TaskID: "k8sm.u1"},
		Status: mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, MesosState: "TASK_RUNNING", AgentID: "a-1", Hostname: "agent-1"}}
	c := fakeAPI(t, pod, earlier)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	err := s.persist(ctx, mesos.TaskStatus{TaskID: mesos.TaskID{Value: "k8sm.u2"}, State: mesos.TASK_RUNNING.Enum(),
		AgentID: &mesos.AgentID{Value: "a-2"}, UUID: []byte("0123456789abcdef"), Source: mesos.SOURCE_EXECUTOR.Enum()})
	if err == nil {
		t.Fatal("the update was taken as written, want it written again later")
	}
	if len(d.kills) != 0 {
		t.Errorf("kills = %v, want none: the task is the bound pod's", d.kills)
	}
	mt := &mesosv1alpha1.MesosTask{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(pod), mt); err != nil || mt.Spec.TaskID != "k8sm.u1" {
		t.Errorf("the earlier MesosTask became %+v (%v)", mt.Spec, err)
	}

	// Once it went, the update is the bound pod's first.
	if err := c.Delete(ctx, earlier); err != nil {
		t.Fatal(err)
	}
	if err := s.persist(ctx, mesos.TaskStatus{TaskID: mesos.TaskID{Value: "k8sm.u2"}, State: mesos.TASK_RUNNING.Enum(),
		AgentID: &mesos.AgentID{Value: "a-2"}, UUID: []byte("0123456789abcdef"), Source: mesos.SOURCE_EXECUTOR.Enum()}); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(pod), mt); err != nil || mt.Spec.TaskID != "k8sm.u2" || len(d.kills) != 0 {
		t.Errorf("after the earlier MesosTask went: %+v (%v), kills %v", mt.Spec, err, d.kills)
	}
}
