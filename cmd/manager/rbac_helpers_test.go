package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"

	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/k8sm/k8sm/internal/testenv"
)

// The manager's account as config/default installs it.
const (
	installNamespace = "k8sm-system"
	managerAccount   = "k8sm-controller-manager"
)

// installRBACOnce applies config/default's RBAC once per suite: the objects are the same
// for every spec, and cluster-scoped.
var installRBACOnce sync.Once

// installManagerRBAC applies what config/default installs for the manager's identity:
// its namespace, its ServiceAccount, and every ClusterRole, Role and binding, as rendered
// (the Deployment, the CRDs and the rest are not needed to run it in-process).
func installManagerRBAC() {
	installRBACOnce.Do(func() {
		res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(testenv.RepoRoot(), "config", "default"))
		Expect(err).NotTo(HaveOccurred())
		c := adminClient()
		// kube-apiserver makes kube-node-lease itself; make sure, for the Role there.
		Expect(client.IgnoreAlreadyExists(c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: corev1.NamespaceNodeLease}}))).To(Succeed())
		for _, kinds := range [][]string{{"Namespace"}, {"ServiceAccount", "ClusterRole", "Role"}, {"ClusterRoleBinding", "RoleBinding"}} {
			for _, r := range res.Resources() {
				for _, k := range kinds {
					if r.GetKind() != k {
						continue
					}
					m, err := r.Map()
					Expect(err).NotTo(HaveOccurred())
					Expect(client.IgnoreAlreadyExists(c.Create(context.Background(), &unstructured.Unstructured{Object: m}))).To(Succeed(), "%s %s", k, r.GetName())
				}
			}
		}
	})
}

func adminClient() client.Client {
	c, err := client.New(testEnv.Config, client.Options{Scheme: newScheme()})
	Expect(err).NotTo(HaveOccurred())
	return c
}

// serviceAccountConfig is a client config with a token of the account (made if
// missing), as a pod running as it has: no administrator's certificate.
func serviceAccountConfig(namespace, name string) *rest.Config {
	ctx := context.Background()
	c := adminClient()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if err := c.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		Expect(err).NotTo(HaveOccurred())
	}
	hour := int64(3600)
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour}}
	Expect(c.SubResource("token").Create(ctx, sa, tr)).To(Succeed())
	return &rest.Config{
		Host:            testEnv.Config.Host,
		TLSClientConfig: rest.TLSClientConfig{CAData: testEnv.Config.CAData},
		BearerToken:     tr.Status.Token,
	}
}

// refusals records the requests the API server refused as Forbidden.
type refusals struct {
	mu   sync.Mutex
	seen []string
}

// watch makes cfg record its Forbidden answers.
func (r *refusals) watch(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(req)
			if err == nil && resp.StatusCode == http.StatusForbidden {
				r.mu.Lock()
				r.seen = append(r.seen, fmt.Sprintf("%s %s", req.Method, req.URL.Path))
				r.mu.Unlock()
			}
			return resp, err
		})
	}
	return cfg
}

// describe is a failure description: the requests refused so far, the likely cause.
func (r *refusals) describe() string {
	return fmt.Sprintf("requests the manager's RBAC refused so far: %v", r.list())
}

func (r *refusals) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
