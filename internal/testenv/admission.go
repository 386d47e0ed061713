package testenv

import (
	"context"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/k8sm/k8sm/internal/installer"
)

// InstallAdmissionPolicies applies the admission policies config/default installs
// (config/admission), and waits until the API server applies them (it loads policies
// and their bindings asynchronously) as probe says (installer.OutageTolerationsApplied):
// it returns once probe returns true.
func InstallAdmissionPolicies(ctx context.Context, admin *rest.Config, probe func(context.Context) (bool, error)) error {
	dc, err := dynamic.NewForConfig(admin)
	if err != nil {
		return err
	}
	if _, err := installer.Create(ctx, dc, filepath.Join(RepoRoot(), "config", "default"), installer.AdmissionPolicies); err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, probe)
}
