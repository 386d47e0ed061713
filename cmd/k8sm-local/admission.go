package main

import (
	"context"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/installer"
)

// policyWait bounds the wait for the API server to apply the outage tolerations policy;
// without it the manager writes the tolerations itself.
const policyWait = 20 * time.Second

// installAdmission applies the admission policies of the install (dir, config/default),
// as `kubectl apply -k config/default` would, and returns the policies' names.
func installAdmission(ctx context.Context, cfg *rest.Config, dir string) ([]string, error) {
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	names, err := installer.Create(ctx, dc, dir, installer.AdmissionPolicies)
	if err != nil {
		return nil, err
	}
	return names["MutatingAdmissionPolicy"], nil
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
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, policyWait, true,
		installer.OutageTolerationsApplied(c, namespace, mc.Spec.SchedulerName, seconds))
	return err == nil
}
