package podtask

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// The executor's process runtime says whether it enforces a pod's resource limits in
// a condition of its own: the pod gets it as the executor says it, in every phase the
// executor reports, and keeps it while the executor says nothing of it.
func TestPodStatusCarriesTheResourceLimitsCondition(t *testing.T) {
	notEnforced := `{"conditions": [{"type": "Ready", "status": "True"}, ` +
		`{"type": "mesos.k8sm.io/ResourceLimitsEnforced", "status": "False", "reason": "CgroupsUnavailable", "message": "no limit is enforced: no cgroup mount"}, ` +
		`{"type": "example.com/Other", "status": "True"}]}`
	enforced := `{"conditions": [{"type": "mesos.k8sm.io/ResourceLimitsEnforced", "status": "True", "reason": "CgroupsEnforced"}]}`
	had := corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
		{Type: ConditionResourceLimitsEnforced, Status: corev1.ConditionFalse, Reason: "ControllerMissing", Message: "cpu limit not enforced"}}}
	for _, tc := range []struct {
		name  string
		phase mesosv1alpha1.TaskPhase
		pod   corev1.PodStatus
		data  string
		want  string // status/reason: message, or "" for none
	}{
		{"starting, not enforced", mesosv1alpha1.TaskPhaseStarting, corev1.PodStatus{Phase: corev1.PodPending}, notEnforced,
			"False/CgroupsUnavailable: no limit is enforced: no cgroup mount"},
		{"running, not enforced", mesosv1alpha1.TaskPhaseRunning, corev1.PodStatus{Phase: corev1.PodPending}, notEnforced,
			"False/CgroupsUnavailable: no limit is enforced: no cgroup mount"},
		{"failed, not enforced", mesosv1alpha1.TaskPhaseFailed, corev1.PodStatus{Phase: corev1.PodRunning}, notEnforced,
			"False/CgroupsUnavailable: no limit is enforced: no cgroup mount"},
		{"running, enforced", mesosv1alpha1.TaskPhaseRunning, corev1.PodStatus{Phase: corev1.PodPending}, enforced, "True/CgroupsEnforced: "},
		{"enforced after it was not", mesosv1alpha1.TaskPhaseRunning, had, enforced, "True/CgroupsEnforced: "},
		{"the executor says nothing of it: kept", mesosv1alpha1.TaskPhaseRunning, had, `{"podIP": "10.0.0.2"}`,
			"False/ControllerMissing: cpu limit not enforced"},
		{"no condition, none made up", mesosv1alpha1.TaskPhaseRunning, corev1.PodStatus{Phase: corev1.PodPending}, `{"podIP": "10.0.0.2"}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &mesosv1alpha1.MesosTaskStatus{Phase: tc.phase, MesosState: "TASK_X"}
			got := PodStatusFor(&corev1.Pod{Status: tc.pod}, st, []byte(tc.data))
			c, s := podCondition(&got, ConditionResourceLimitsEnforced), ""
			if c != nil {
				s = string(c.Status) + "/" + c.Reason + ": " + c.Message
			}
			if s != tc.want {
				t.Errorf("condition %q, want %q", s, tc.want)
			}
			if podCondition(&got, "example.com/Other") != nil {
				t.Error("a condition of the executor k8sm does not know reached the pod")
			}
		})
	}
}

func limitsStatus(status corev1.ConditionStatus) *corev1.PodStatus {
	s := &corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	if status != "" {
		s.Conditions = append(s.Conditions, corev1.PodCondition{Type: ConditionResourceLimitsEnforced, Status: status,
			Reason: "ControllerMissing", Message: "memory limit not enforced: no memory controller"})
	}
	return s
}

// A Warning event when the condition turns False: from absent, True or Unknown; none
// while it stays False, nor for any other change.
func TestResourceLimitsEventWhenTheConditionTurnsFalse(t *testing.T) {
	const none = corev1.ConditionStatus("")
	for _, tc := range []struct {
		before, after corev1.ConditionStatus
		event         bool
	}{
		{none, corev1.ConditionFalse, true},
		{corev1.ConditionTrue, corev1.ConditionFalse, true},
		{corev1.ConditionUnknown, corev1.ConditionFalse, true},
		{corev1.ConditionFalse, corev1.ConditionFalse, false},
		{none, none, false},
		{none, corev1.ConditionTrue, false},
		{corev1.ConditionFalse, corev1.ConditionTrue, false},
		{corev1.ConditionFalse, none, false},
		{corev1.ConditionTrue, corev1.ConditionTrue, false},
	} {
		t.Run(string(tc.before)+"→"+string(tc.after), func(t *testing.T) {
			ev, ok := ResourceLimitsEvent(limitsStatus(tc.before), limitsStatus(tc.after))
			if ok != tc.event {
				t.Fatalf("event %v, want %v", ok, tc.event)
			}
			if ok && (ev.Type != corev1.EventTypeWarning || ev.Reason != ReasonResourceLimitsNotEnforced ||
				!strings.Contains(ev.Message, "ControllerMissing") || !strings.Contains(ev.Message, "memory limit not enforced")) {
				t.Errorf("event %+v", ev)
			}
		})
	}
}

// As the scheduler writes a pod's status from each update: the first report that the
// limits are not enforced makes one event, the reports after it none.
func TestResourceLimitsEventIsRecordedOnce(t *testing.T) {
	pod := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}
	updates := []struct {
		phase mesosv1alpha1.TaskPhase
		data  string
	}{
		{mesosv1alpha1.TaskPhaseStarting, `{"containerStatuses": [{"name": "c"}]}`},
		{mesosv1alpha1.TaskPhaseStarting, `{"conditions": [{"type": "mesos.k8sm.io/ResourceLimitsEnforced", "status": "False", "reason": "CgroupsUnavailable"}], "containerStatuses": [{"name": "c"}]}`},
		{mesosv1alpha1.TaskPhaseRunning, `{"conditions": [{"type": "mesos.k8sm.io/ResourceLimitsEnforced", "status": "False", "reason": "CgroupsUnavailable"}], "containerStatuses": [{"name": "c", "ready": true}]}`},
		{mesosv1alpha1.TaskPhaseFailed, `{"conditions": [{"type": "mesos.k8sm.io/ResourceLimitsEnforced", "status": "False", "reason": "CgroupsUnavailable"}]}`},
	}
	var events []int
	for i, u := range updates {
		desired := PodStatusFor(pod, &mesosv1alpha1.MesosTaskStatus{Phase: u.phase, MesosState: "TASK_X"}, []byte(u.data))
		if _, ok := ResourceLimitsEvent(&pod.Status, &desired); ok {
			events = append(events, i)
		}
		pod.Status = desired
	}
	if len(events) != 1 || events[0] != 1 {
		t.Errorf("events at updates %v, want one, at the first that says False (1)", events)
	}
}
