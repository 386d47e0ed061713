package scheduler

import (
	"runtime"
	"testing"
	"weak"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// TestLaunchNewsKeepsNotTheTaskInfo: the news of a launch waits in its worker's queue
// behind the updates queued before it (thousands, in a burst), so it must not keep the
// TaskInfo, which carries the pod for the executor.
func TestLaunchNewsKeepsNotTheTaskInfo(t *testing.T) {
	s := New(&mesosv1alpha1.MesosCluster{}, Options{})
	// The TaskInfo is only ever in this function's frame, so that nothing but the queued
	// news can keep it once it returns.
	kept := func() weak.Pointer[mesos.TaskInfo] {
		ti := &mesos.TaskInfo{TaskID: mesos.TaskID{Value: "k8sm.u1"}, AgentID: mesos.AgentID{Value: "a1"}, Data: make([]byte, 4096)}
		s.launched(ti)
		return weak.Make(ti)
	}()
	runtime.GC()
	if kept.Value() != nil {
		t.Fatal("the queued news of a launch keeps its TaskInfo")
	}
	u, ok := s.updates[shardOf("k8sm.u1")].Pop()
	if !ok || !u.launched || u.status.TaskID.Value != "k8sm.u1" || u.status.AgentID.GetValue() != "a1" {
		t.Fatalf("queued %+v, %v; want the launch of k8sm.u1 on a1", u, ok)
	}
}
