package main

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// kubectl logs right after the pod runs would meet a Node that advertises no kubelet API
// port yet (its executor's word that it serves comes a moment later, through Mesos):
// the demo waits for the port, and says so when it does not come.
func TestWaitForKubeletAPI(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "hello-mesos"}, Spec: corev1.PodSpec{NodeName: "mesos-local-agent-1"}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "mesos-local-agent-1"}}
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		servedAt int // the read of the Node from which it advertises the port; 0: never
		want     bool
	}{
		{"advertised at once", 1, true},
		{"advertised a moment later", 3, true},
		{"never advertised", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reads := 0
			c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(pod, node).WithInterceptorFuncs(interceptor.Funcs{
				Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
					err := c.Get(ctx, key, obj, opts...)
					if n, ok := obj.(*corev1.Node); ok && err == nil {
						reads++
						if tc.servedAt != 0 && reads >= tc.servedAt {
							n.Status.DaemonEndpoints.KubeletEndpoint.Port = 10350
						}
					}
					return err
				}}).Build()
			if got := waitForKubeletAPI(ctx, c, pod, time.Second); got != tc.want {
				t.Errorf("waitForKubeletAPI = %v after %d reads of the Node, want %v", got, reads, tc.want)
			}
			if tc.want && reads != tc.servedAt {
				t.Errorf("read the Node %d times, want %d: the wait goes on until the port, no further", reads, tc.servedAt)
			}
		})
	}
}
