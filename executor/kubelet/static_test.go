package kubelet

import (
	"bytes"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The runtime's pod in the kubelet is a static pod (config source "file", which only the
// kubelet sets) carrying the API pod's UID, and the task's ID when the task has one.
func TestIsStaticPodOf(t *testing.T) {
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		task        string
		want        bool
	}{
		{name: "the static pod of the task", annotations: map[string]string{annotationConfigSource: "file", AnnotationPodUID: "uid-1", AnnotationTaskID: "t1"}, task: "t1", want: true},
		{name: "the static pod, any task", annotations: map[string]string{annotationConfigSource: "file", AnnotationPodUID: "uid-1", AnnotationTaskID: "t1"}, want: true},
		{name: "a static pod without a task, for a pod without one", annotations: map[string]string{annotationConfigSource: "file", AnnotationPodUID: "uid-1"}, want: true},
		{name: "a static pod without a task, for a task", annotations: map[string]string{annotationConfigSource: "file", AnnotationPodUID: "uid-1"}, task: "t1"},
		{name: "another task's static pod", annotations: map[string]string{annotationConfigSource: "file", AnnotationPodUID: "uid-1", AnnotationTaskID: "t0"}, task: "t1"},
		{name: "another pod's static pod", annotations: map[string]string{annotationConfigSource: "file", AnnotationPodUID: "uid-2", AnnotationTaskID: "t1"}, task: "t1"},
		{name: "a pod of the API server naming the pod and task", annotations: map[string]string{annotationConfigSource: "api", AnnotationPodUID: "uid-1", AnnotationTaskID: "t1"}, task: "t1"},
		{name: "a pod of a manifest URL", annotations: map[string]string{annotationConfigSource: "http", AnnotationPodUID: "uid-1", AnnotationTaskID: "t1"}, task: "t1"},
		{name: "a pod of no source", annotations: map[string]string{AnnotationPodUID: "uid-1", AnnotationTaskID: "t1"}, task: "t1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kp := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: tc.annotations}}
			if got := isStaticPodOf(kp, "uid-1", tc.task); got != tc.want {
				t.Errorf("isStaticPodOf(%v, uid-1, %q) = %v, want %v", tc.annotations, tc.task, got, tc.want)
			}
		})
	}
}

// On a kubelet registered with a cluster, a pod of the API server that names the
// runtime's pod and task in its annotations, listed first, is not taken for its static
// pod: logs and exec reach the static pod.
func TestAnAPIPodNamingThePodIsNotItsStaticPod(t *testing.T) {
	rt, k, _ := startAPIPod(t)
	ctx := testContext(t)
	impostor := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "thief", Namespace: "attacker", UID: "thief-uid",
		Annotations: map[string]string{annotationConfigSource: "api", AnnotationPodUID: "uid-1", AnnotationTaskID: "task-1"}}}
	k.mu.Lock()
	k.pods = append([]corev1.Pod{impostor}, kubeletPods(running, false)...)
	k.mu.Unlock()

	var out bytes.Buffer
	if err := rt.ContainerLogs(ctx, "shop", "web", "c", &corev1.PodLogOptions{}, &out); err != nil || out.String() != "hello\n" {
		t.Errorf("logs: %q, %v; want the static pod's", out.String(), err)
	}
	if err := rt.Exec(ctx, "shop", "web", "c", []string{"true"}, nil, nopCloser{&out}, nil, false, nil); err != nil {
		t.Errorf("exec: %v", err)
	}
	if asked := k.asked("/containerLogs/attacker/"); len(asked) > 0 {
		t.Errorf("asked the kubelet for the other pod's logs: %v", asked)
	}
	if streamed := k.streamed(); len(streamed) != 1 || streamed[0] != `exec shop/web-node static-uid c ["true"] tty=false stdin=false stderr=false` {
		t.Errorf("streams = %q, want one exec in shop/web-node", streamed)
	}
}
