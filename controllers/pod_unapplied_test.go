package controllers

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/k8sm/k8sm/internal/podtask"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// A running pod's task keeps what it was launched with: Mesos cannot resize a task, and
// the executor never hears of a later spec. A pod resized in place (pods/resize, or VPA
// in InPlaceOrRecreate mode) is told so as a kubelet that cannot resize tells it,
// PodResizePending=True with reason Infeasible, naming what the task holds, and a
// ResizeInfeasible warning, once: its status no longer says the resize was taken in
// silence. The condition goes once the pod asks for what its task holds again. An
// ephemeral container (kubectl debug) never runs: its status says why, and a warning
// tells it once.
func TestASpecChangeARunningTaskCannotTakeIsToldOnThePod(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cpu        string // the container's request now; the task holds 100m
		ephemeral  bool
		pending    bool // PodResizePending before
		wantResize bool
		wantEvent  string
	}{
		{name: "resized", cpu: "200m", wantResize: true, wantEvent: "Warning ResizeInfeasible"},
		{name: "resized, told already", cpu: "200m", pending: true, wantResize: true},
		{name: "resized back", cpu: "100m", pending: true},
		{name: "not resized", cpu: "100m"},
		{name: "an ephemeral container added", cpu: "100m", ephemeral: true, wantEvent: "Warning EphemeralContainerNotRun"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := runningPodAsking("100m")
			mt, node := runningTaskOnAgent()
			mt.Spec.Resources = podtask.ResourcesFor(pod)
			pod.Generation = 2
			pod.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse(tc.cpu)
			if tc.ephemeral {
				pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger", Image: "busybox"}}}
			}
			if tc.pending {
				pod.Status.ObservedGeneration = 2
				for i := range pod.Status.Conditions {
					pod.Status.Conditions[i].ObservedGeneration = 2
				}
				msg := podtask.UnappliedResize(pod, mt.Spec.Resources)
				if msg == "" {
					msg = "resized before"
				}
				pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{Type: corev1.PodResizePending, Status: corev1.ConditionTrue,
					Reason: corev1.PodReasonInfeasible, Message: msg, ObservedGeneration: 2})
			}
			rec := events.NewFakeRecorder(10)
			c := podAPI(t, interceptor.Funcs{}, pod, mt, node, readyCluster())
			r := &PodReconciler{Client: c, Registry: scheduler.NewRegistry(), Recorder: rec}
			for range 2 { // the second pass finds nothing more to write or tell
				if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pod)}); err != nil {
					t.Fatal(err)
				}
			}
			got := &corev1.Pod{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), got); err != nil {
				t.Fatal(err)
			}
			cond := podConditionOf(got, corev1.PodResizePending)
			if tc.wantResize {
				if cond == nil || cond.Status != corev1.ConditionTrue || cond.Reason != corev1.PodReasonInfeasible || cond.ObservedGeneration != 2 ||
					!strings.Contains(cond.Message, "cpus 100m") {
					t.Errorf("PodResizePending = %+v, want True/Infeasible for generation 2 naming the task's cpus 100m", cond)
				}
			} else if cond != nil {
				t.Errorf("PodResizePending = %+v, want none", cond)
			}
			if got.Status.ObservedGeneration != 2 || !podtask.PodReady(&got.Status) {
				t.Errorf("observedGeneration %d, Ready %v; want 2, Ready", got.Status.ObservedGeneration, podtask.PodReady(&got.Status))
			}
			if tc.ephemeral {
				es := got.Status.EphemeralContainerStatuses
				if len(es) != 1 || es[0].Name != "debugger" || es[0].State.Waiting == nil || es[0].State.Waiting.Reason != podtask.ReasonEphemeralNotRun {
					t.Errorf("ephemeral container statuses %+v, want debugger waiting with reason %s", es, podtask.ReasonEphemeralNotRun)
				}
			}
			var evs []string
			for len(rec.Events) > 0 {
				evs = append(evs, <-rec.Events)
			}
			if tc.wantEvent == "" && len(evs) > 0 || tc.wantEvent != "" && (len(evs) != 1 || !strings.HasPrefix(evs[0], tc.wantEvent)) {
				t.Errorf("events %q, want %q once", evs, tc.wantEvent)
			}
		})
	}
}

// runningPodAsking is pod ns/p (uid u1) of generation 1, running and Ready on agent-1,
// its container asking for cpu.
func runningPodAsking(cpu string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1", Generation: 1},
		Spec: corev1.PodSpec{SchedulerName: "mesos", NodeName: "mesos-c-agent-1", Tolerations: []corev1.Toleration{},
			Containers: []corev1.Container{{Name: "c", Image: "busybox", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("64Mi")}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ObservedGeneration: 1, Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, ObservedGeneration: 1},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, ObservedGeneration: 1},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, ObservedGeneration: 1},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, ObservedGeneration: 1}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Image: "busybox", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}}
}

// podConditionOf is a pod's condition of type t, or nil.
func podConditionOf(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}
