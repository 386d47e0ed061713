package podtask

import (
	"runtime"
	"testing"
	"weak"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sm/k8sm/internal/placement"
)

// TestTaskInfoKeepsNoPointerIntoThePod: a TaskInfo outlives its launch round (the news
// of the launch waits behind a burst's updates), so a pointer into the pod it was built
// from would keep the pod too.
func TestTaskInfoKeepsNoPointerIntoThePod(t *testing.T) {
	// The pod is only ever in this function's frame, so that nothing but the TaskInfo
	// can keep it once it returns.
	build := func() (mesos.TaskInfo, weak.Pointer[corev1.Pod], error) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u-1"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		a := placement.Assignment{Request: placement.Request{ID: TaskIDFor(pod)}, AgentID: mesos.AgentID{Value: "S1"}}
		ti, err := BuildTaskInfo(pod, a, mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: "e"}}, defaultSecurity)
		return ti, weak.Make(pod), err
	}
	ti, kept, err := build()
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	if kept.Value() != nil {
		t.Fatal("the TaskInfo keeps the pod it was built from")
	}
	if got := ti.Labels.Labels[0].GetValue() + "/" + ti.Labels.Labels[1].GetValue(); got != "ns/web" {
		t.Fatalf("labels name %q, want ns/web", got)
	}
}
