package main

import (
	"context"
	"fmt"
	"os"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/k8sm/k8sm/internal/testenv"
)

// operatorKubeconfig writes a kubeconfig for the manager as it runs in a cluster: a
// ServiceAccount token, authorized by the operator's own RBAC as config/default installs
// it (its ClusterRole and its Roles in its namespace and kube-node-lease), not an
// administrator's client certificate. The API server's cost per request is then a
// deployment's (a cached token review and RBAC, not a certificate verification on every
// request), and the run shows that the RBAC allows all the manager does.
func operatorKubeconfig(ctx context.Context, admin *rest.Config) (string, error) {
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return "", err
	}
	if err := testenv.InstallManagerRBAC(ctx, admin); err != nil {
		return "", err
	}
	ns, sa := testenv.ManagerNamespace, testenv.ManagerAccount
	hour := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting the manager's token: %w", err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["bench"] = &clientcmdapi.Cluster{Server: admin.Host, CertificateAuthorityData: admin.CAData}
	kc.AuthInfos["k8sm"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["k8sm"] = &clientcmdapi.Context{Cluster: "bench", AuthInfo: "k8sm", Namespace: ns}
	kc.CurrentContext = "k8sm"
	f, err := os.CreateTemp("", "bench-operator-kubeconfig-")
	if err != nil {
		return "", err
	}
	_ = f.Close()
	return f.Name(), clientcmd.WriteToFile(*kc, f.Name())
}
