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
