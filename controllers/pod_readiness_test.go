package controllers

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/podtask"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// A running pod with a readiness gate is made Ready once another controller sets the
// gate's condition True, and not Ready once it turns False, as a kubelet re-evaluates
// Ready when its pod changes: no task update need come. So is one whose MesosTask is not
// written yet (its create deferred in a burst).
func TestAGateConditionDecidesARunningPodsReadiness(t *testing.T) {
	const gate corev1.PodConditionType = "example.com/lb-registered"
	for _, tc := range []struct {
		name       string
		gate, want corev1.ConditionStatus
		from       corev1.ConditionStatus // Ready before
		noTask     bool
	}{
		{name: "the gate turned True", gate: corev1.ConditionTrue, want: corev1.ConditionTrue, from: corev1.ConditionFalse},
		{name: "the gate turned False", gate: corev1.ConditionFalse, want: corev1.ConditionFalse, from: corev1.ConditionTrue},
		{name: "the gate turned True, no MesosTask yet", gate: corev1.ConditionTrue, want: corev1.ConditionTrue, from: corev1.ConditionFalse, noTask: true},
		{name: "the gate turned False, no MesosTask yet", gate: corev1.ConditionFalse, want: corev1.ConditionFalse, from: corev1.ConditionTrue, noTask: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1"},
				Spec: corev1.PodSpec{SchedulerName: "mesos", NodeName: "mesos-c-agent-1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
					ReadinessGates: []corev1.PodReadinessGate{{ConditionType: gate}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
					{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, // bound by its Binding
					{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: tc.from},
					{Type: gate, Status: tc.gate}}}}
			mt, node := runningTaskOnAgent()
			objs := []client.Object{pod, mt, node, readyCluster()}
			if tc.noTask {
				objs = []client.Object{pod, node, readyCluster()}
			}
			c := podAPI(t, interceptor.Funcs{}, objs...)
			got := reconcilePod(t, c, pod, 1)
			if podtask.PodReady(&got.Status) != (tc.want == corev1.ConditionTrue) {
				t.Errorf("Ready = %v, want %s: %+v", podtask.PodReady(&got.Status), tc.want, got.Status.Conditions)
			}
		})
	}
}

// The node lifecycle controller sets Ready False on the pods of a Node that stops being
// Ready (every replica of the manager was down); once a manager is back the pod is Ready
// again as its task says, without waiting for the task's next update: once Mesos answered
// for the cluster's tasks since the framework subscribed (the agent may have been lost
// meanwhile), looked at again soon until then. A pod whose container is not ready stays
// not Ready.
func TestAPodMarkedNotReadyByTheNodeLifecycleIsReadyAgain(t *testing.T) {
	for _, tc := range []struct {
		name           string
		containerReady bool
		mesos          answered
		want           bool
	}{
		{"its containers ready", true, answeredSince, true},
		{"a container not ready", false, answeredSince, false},
		{"its containers ready, Mesos not asked since the framework subscribed", true, notAnswered, false},
		{"its containers ready, no framework subscribed", true, noFramework, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			containersReady := corev1.ConditionFalse
			if tc.containerReady {
				containersReady = corev1.ConditionTrue
			}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1"},
				Spec: corev1.PodSpec{SchedulerName: "mesos", NodeName: "mesos-c-agent-1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
					Tolerations: []corev1.Toleration{}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
					{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
					{Type: corev1.ContainersReady, Status: containersReady}, {Type: corev1.PodReady, Status: corev1.ConditionFalse}},
					ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Ready: tc.containerReady,
						State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}}
			mt, node := runningTaskOnAgent()
			c := podAPI(t, interceptor.Funcs{}, pod, mt, node, readyCluster())
			r := &PodReconciler{Client: c, Registry: registryOf(t, tc.mesos)}
			var res ctrl.Result
			for range 2 {
				var err error
				if res, err = r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pod)}); err != nil {
					t.Fatal(err)
				}
			}
			got := &corev1.Pod{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), got); err != nil {
				t.Fatal(err)
			}
			if podtask.PodReady(&got.Status) != tc.want {
				t.Errorf("Ready = %v, want %v: %+v", podtask.PodReady(&got.Status), tc.want, got.Status.Conditions)
			}
			if tc.containerReady && tc.mesos != answeredSince && (res.RequeueAfter <= 0 || res.RequeueAfter > unansweredRecheck) {
				t.Errorf("looked at again after %s, want within %s", res.RequeueAfter, unansweredRecheck)
			}
		})
	}
}

// A running pod whose spec changed (its generation went up: say, its tolerations were
// lengthened) gets a status that says it saw the change, as a kubelet's sync writes it:
// status.observedGeneration and that of the conditions k8sm owns; once, and a readiness
// gate's condition, another controller's, is left as it was.
func TestARunningPodsStatusObservesItsGeneration(t *testing.T) {
	gate := corev1.PodConditionType("example.com/lb")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1", Generation: 2},
		Spec: corev1.PodSpec{SchedulerName: "mesos", NodeName: "mesos-c-agent-1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
			Tolerations: []corev1.Toleration{}, ReadinessGates: []corev1.PodReadinessGate{{ConditionType: gate}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ObservedGeneration: 1, Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, ObservedGeneration: 1},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, ObservedGeneration: 1},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, ObservedGeneration: 1},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, ObservedGeneration: 1},
			{Type: gate, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}}
	mt, node := runningTaskOnAgent()
	writes := 0
	c := podAPI(t, countStatusUpdates(&writes), pod, mt, node, readyCluster())
	got := reconcilePod(t, c, pod, 3)
	if got.Status.ObservedGeneration != 2 {
		t.Errorf("status.observedGeneration = %d, want 2", got.Status.ObservedGeneration)
	}
	for _, cond := range got.Status.Conditions {
		want := int64(2)
		if cond.Type == gate {
			want = 0
		}
		if cond.ObservedGeneration != want {
			t.Errorf("condition %s observedGeneration = %d, want %d", cond.Type, cond.ObservedGeneration, want)
		}
	}
	if !podtask.PodReady(&got.Status) {
		t.Errorf("the pod is no longer Ready: %+v", got.Status.Conditions)
	}
	if writes != 1 {
		t.Errorf("%d status writes, want 1", writes)
	}
}

