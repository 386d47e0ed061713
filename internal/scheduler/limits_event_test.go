package scheduler

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
)

// The pod gets the executor's word that its limits are not enforced, in its condition
// and in one Warning event, however many updates repeat it.
func TestAPodIsToldOnceThatItsLimitsAreNotEnforced(t *testing.T) {
	pod, mt := podWithTask("p", "100m")
	pod.Spec.NodeName = "n"
	mt.Status = mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, MesosState: "TASK_RUNNING"}
	c := fakeAPI(t, pod, mt)
	s, rec := newTestScheduler(c, nil)
	ctx := context.Background()
	for _, data := range []string{
		`{"conditions": [{"type": "Ready", "status": "True"}, {"type": "mesos.k8sm.io/ResourceLimitsEnforced", "status": "False", "reason": "CgroupsUnavailable", "message": "no limit is enforced: no cgroup mount"}]}`,
		`{"podIP": "10.0.0.2", "conditions": [{"type": "Ready", "status": "True"}, {"type": "mesos.k8sm.io/ResourceLimitsEnforced", "status": "False", "reason": "CgroupsUnavailable", "message": "no limit is enforced: no cgroup mount"}]}`,
	} {
		p := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(pod), p); err != nil {
			t.Fatal(err)
		}
		if err := s.writePodStatus(ctx, p, mt, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	var told []string
	for _, e := range drain(rec) {
		if strings.Contains(e, podtask.ReasonResourceLimitsNotEnforced) {
			told = append(told, e)
		}
	}
	if len(told) != 1 || !strings.HasPrefix(told[0], "Warning") || !strings.Contains(told[0], "no cgroup mount") {
		t.Errorf("events %v, want one Warning %s with the reason", told, podtask.ReasonResourceLimitsNotEnforced)
	}
	p := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(pod), p); err != nil {
		t.Fatal(err)
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == podtask.ConditionResourceLimitsEnforced && cond.Status == corev1.ConditionFalse && cond.Reason == "CgroupsUnavailable" {
			return
		}
	}
	t.Errorf("the pod's conditions %+v lack %s=False", p.Status.Conditions, podtask.ConditionResourceLimitsEnforced)
}
