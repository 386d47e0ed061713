package controllers

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/podtask"
	"github.com/k8sm/k8sm/internal/scheduler"
	"github.com/k8sm/k8sm/internal/testapi"
)

// Once Mesos removed a cluster's framework (a Mesos operator tore it down, or its
// failover timeout passed), it has killed every task of it and reports on none: a pod
// whose task may run is Failed, its MesosTask Gone, both saying why, and a deleted one is
// removed at once instead of waiting for a subscription that never comes. A pod never
// launched is left to wait: Mesos ended nothing of it, and a cluster made again takes
// it. A refusal of another kind, or a cluster subscribed again (a new framework), ends
// nothing.
func TestThePodsOfARemovedFrameworkEndAsMesosEndedTheirTasks(t *testing.T) {
	removed := removedCluster()
	refused := readyCluster()
	refused.Status.Conditions[0] = metav1.Condition{Type: mesosv1alpha1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: framework.ReasonSubscribeRefused, Message: "Mesos refused the framework: Not authorized to register a framework with role 'jobs-completed'"}
	takenOver := refused.DeepCopy()
	takenOver.Status.Conditions[0].Reason = ReasonFrameworkTakenOver
	for _, tc := range []struct {
		name    string
		cluster *mesosv1alpha1.MesosCluster
		deleted bool
		node    string                  // the pod's
		task    mesosv1alpha1.TaskPhase // its MesosTask's, none when empty
		log     []string
		ended   bool // the pod Failed and its MesosTask Gone, for the framework's removal
	}{
		{name: "running", cluster: removed, node: "mesos-c-agent-1", task: mesosv1alpha1.TaskPhaseRunning, log: []string{"status Failed"}, ended: true},
		{name: "unreachable", cluster: removed, node: "mesos-c-agent-1", task: mesosv1alpha1.TaskPhaseUnreachable, log: []string{"status Failed"}, ended: true},
		{name: "deleted, running", cluster: removed, deleted: true, node: "mesos-c-agent-1", task: mesosv1alpha1.TaskPhaseRunning,
			log: []string{"status Failed", "delete"}, ended: true},
		{name: "bound, its task not reported yet", cluster: removed, node: "mesos-c-agent-1", log: []string{"status Failed"}, ended: true},
		{name: "deleted, bound, its task not reported yet", cluster: removed, deleted: true, node: "mesos-c-agent-1",
			log: []string{"status Failed", "delete"}, ended: true},
		{name: "queued, never launched", cluster: removed},
		{name: "another refusal", cluster: refused, node: "mesos-c-agent-1", task: mesosv1alpha1.TaskPhaseRunning},
		{name: "deleted, another refusal", cluster: refused, deleted: true, node: "mesos-c-agent-1", task: mesosv1alpha1.TaskPhaseRunning},
		{name: "deleted, taken over", cluster: takenOver, deleted: true, node: "mesos-c-agent-1", task: mesosv1alpha1.TaskPhaseRunning},
		{name: "subscribed again", cluster: readyCluster(), node: "mesos-c-agent-1", task: mesosv1alpha1.TaskPhaseRunning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := runningPod(tc.node)
			if tc.deleted {
				now := metav1.Now()
				pod.DeletionTimestamp = &now
				pod.Finalizers = []string{"batch.kubernetes.io/job-tracking"}
			}
			mt, node := runningTaskOnAgent()
			objs := []client.Object{pod, node, tc.cluster}
			if tc.task != "" {
				mt.Status.Phase = tc.task
				objs = append(objs, mt)
			}
			var log testapi.PodWrites
			c := podAPI(t, log.Funcs(), objs...)
			r := &PodReconciler{Client: c, Registry: scheduler.NewRegistry()}

			res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pod)})
			if err != nil {
				t.Fatal(err)
			}

			if got := log.List(); !slices.Equal(got, tc.log) {
				t.Errorf("pod writes = %v, want %v (result %+v)", got, tc.log, res)
			}
			got := &corev1.Pod{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), got); err != nil {
				t.Fatal(err)
			}
			if !tc.ended {
				if got.Status.Phase != pod.Status.Phase {
					t.Errorf("the pod is %s, want it left %s", got.Status.Phase, pod.Status.Phase)
				}
				return
			}
			if got.Status.Phase != corev1.PodFailed || got.Status.Reason != podtask.ReasonFrameworkRemoved ||
				!strings.Contains(got.Status.Message, "removed framework fw-1") || podtask.PodReady(&got.Status) {
				t.Errorf("the pod is %s/%s %q, Ready %v; want Failed/%s saying the framework was removed, not Ready",
					got.Status.Phase, got.Status.Reason, got.Status.Message, podtask.PodReady(&got.Status), podtask.ReasonFrameworkRemoved)
			}
			if tc.task == "" {
				return
			}
			gotTask := &mesosv1alpha1.MesosTask{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(mt), gotTask); err != nil {
				t.Fatal(err)
			}
			if st := gotTask.Status; st.Phase != mesosv1alpha1.TaskPhaseGone || st.PodPhase != corev1.PodFailed ||
				st.Reason != podtask.ReasonFrameworkRemoved || st.FinishedAt == nil {
				t.Errorf("the MesosTask is %s (pod %s), reason %s, finished at %v; want Gone (pod Failed), reason %s, finished",
					st.Phase, st.PodPhase, st.Reason, st.FinishedAt, podtask.ReasonFrameworkRemoved)
			}
		})
	}
}

