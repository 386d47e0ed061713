package controllers

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// The ServiceAccount admission plugin gives a pod that names no imagePullSecrets those
// of its ServiceAccount; OpenShift gives every ServiceAccount one, for its internal
// registry. The kubelet runtime cannot use Secrets (its static pods may not refer to
// them), and refuses a pod that names imagePullSecrets: every pod of such a cluster
// would wait, refused. So imagePullSecrets that are exactly the pod's ServiceAccount's
// are taken for the admission's, not the pod's own ask, and not held against it: the
// executor leaves them out of the static pod, and the agent's container runtime pulls
// with its own credentials.

// withoutServiceAccountPullSecrets is the pod as the runtime check sees it: without its
// imagePullSecrets, on the kubelet runtime, when they are its ServiceAccount's. The
// ServiceAccount is read (not cached: a cache would hold every ServiceAccount) only for
// such a pod; one that cannot be read leaves the pod as it is.
func (r *PodReconciler) withoutServiceAccountPullSecrets(ctx context.Context, pod *corev1.Pod, runtime mesosv1alpha1.ExecutorRuntime) *corev1.Pod {
	if runtime != mesosv1alpha1.RuntimeKubelet || len(pod.Spec.ImagePullSecrets) == 0 {
		return pod
	}
	name := pod.Spec.ServiceAccountName
	if name == "" {
		name = "default"
	}
	reader := r.APIReader
	if reader == nil {
		return pod
	}
	sa := &corev1.ServiceAccount{}
	if err := reader.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: name}, sa); err != nil {
		ctrl.LoggerFrom(ctx).V(1).Info("Cannot read the pod's ServiceAccount to tell whether its imagePullSecrets are the ServiceAccount's", "serviceAccount", name, "error", err.Error())
		return pod
	}
	if !slices.Equal(pod.Spec.ImagePullSecrets, sa.ImagePullSecrets) {
		return pod
	}
	checked := *pod
	checked.Spec.ImagePullSecrets = nil
	return &checked
}
