package testenv

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// admissionKinds are what InstallAdmissionPolicies applies, in order.
var admissionKinds = [][]schema.GroupVersionResource{
	{{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingadmissionpolicies"}},
	{{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingadmissionpolicybindings"}},
}

// InstallAdmissionPolicies applies the admission policies config/default installs
// (config/admission), and waits until the API server applies them (it loads policies
// and their bindings asynchronously) as probe says: it returns once probe returns true.
func InstallAdmissionPolicies(ctx context.Context, admin *rest.Config, probe func(context.Context) (bool, error)) error {
	dc, err := dynamic.NewForConfig(admin)
	if err != nil {
		return err
	}
	if err := installRendered(ctx, dc, admissionKinds); err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, probe)
}

// OutageTolerationsApplied is a probe for InstallAdmissionPolicies: a pod of
// schedulerName created in namespace (a dry run) tolerates its Node being unreachable
// for seconds, as the outage tolerations policy makes it with a MesosCluster of that
// schedulerName whose failover timeout is that long.
func OutageTolerationsApplied(c client.Client, namespace, schedulerName string, seconds int64) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, GenerateName: "probe-"},
			Spec: corev1.PodSpec{SchedulerName: schedulerName, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		if err := c.Create(ctx, pod, client.DryRunAll); err != nil {
			return false, nil //nolint:nilerr // not yet: the namespace or the cluster may be on their way
		}
		for _, t := range pod.Spec.Tolerations {
			if t.Key == corev1.TaintNodeUnreachable && t.TolerationSeconds != nil && *t.TolerationSeconds == seconds {
				return true, nil
			}
		}
		return false, nil
	}
}
