// Package installer creates what an install's kustomization (config/default) renders, as
// `kubectl apply -k` does the first time: the tests use it for the manager's RBAC and
// admission policies, k8sm-local for the admission policies.
package installer

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Resource is a kind of object a kustomization renders, and where the API serves it.
type Resource struct {
	Kind string
	GVR  schema.GroupVersionResource
}

// AdmissionPolicies are the admission policies an install applies (config/admission):
// the policies, then their bindings.
var AdmissionPolicies = [][]Resource{
	{{"MutatingAdmissionPolicy", schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingadmissionpolicies"}}},
	{{"MutatingAdmissionPolicyBinding", schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingadmissionpolicybindings"}}},
}

// Create renders the kustomization in dir and creates its objects of the resources of
// each step, a step after the other; what exists already is left as it is. It returns the
// names of the objects of each kind.
func Create(ctx context.Context, dc dynamic.Interface, dir string, steps [][]Resource) (map[string][]string, error) {
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("rendering %s: %w", dir, err)
	}
	names := map[string][]string{}
	for _, step := range steps {
		for _, want := range step {
			for _, r := range res.Resources() {
				if r.GetKind() != want.Kind {
					continue
				}
				m, err := r.Map()
				if err != nil {
					return nil, err
				}
				obj := &unstructured.Unstructured{Object: m}
				var ri dynamic.ResourceInterface = dc.Resource(want.GVR)
				if obj.GetNamespace() != "" {
					ri = dc.Resource(want.GVR).Namespace(obj.GetNamespace())
				}
				if _, err := ri.Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
					return nil, fmt.Errorf("%s %s: %w", r.GetKind(), r.GetName(), err)
				}
				names[want.Kind] = append(names[want.Kind], r.GetName())
			}
		}
	}
	return names, nil
}

// OutageTolerationsApplied says, as a poll condition, whether a pod of schedulerName
// created in namespace (a dry run: nothing is created) tolerates its Node being
// unreachable for seconds, as the outage tolerations policy makes it with a MesosCluster
// of that schedulerName whose failover timeout is that long. The API server loads
// policies and their bindings on its own time: until then it says no.
func OutageTolerationsApplied(c client.Client, namespace, schedulerName string, seconds int64) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, GenerateName: "outage-policy-probe-"},
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
