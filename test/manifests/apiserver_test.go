package manifests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/testenv"
)

// The tests below hold the CRDs and examples against a real kube-apiserver (envtest,
// the CRDs of config/crd installed), started once for the package, by the first that
// needs it.
var (
	apiOnce sync.Once
	apiEnv  *envtest.Environment
	apiC    client.Client
	apiErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if apiEnv != nil {
		_ = apiEnv.Stop()
	}
	os.Exit(code)
}

// apiServer is a client of the package's kube-apiserver; -short skips the test.
func apiServer(t *testing.T) client.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("starts kube-apiserver and etcd (envtest); not in -short")
	}
	apiOnce.Do(func() {
		if apiEnv, apiErr = testenv.Start(); apiErr != nil {
			return
		}
		s := runtime.NewScheme()
		if apiErr = clientgoscheme.AddToScheme(s); apiErr == nil {
			apiErr = mesosv1alpha1.AddToScheme(s)
		}
		if apiErr == nil {
			apiC, apiErr = client.New(apiEnv.Config, client.Options{Scheme: s})
		}
	})
	if apiErr != nil {
		t.Fatal(apiErr)
	}
	return apiC
}

// What people start from — the sample (config/samples) and the CSV's alm-examples
// (config/manifests/examples) — passes the API server's validation as it is.
func TestTheExamplesAreValid(t *testing.T) {
	c := apiServer(t)
	for _, dir := range []string{"samples", filepath.Join("manifests", "examples")} {
		files, err := filepath.Glob(filepath.Join(repoRoot(), "config", dir, "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no examples in config/%s: %v", dir, err)
		}
		for _, f := range files {
			if filepath.Base(f) == "kustomization.yaml" {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(b, &u.Object); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if err := c.Create(context.Background(), u, client.DryRunAll); err != nil {
				t.Errorf("config/%s/%s is refused: %v", dir, filepath.Base(f), err)
			}
		}
	}
}

// spec.framework.failoverTimeout is a Go duration, as the manager reads it. A value
// that is none ("1d", "") is refused saying what a duration looks like, not with a CEL
// type conversion error under "must not be negative"; every value accepted is one the
// manager can read.
func TestFailoverTimeoutRefusalsSayWhatToFix(t *testing.T) {
	c := apiServer(t)
	const (
		format   = "framework.failoverTimeout must be a duration such as 168h"
		negative = "framework.failoverTimeout must not be negative"
	)
	cases := []struct{ value, refusal string }{
		{"1d", format},
		{"2w", format},
		{"", format},
		{"168", format},
		{"1 h", format},
		{"-1h", negative},
		{"-0.5s", negative},
		{"168h", ""},
		{"1h30m", ""},
		{"0", ""},
		{".5h", ""},
		{"1.5m", ""},
		{"500ms", ""},
	}
	checkDurationRefusals(t, c, "failover-timeout", func(v string) map[string]any {
		return map[string]any{"executor": map[string]any{"uri": "/k8sm-executor"}, "framework": map[string]any{"failoverTimeout": v}}
	}, cases)
}

// spec.executor.shutdownGracePeriod is a Go duration between 5s and 1h, refused saying so.
func TestShutdownGracePeriodRefusalsSayWhatToFix(t *testing.T) {
	c := apiServer(t)
	const (
		format = "executor.shutdownGracePeriod must be a duration such as 30s"
		bounds = "executor.shutdownGracePeriod must be between 5s (Mesos's default) and 1h"
	)
	checkDurationRefusals(t, c, "shutdown-grace", func(v string) map[string]any {
		return map[string]any{"executor": map[string]any{"uri": "/k8sm-executor", "shutdownGracePeriod": v}}
	}, []struct{ value, refusal string }{
		{"1d", format}, {"", format}, {"30", format},
		{"0", bounds}, {"500ms", bounds}, {"4s", bounds}, {"-30s", bounds}, {"61m", bounds},
		{"5s", ""}, {"30s", ""}, {"1m30s", ""}, {"1h", ""},
	})
}

// checkDurationRefusals creates a MesosCluster with each case's value where spec puts it,
// and checks that it is refused with the case's message (without a CEL error), or
// accepted and readable by the manager.
func checkDurationRefusals(t *testing.T, c client.Client, prefix string, spec func(string) map[string]any, cases []struct{ value, refusal string }) {
	t.Helper()
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%q", tc.value), func(t *testing.T) {
			ctx := context.Background()
			name := fmt.Sprintf("%s-%d", prefix, i)
			u := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": mesosv1alpha1.GroupVersion.String(), "kind": "MesosCluster",
				"metadata": map[string]any{"name": name},
				"spec":     spec(tc.value),
			}}
			sp := u.Object["spec"].(map[string]any)
			sp["master"], sp["schedulerName"] = "http://127.0.0.1:5050", name
			err := c.Create(ctx, u)
			if tc.refusal != "" {
				switch {
				case err == nil:
					t.Fatalf("accepted")
				case !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.refusal):
					t.Errorf("refused with %v; want %q", err, tc.refusal)
				case strings.Contains(err.Error(), "conversion error"):
					t.Errorf("refused with a CEL error, not a message: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			t.Cleanup(func() { _ = c.Delete(ctx, u) })
			var mc mesosv1alpha1.MesosCluster
			if err := c.Get(ctx, client.ObjectKey{Name: name}, &mc); err != nil {
				t.Fatalf("accepted, but the manager cannot read it: %v", err)
			}
		})
	}
}