// A deleted pod of a cluster whose framework was refused for another reason than its
// removal waits for the framework to subscribe again, to kill its task.
func TestADeletedPodWaitsThroughARefusalOtherThanARemoval(t *testing.T) {
	refused := readyCluster()
	refused.Status.Conditions[0] = metav1.Condition{Type: mesosv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: framework.ReasonSubscribeRefused}
	pod := runningPod("mesos-c-agent-1")
	now := metav1.Now()
	pod.DeletionTimestamp, pod.Finalizers = &now, []string{"example.com/hold"}
	mt, node := runningTaskOnAgent()
	c := podAPI(t, (&testapi.PodWrites{}).Funcs(), pod, mt, node, refused)
	r := &PodReconciler{Client: c, Registry: scheduler.NewRegistry()}
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pod)})
	if err != nil || res.RequeueAfter != 2*time.Second {
		t.Errorf("Reconcile = %+v, %v; want to look again in 2s", res, err)
	}
}

// removedCluster is readyCluster once Mesos removed its framework fw-1.
func removedCluster() *mesosv1alpha1.MesosCluster {
	mc := readyCluster()
	mc.Status.FrameworkID = "fw-1"
	mc.Status.Conditions[0] = metav1.Condition{Type: mesosv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: ReasonFrameworkRemoved,
		Message: "Mesos removed framework fw-1 (its failover timeout passed, or it was torn down): Framework has been removed"}
	return mc
}

// runningPod is pod ns/p (uid u1) of schedulerName mesos, bound to node (unbound and
// Pending when empty), Running and Ready once bound.
func runningPod(node string) *corev1.Pod {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1"},
		Spec: corev1.PodSpec{SchedulerName: "mesos", NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
			Tolerations: []corev1.Toleration{}},
		Status: corev1.PodStatus{Phase: corev1.PodPending}}
	if node == "" {
		return pod
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
		{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}
	return pod
}

// Once Mesos removed a cluster's framework, its Ready condition says so, and that change
// brings every pod of the cluster to the Pod reconciler, its running pods too: they
// fail now, not at their next change. Before, only the pods it may take or must remove
// are.
func TestTheRemovalOfAFrameworkBringsItsRunningPods(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cluster *mesosv1alpha1.MesosCluster
		want    []string
	}{
		{"subscribed", readyCluster(), []string{"ns/queued"}},
		{"removed", removedCluster(), []string{"ns/queued", "ns/running"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			running := runningPod("mesos-c-agent-1")
			running.Name = "running"
			queued := runningPod("")
			queued.Name, queued.UID = "queued", "u2"
			c := podAPI(t, interceptor.Funcs{}, running, queued, tc.cluster)
			r := &PodReconciler{Client: c, Registry: scheduler.NewRegistry()}
			var got []string
			for _, req := range r.podsOfCluster(context.Background(), tc.cluster) {
				got = append(got, req.String())
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("pods looked at = %v, want %v", got, tc.want)
			}
		})
	}
}
