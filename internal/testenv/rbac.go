package testenv

import (
	"context"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/k8sm/k8sm/internal/installer"
)

// The manager's account as config/default installs it.
const (
	ManagerNamespace = "k8sm-system"
	ManagerAccount   = "k8sm-controller-manager"
)

// rbacKinds are what InstallManagerRBAC applies, in the order they must exist.
var rbacKinds = [][]installer.Resource{
	{rbacKind("Namespace", "", "namespaces")},
	{rbacKind("ServiceAccount", "", "serviceaccounts"), rbacKind("ClusterRole", rbacGroup, "clusterroles"), rbacKind("Role", rbacGroup, "roles")},
	{rbacKind("ClusterRoleBinding", rbacGroup, "clusterrolebindings"), rbacKind("RoleBinding", rbacGroup, "rolebindings")},
}

const rbacGroup = "rbac.authorization.k8s.io"

func rbacKind(kind, group, resource string) installer.Resource {
	return installer.Resource{Kind: kind, GVR: schema.GroupVersionResource{Group: group, Version: "v1", Resource: resource}}
}

// InstallManagerRBAC applies what config/default installs for the manager's identity:
// its namespace, its ServiceAccount, and every ClusterRole, Role and binding as rendered
// (the Deployment, the CRDs and the rest are not needed to run it in-process). What
// exists already is left as it is.
func InstallManagerRBAC(ctx context.Context, admin *rest.Config) error {
	return InstallManagerRBACOf(ctx, admin, "default")
}

// InstallManagerRBACOf is InstallManagerRBAC for the install config/<dir> renders
// (tasks-api: with the MesosTasks API).
func InstallManagerRBACOf(ctx context.Context, admin *rest.Config, dir string) error {
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
	_, err = installer.Create(ctx, dc, filepath.Join(RepoRoot(), "config", dir), rbacKinds)
	return err
}
