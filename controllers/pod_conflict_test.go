package controllers

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// A pod status write that loses to a newer version of the pod (the cache had not seen
// it: the normal race of a reconciler reading from a cache) is tried again shortly with
// the newer pod, as every other write of the Pod reconciler, not returned as an error
// (logged as one, and retried with a growing backoff): the refusals of a namespace, of
// an admission, of a pod that cannot be a task or placed, and the wait for the task of
// an earlier pod of the same name.
func TestAStatusWriteThatConflictsIsTriedAgainShortly(t *testing.T) {
	root := int64(0)
	for _, tc := range []struct {
		name    string
		cluster *mesosv1alpha1.MesosCluster
		pod     func(*corev1.Pod)
		objs    []client.Object
	}{
		{name: "a namespace not taken", cluster: selectiveCluster()},
		{name: "bound to an agent's Node of a cluster not taking its namespace", cluster: selectiveCluster(),
			pod: func(p *corev1.Pod) {
				p.Spec.NodeName, p.Spec.SchedulerName = "mesos-c-agent-1", corev1.DefaultSchedulerName
			},
			objs: []client.Object{&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "mesos-c-agent-1", Labels: map[string]string{agentnode.LabelCluster: "c"}}}}},
		{name: "a pod that cannot be a task", cluster: readyCluster(),
			pod: func(p *corev1.Pod) { p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: &root} }},
		{name: "a pod no agent can place", cluster: readyCluster(),
			pod: func(p *corev1.Pod) {
				p.Spec.ResourceClaims = []corev1.PodResourceClaim{{Name: "gpu", ResourceClaimName: new("gpu")}}
			}},
		{name: "a pod waiting for an earlier task", cluster: readyCluster(),
			objs: []client.Object{earlierTask(mesosv1alpha1.TaskPhaseRunning)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0", UID: "new"},
				Spec:   corev1.PodSpec{SchedulerName: "mesos", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
				Status: corev1.PodStatus{Phase: corev1.PodPending}}
			if tc.pod != nil {
				tc.pod(pod)
			}
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", Labels: map[string]string{"k8sm": "off"}}}
			conflict := apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, pod.Name, nil)
			c := podAPI(t, interceptor.Funcs{
				SubResourcePatch: func(context.Context, client.Client, string, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
					return conflict
				},
				SubResourceUpdate: func(context.Context, client.Client, string, client.Object, ...client.SubResourceUpdateOption) error {
					return conflict
				},
			}, append([]client.Object{pod, ns, tc.cluster}, tc.objs...)...)
			r := &PodReconciler{Client: c, Registry: scheduler.NewRegistry()}

			res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pod)})

			if err != nil || res.RequeueAfter != 100*time.Millisecond {
				t.Errorf("Reconcile = %+v, %v; want a retry in 100ms, no error", res, err)
			}
		})
	}
}
