package process

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/executor/process/cgroup"
)

// A busy container's CPU and memory are measured from its cgroup, and its pod's; the
// Node's from /proc.
func TestStatsMeasureABusyContainer(t *testing.T) {
	rt, _ := cgroupRuntime(t)
	runningPod(t, rt, limitedPod(t, corev1.RestartPolicyNever, "64Mi", "500m", "while :; do :; done"))
	var s = struct{ cpu, mem, ctrCPU, ctrMem uint64 }{}
	eventually(t, "the pod uses CPU", func() bool {
		st, err := rt.Stats(context.Background())
		if err != nil || len(st.Pods) != 1 || len(st.Pods[0].Containers) != 1 {
			t.Logf("stats %+v, %v", st, err)
			return false
		}
		if st.Node.CPUUsageNanoSeconds == 0 || st.Node.MemoryWorkingSetBytes == 0 || st.Node.StartTime.IsZero() {
			t.Fatalf("node stats %+v", st.Node)
		}
		ps, cs := st.Pods[0], st.Pods[0].Containers[0]
		if ps.Name != "p" || ps.Namespace != "ns" || cs.Name != "c0" || cs.StartTime.IsZero() {
			t.Fatalf("pod stats %+v", ps)
		}
		s.cpu, s.mem, s.ctrCPU, s.ctrMem = ps.CPUUsageNanoSeconds, ps.MemoryWorkingSetBytes, cs.CPUUsageNanoSeconds, cs.MemoryWorkingSetBytes
		return s.ctrCPU > uint64(50*time.Millisecond) && s.cpu >= s.ctrCPU && s.ctrMem > 0 && s.mem > 0
	})
}

// A pod without a cgroup is left out, not reported as using nothing.
func TestStatsLeaveOutPodsWithoutCgroups(t *testing.T) {
	rt := &Runtime{detect: func() (*cgroup.Manager, error) { return nil, errors.New("no cgroups here") }}
	runningPod(t, rt, shPod(corev1.RestartPolicyNever, "exec sleep 300"))
	st, err := rt.Stats(context.Background())
	if err != nil || len(st.Pods) != 0 || st.Node.CPUUsageNanoSeconds == 0 {
		t.Fatalf("stats %+v, %v; want the node only", st, err)
	}
}
