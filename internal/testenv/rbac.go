package testenv

import (
	"context"
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// The manager's account as config/default installs it.
const (
	ManagerNamespace = "k8sm-system"
	ManagerAccount   = "k8sm-controller-manager"
)

// rbacKinds are what InstallManagerRBAC applies, in the order they must exist.
var rbacKinds = [][]schema.GroupVersionResource{
	{{Version: "v1", Resource: "namespaces"}},
	{{Version: "v1", Resource: "serviceaccounts"}, {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}},
	{{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}},
}

var kindOf = map[string]string{"namespaces": "Namespace", "serviceaccounts": "ServiceAccount", "clusterroles": "ClusterRole",
	"roles": "Role", "clusterrolebindings": "ClusterRoleBinding", "rolebindings": "RoleBinding",
	"mutatingadmissionpolicies": "MutatingAdmissionPolicy", "mutatingadmissionpolicybindings": "MutatingAdmissionPolicyBinding"}

// InstallManagerRBAC applies what config/default installs for the manager's identity:
// its namespace, its ServiceAccount, and every ClusterRole, Role and binding as rendered
// (the Deployment, the CRDs and the rest are not needed to run it in-process). What
// exists already is left as it is.
func InstallManagerRBAC(ctx context.Context, admin *rest.Config) error {
	dc, err := dynamic.NewForConfig(admin)
	if err != nil {
		return err
	}
	// kube-apiserver makes kube-node-lease itself; make sure, for the Role there.
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": corev1.NamespaceNodeLease}}}
	if _, err := dc.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return installRendered(ctx, dc, rbacKinds)
}

// installRendered creates the objects of config/default of the kinds of each step, a
// step after the other; what exists already is left as it is.
func installRendered(ctx context.Context, dc dynamic.Interface, steps [][]schema.GroupVersionResource) error {
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(RepoRoot(), "config", "default"))
	if err != nil {
		return fmt.Errorf("rendering config/default: %w", err)
	}
	for _, step := range steps {
		for _, gvr := range step {
			for _, r := range res.Resources() {
				if r.GetKind() != kindOf[gvr.Resource] {
					continue
				}
				m, err := r.Map()
				if err != nil {
					return err
				}
				obj := &unstructured.Unstructured{Object: m}
				var ri dynamic.ResourceInterface = dc.Resource(gvr)
				if obj.GetNamespace() != "" {
					ri = dc.Resource(gvr).Namespace(obj.GetNamespace())
				}
				if _, err := ri.Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
					return fmt.Errorf("%s %s: %w", r.GetKind(), r.GetName(), err)
				}
			}
		}
	}
	return nil
}