// A bound pod whose status k8sm has not written yet (the binding's, observedGeneration
// unset) is not written for its generation alone: the task's next update writes it, and
// one more write per pod, racing with that one, cost every pod of a burst an extra status
// write and a conflict.
func TestABoundPodsStatusIsNotWrittenForItsGenerationAlone(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1", Generation: 1},
		Spec: corev1.PodSpec{SchedulerName: "mesos", NodeName: "mesos-c-agent-1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
			Tolerations: []corev1.Toleration{}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}}}
	mt, node := runningTaskOnAgent()
	writes := 0
	c := podAPI(t, countStatusUpdates(&writes), pod, mt, node, readyCluster())
	reconcilePod(t, c, pod, 2)
	if writes != 0 {
		t.Errorf("%d status writes, want none", writes)
	}
}

// A pod the scheduler found unreachable (Ready=False, MesosAgentUnreachable) is not made
// Ready again from a MesosTask read that still says Running: the cache's MesosTask lags
// behind the pod's, and its later updates do not bring the pod here again, so the pod
// would stay Ready while its agent is unreachable.
func TestAPodFoundUnreachableIsNotMadeReadyFromALaggingMesosTask(t *testing.T) {
	for _, reason := range []string{podtask.ReasonAgentUnreachable, podtask.ReasonContainersNotReady} {
		t.Run(reason, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1", Generation: 1},
				Spec: corev1.PodSpec{SchedulerName: "mesos", NodeName: "mesos-c-agent-1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
					Tolerations: []corev1.Toleration{}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, ObservedGeneration: 1, Conditions: []corev1.PodCondition{
					{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, ObservedGeneration: 1},
					{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, ObservedGeneration: 1},
					{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: reason, ObservedGeneration: 1},
					{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: reason, ObservedGeneration: 1}},
					ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}}
			mt, node := runningTaskOnAgent()
			writes := 0
			c := podAPI(t, countStatusUpdates(&writes), pod, mt, node, readyCluster())
			got := reconcilePod(t, c, pod, 1)
			if writes != 0 || podtask.PodReady(&got.Status) {
				t.Errorf("%d status writes, Ready %v; want none, not Ready: %+v", writes, podtask.PodReady(&got.Status), got.Status.Conditions)
			}
		})
	}
}

// runningTaskOnAgent is the MesosTask of pod ns/p (uid u1) of cluster c, Running, and the
// agent's Node its pod is bound to.
func runningTaskOnAgent() (*mesosv1alpha1.MesosTask, *corev1.Node) {
	mt := &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"},
		Spec:   mesosv1alpha1.MesosTaskSpec{ClusterRef: "c", PodUID: "u1", TaskID: "k8sm.u1"},
		Status: mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, MesosState: "TASK_RUNNING"}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "mesos-c-agent-1", Labels: map[string]string{agentnode.LabelCluster: "c"}}}
	return mt, node
}

// reconcilePod runs the Pod reconciler over pod times, and returns the pod as it was
// left.
func reconcilePod(t *testing.T, c client.Client, pod *corev1.Pod, times int) *corev1.Pod {
	t.Helper()
	r := &PodReconciler{Client: c, Registry: scheduler.NewRegistry()}
	for range times {
		if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pod)}); err != nil {
			t.Fatal(err)
		}
	}
	got := &corev1.Pod{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), got); err != nil {
		t.Fatal(err)
	}
	return got
}

// countStatusUpdates counts the status updates made through the client in writes.
func countStatusUpdates(writes *int) interceptor.Funcs {
	return interceptor.Funcs{SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, o client.Object, opts ...client.SubResourceUpdateOption) error {
		*writes++
		return c.SubResource(sub).Update(ctx, o, opts...)
	}}
}

// A running pod the cluster bound whose MesosTask is not written yet (its create is
// deferred in a burst: scheduler.RecordLongest) is made to tolerate an outage all the same,
// where the outage tolerations policy does not give pods their tolerations.
func TestARunningPodWithoutItsMesosTaskYetToleratesOutages(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1"},
		Spec:   corev1.PodSpec{SchedulerName: "mesos", NodeName: "mesos-c-agent-1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}}}
	_, node := runningTaskOnAgent()
	c := podAPI(t, interceptor.Funcs{}, pod, node, readyCluster())
	got := reconcilePod(t, c, pod, 1)
	if _, short := agentnode.OutageTolerations(got.Spec.Tolerations, mesosv1alpha1.DefaultFailoverTimeout); short {
		t.Errorf("tolerations %+v, want the outage tolerations of the failover timeout", got.Spec.Tolerations)
	}
}
