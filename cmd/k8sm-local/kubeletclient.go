package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/k8sm/k8sm/internal/pki"
)

// kubectl logs, exec and port-forward reach a pod through its Node's kubelet API, which
// the executors serve on each agent's address. kube-apiserver calls it as a cluster's
// does: with a kubelet client certificate (its --kubelet-client-certificate), which the
// executors accept because the MesosCluster names its CA, and as a user RBAC lets use
// the kubelet API (system:kubelet-api-admin, as kubeadm binds it).
const (
	// kubeletClientUser is who kube-apiserver is to the kubelet API, as kubeadm names it.
	kubeletClientUser = "kube-apiserver-kubelet-client"
	// kubeletClientCASecret holds the CA of kube-apiserver's kubelet client certificate,
	// in the manager's namespace.
	kubeletClientCASecret = "kubelet-client-ca"
	// managerNamespace is the manager's own namespace outside a cluster (its default),
	// the only one it reads Secrets from.
	managerNamespace = "k8sm-system"
)

// configureKubeletClient makes a CA and a client certificate it signs for kube-apiserver
// to present to the kubelet API (files in dir/pki), and sets kube-apiserver's flags to
// use them and to dial a Node's InternalIP first (the agent's address, where its executor
// serves), as kubeadm sets them. It returns the CA, for the MesosCluster to name.
func configureKubeletClient(env *envtest.Environment, dir string) (*pki.CA, error) {
	ca, err := pki.NewCA("k8sm-local-kubelet-client-ca", 365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.IssueClient(kubeletClientUser, nil, 365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	pkiDir := filepath.Join(dir, "pki")
	if err := os.MkdirAll(pkiDir, 0o700); err != nil {
		return nil, err
	}
	crt, key := filepath.Join(pkiDir, "apiserver-kubelet-client.crt"), filepath.Join(pkiDir, "apiserver-kubelet-client.key")
	if err := os.WriteFile(crt, certPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		return nil, err
	}
	args := env.ControlPlane.GetAPIServer().Configure()
	args.Set("kubelet-client-certificate", crt)
	args.Set("kubelet-client-key", key)
	args.Set("kubelet-preferred-address-types", "InternalIP,Hostname")
	return ca, nil
}

// trustKubeletClient puts the CA in the Secret the MesosCluster names, and lets
// kube-apiserver's kubelet client use the kubelet API, as kubeadm does.
func trustKubeletClient(ctx context.Context, c client.Client, ca *pki.CA) error {
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: managerNamespace}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: managerNamespace, Name: kubeletClientCASecret},
			Data: map[string][]byte{"ca.crt": ca.CertPEM}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: kubeletClientUser},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:kubelet-api-admin"},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: kubeletClientUser}}},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %T %s for the kubelet API: %w", o, o.GetName(), err)
		}
	}
	return nil
}
