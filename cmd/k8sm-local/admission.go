package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// admissionResources are the admission policies an install applies (config/admission,
// through config/default), by kind, in the order they are created.
var admissionResources = []struct{ kind, resource string }{
	{"MutatingAdmissionPolicy", "mutatingadmissionpolicies"},
	{"MutatingAdmissionPolicyBinding", "mutatingadmissionpolicybindings"},
}

// policyWait bounds the wait for the API server to apply the outage tolerations policy;
// without it the manager writes the tolerations itself.
const policyWait = 20 * time.Second

// installAdmission applies the admission policies of the install (dir, config/default),
// as `kubectl apply -k config/default` would, and returns their names.
func installAdmission(ctx context.Context, cfg *rest.Config, dir string) ([]string, error) {
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("rendering %s (run from the repository's root, or set --install): %w", dir, err)
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, want := range admissionResources {
		gvr := schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: want.resource}
		for _, r := range res.Resources() {
			if r.GetKind() != want.kind {
				continue
			}
			m, err := r.Map()
			if err != nil {
				return nil, err
			}
			if _, err := dc.Resource(gvr).Create(ctx, &unstructured.Unstructured{Object: m}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return nil, fmt.Errorf("creating %s %s: %w", want.kind, r.GetName(), err)
			}
			if want.kind == admissionResources[0].kind {
				names = append(names, r.GetName())
			}
		}
	}
	return names, nil
}

// applyOutagePolicy applies the install's admission policies (dir) and waits until the
// API server gives the cluster's pods their outage tolerations, as an install has it do.
// Without them the pods run all the same (the manager writes the tolerations): what went
// wrong is said, and the demo goes on.
func applyOutagePolicy(ctx context.Context, cfg *rest.Config, c client.Client, dir string, mc *mesosv1alpha1.MesosCluster, namespace string) {
	policies, err := installAdmission(ctx, cfg, dir)
	if err != nil {
		say("Could not apply the outage tolerations policy (%v): the manager writes the pods' outage tolerations itself", err)
		return
	}
	names := strings.Join(policies, ", ")
	if waitForOutagePolicy(ctx, c, mc, namespace) {
		say("The API server gives the cluster's pods their outage tolerations as they are created (MutatingAdmissionPolicy %s)", names)
	} else {
		say("The API server did not apply MutatingAdmissionPolicy %s within %s: the manager writes the pods' outage tolerations itself", names, policyWait)
	}
}

// waitForOutagePolicy waits until the API server gives a pod of the cluster, as it is
// created, the outage tolerations (it loads policies and their parameters on its own
// time), and says whether it did within policyWait. The probe is a dry run: nothing is
// created.
func waitForOutagePolicy(ctx context.Context, c client.Client, mc *mesosv1alpha1.MesosCluster, namespace string) bool {
	seconds := int64(mesosv1alpha1.DefaultFailoverTimeout.Seconds())
	if t := mc.Spec.Framework.FailoverTimeout; t != nil {
		seconds = int64(t.Seconds())
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, policyWait, true, func(ctx context.Context) (bool, error) {
		probe := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, GenerateName: "outage-policy-probe-"},
			Spec: corev1.PodSpec{SchedulerName: mc.Spec.SchedulerName, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		if err := c.Create(ctx, probe, client.DryRunAll); err != nil {
			return false, nil //nolint:nilerr // not yet: tried again until policyWait
		}
		for _, t := range probe.Spec.Tolerations {
			if t.Key == corev1.TaintNodeUnreachable && t.TolerationSeconds != nil && *t.TolerationSeconds == seconds {
				return true, nil
			}
		}
		return false, nil
	})
	return err == nil
}
