package process

import (
	"errors"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/executor"
	"github.com/k8sm/k8sm/executor/process/cgroup"
)

// Reports reach the executor in the order their statuses were taken, so the last one
// delivered is the pod's latest state: a report held up (its update on its way to a
// slow agent) while the container dies and a probe's goroutine reports it dead must not
// come last, leaving the pod Ready with a dead container.
func TestAStaleStatusNeverOvertakesANewerOne(t *testing.T) {
	p := shPod(corev1.RestartPolicyAlways, "sleep 300")
	rt := &Runtime{HostIP: "127.0.0.1", detect: func() (*cgroup.Manager, error) { return nil, errors.New("no cgroups here") }}
	var mu sync.Mutex
	var delivered []executor.Report
	calls := 0
	inFirst, release := make(chan struct{}), make(chan struct{})
	report := func(r executor.Report) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			close(inFirst)
			<-release
		}
		mu.Lock()
		delivered = append(delivered, r)
		mu.Unlock()
	}
	c := &container{spec: p.Spec.Containers[0], status: waiting(p.Spec.Containers[0], "ContainerCreating")}
	pd := &pod{rt: rt, pod: p, report: report, kill: make(chan struct{}), initialized: true, limits: rt.limitsFor(p), mains: []*container{c}}
	yes := true
	pd.mu.Lock()
	c.status.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	c.status.Started, c.status.Ready = &yes, true
	pd.mu.Unlock()
	go pd.send("") // Running and Ready, held in the report
	<-inFirst
	pd.mu.Lock()
	c.status.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "Error"}}
	c.status.Ready = false
	pd.mu.Unlock()
	pd.send("") // the container is dead
	close(release)
	eventually(t, "both statuses were reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(delivered) == 2
	})
	last := delivered[1].Status
	if cs := last.ContainerStatuses[0]; cs.Ready || cs.State.Terminated == nil || last.Conditions[2].Status != corev1.ConditionFalse {
		t.Fatalf("the last status reported is a stale one: container %+v, Ready %s", cs.State, last.Conditions[2].Status)
	}
}

// A pod whose containers all started is Running until its end is reported, as a
// kubelet has it, also while its containers stop (killed, or ended before the pod's end
// is reported); Pending is only for a container that never started. Before, a pod whose
// only container had stopped was reported Pending, and its task went from TASK_RUNNING
// back to TASK_STARTING.
func TestAPodWhoseContainersStartedStaysRunningAsTheyStop(t *testing.T) {
	terminated := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "Error"}}
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	for _, tc := range []struct {
		name   string
		states []corev1.ContainerState
		want   corev1.PodPhase
	}{
		{"one container stopped", []corev1.ContainerState{terminated}, corev1.PodRunning},
		{"both stopped", []corev1.ContainerState{terminated, terminated}, corev1.PodRunning},
		{"one running, one stopped", []corev1.ContainerState{running, terminated}, corev1.PodRunning},
		{"one never started", []corev1.ContainerState{terminated, {}}, corev1.PodPending},
		{"none started", []corev1.ContainerState{{}}, corev1.PodPending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := shPod(corev1.RestartPolicyNever, "sleep 300")
			rt := &Runtime{HostIP: "127.0.0.1"}
			pd := &pod{rt: rt, pod: p, initialized: true, limits: rt.limitsFor(p)}
			for _, s := range tc.states {
				c := &container{spec: p.Spec.Containers[0], status: waiting(p.Spec.Containers[0], "ContainerCreating")}
				if s.Running != nil || s.Terminated != nil {
					c.status.State = s
				}
				pd.mains = append(pd.mains, c)
			}
			if got := pd.statusLocked().Phase; got != tc.want {
				t.Errorf("phase = %s, want %s", got, tc.want)
			}
		})
	}
}
