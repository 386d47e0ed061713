package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/testenv"
)

// The manager's account as config/default installs it.
const (
	installNamespace = testenv.ManagerNamespace
	managerAccount   = testenv.ManagerAccount
)

// installRBACOnce applies config/default's RBAC once per suite: the objects are the same
// for every spec, and cluster-scoped.
var installRBACOnce sync.Once

// installManagerRBAC applies what config/default installs for the manager's identity.
func installManagerRBAC() {
	installRBACOnce.Do(func() {
		Expect(testenv.InstallManagerRBAC(context.Background(), testEnv.Config)).To(Succeed())
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
