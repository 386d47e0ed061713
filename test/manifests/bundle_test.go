package manifests

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/operator-framework/api/pkg/manifests"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	"github.com/operator-framework/api/pkg/validation"
	appsv1 "k8s.io/api/apps/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/k8sm/k8sm/internal/bundle"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// committedCSV reads the CSV of the committed bundle, whose version and image the
// freshly rendered bundle reuses.
func committedCSV(t *testing.T) *operatorsv1alpha1.ClusterServiceVersion {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), bundle.CSVFile))
	if err != nil {
		t.Fatalf("no committed bundle (run make bundle): %v", err)
	}
	csv := &operatorsv1alpha1.ClusterServiceVersion{}
	if err := yaml.Unmarshal(b, csv); err != nil {
		t.Fatal(err)
	}
	return csv
}

func renderBundle(t *testing.T) (string, map[string][]byte) {
	t.Helper()
	csv := committedCSV(t)
	files, err := bundle.Render(bundle.Options{Root: repoRoot(), Version: csv.Spec.Version.String(), Image: csv.Annotations["containerImage"]})
	if err != nil {
		t.Fatalf("rendering the bundle: %v", err)
	}
	dir := t.TempDir()
	if err := bundle.Write(dir, files); err != nil {
		t.Fatal(err)
	}
	return dir, files
}

// The bundle passes operator-framework's validators: the default bundle validators
// (CSV, CRDs, bundle), OperatorHub's, the standard categories and capabilities, and good
// practices; any error fails, warnings are logged.
func TestBundleValidates(t *testing.T) {
	dir, _ := renderBundle(t)
	b, err := manifests.GetBundleFromDir(filepath.Join(dir, bundle.Dir))
	if err != nil {
		t.Fatalf("loading the bundle: %v", err)
	}
	if b.CSV == nil || len(b.V1CRDs) != 3 {
		t.Fatalf("bundle has CSV %v and %d CRDs, want a CSV and 3 CRDs", b.CSV != nil, len(b.V1CRDs))
	}
	validators := validation.DefaultBundleValidators.WithValidators(
		validation.OperatorHubV2Validator,
		validation.StandardCategoriesValidator,
		validation.StandardCapabilitiesValidator,
		validation.GoodPracticesValidator,
		validation.ObjectValidator,
		validation.AlphaDeprecatedAPIsValidator,
	)
	objs := append(b.ObjectsToValidate(), map[string]string{"k8s-version": "1.37"})
	for _, r := range validators.Validate(objs...) {
		for _, e := range r.Errors {
			if e.Level == "Error" {
				t.Errorf("%s: %s", r.Name, e.Error())
			} else {
				t.Logf("warning: %s: %s", r.Name, e.Error())
			}
		}
	}
}

// The CSV carries what OperatorHub shows and what OLM needs to install the manager.
func TestBundleCSV(t *testing.T) {
	_, files := renderBundle(t)
	csv := &operatorsv1alpha1.ClusterServiceVersion{}
	if err := yaml.UnmarshalStrict(files[bundle.CSVFile], csv); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"alm-examples", "capabilities", "categories", "containerImage", "description", "repository"} {
		if csv.Annotations[k] == "" {
			t.Errorf("CSV annotation %s is empty", k)
		}
	}
	for _, kind := range []string{`"kind": "MesosCluster"`, `"kind": "MesosTask"`} {
		if !strings.Contains(csv.Annotations["alm-examples"], kind) {
			t.Errorf("alm-examples has no %s", kind)
		}
	}
	s := csv.Spec
	if s.DisplayName == "" || s.Description == "" || len(s.Icon) == 0 || len(s.Maintainers) == 0 ||
		s.Provider.Name == "" || len(s.Links) == 0 || s.Maturity == "" || len(s.Keywords) == 0 {
		t.Errorf("CSV lacks display name, description, icon, maintainers, provider, links, maturity or keywords")
	}
	modes := map[operatorsv1alpha1.InstallModeType]bool{}
	for _, m := range s.InstallModes {
		modes[m.Type] = m.Supported
	}
	if !modes[operatorsv1alpha1.InstallModeTypeAllNamespaces] || modes[operatorsv1alpha1.InstallModeTypeOwnNamespace] {
		t.Errorf("install modes = %v; the operator watches all namespaces only", modes)
	}
	owned := map[string]operatorsv1alpha1.CRDDescription{}
	for _, c := range s.CustomResourceDefinitions.Owned {
		owned[c.Kind] = c
	}
	for _, kind := range []string{"MesosCluster", "MesosTask"} {
		c, ok := owned[kind]
		if !ok || len(c.SpecDescriptors) == 0 || len(c.StatusDescriptors) == 0 {
			t.Errorf("owned CRD %s missing or without spec/status descriptors", kind)
		}
	}
	st := s.InstallStrategy.StrategySpec
	if len(st.DeploymentSpecs) != 1 {
		t.Fatalf("want one deployment, got %d", len(st.DeploymentSpecs))
	}
	pod := st.DeploymentSpecs[0].Spec.Template.Spec
	if pod.Containers[0].Image != csv.Annotations["containerImage"] {
		t.Errorf("manager image %q differs from containerImage %q", pod.Containers[0].Image, csv.Annotations["containerImage"])
	}
	if len(st.ClusterPermissions) == 0 || len(st.Permissions) == 0 {
		t.Errorf("want cluster permissions (the manager) and namespaced permissions (leader election), got %d and %d",
			len(st.ClusterPermissions), len(st.Permissions))
	}
	for _, p := range append(st.ClusterPermissions, st.Permissions...) {
		if p.ServiceAccountName != pod.ServiceAccountName {
			t.Errorf("permissions for %q, but the manager runs as %q", p.ServiceAccountName, pod.ServiceAccountName)
		}
	}
}

// The committed bundle is what `make bundle` makes of the committed config.
func TestBundleIsFresh(t *testing.T) {
	_, files := renderBundle(t)
	root := repoRoot()
	var want, have []string
	for p, b := range files {
		want = append(want, p)
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s is stale or missing: run make bundle and commit the result", p)
		}
	}
	_ = filepath.WalkDir(filepath.Join(root, bundle.Dir), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			have = append(have, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(want)
	for _, p := range have {
		if _, ok := files[p]; !ok {
			t.Errorf("%s is not part of the bundle any more: run make bundle", p)
		}
	}
}

// The bundle ships the manager's PodDisruptionBudget (OLM installs it beside the CSV, in
// the operator's namespace), and the CSV's Deployment keeps its replicas apart: an OLM
// install survives a node's loss or drain as the kubectl one does.
func TestBundleKeepsTheManagerAvailable(t *testing.T) {
	_, files := renderBundle(t)
	csv := &operatorsv1alpha1.ClusterServiceVersion{}
	if err := yaml.UnmarshalStrict(files[bundle.CSVFile], csv); err != nil {
		t.Fatal(err)
	}
	spec := csv.Spec.InstallStrategy.StrategySpec.DeploymentSpecs[0].Spec
	if !spreadsOverNodes(appsv1.Deployment{Spec: spec}) {
		t.Error("the CSV's Deployment lets the manager's replicas share a node")
	}
	var pdbs []policyv1.PodDisruptionBudget
	for p, b := range files {
		if strings.HasSuffix(p, "_policy_v1_poddisruptionbudget.yaml") {
			var pdb policyv1.PodDisruptionBudget
			if err := yaml.UnmarshalStrict(b, &pdb); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			pdbs = append(pdbs, pdb)
		}
	}
	if len(pdbs) != 1 {
		t.Fatalf("the bundle ships %d PodDisruptionBudgets, want the manager's", len(pdbs))
	}
	if pdbs[0].Namespace != "" {
		t.Errorf("the PodDisruptionBudget names namespace %q; OLM puts it in the operator's", pdbs[0].Namespace)
	}
	if !selects(pdbs[0].Spec.Selector, spec.Template.Labels) {
		t.Errorf("the PodDisruptionBudget does not select the CSV's manager pods %v", spec.Template.Labels)
	}
}

// make bundle writes the manager image BUNDLE_MANAGER_IMG names into the CSV, so that a
// bundle of one's own build does not name a released image that may not exist.
func TestMakeBundleTakesTheManagerImage(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make in PATH")
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"default", []string{"VERSION=0.2.0"}, "-image ghcr.io/k8sm/k8sm:v0.2.0"},
		{"BUNDLE_MANAGER_IMG", []string{"VERSION=0.2.0", "BUNDLE_MANAGER_IMG=registry.example.com/k8sm:x"}, "-image registry.example.com/k8sm:x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("make", append([]string{"-n", "bundle"}, tc.args...)...)
			cmd.Dir = repoRoot()
			// The default is make's, not one of the environment's.
			cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "BUNDLE_MANAGER_IMG=") })
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make -n bundle: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("make -n bundle %s runs no hack/bundle with %q:\n%s", strings.Join(tc.args, " "), tc.want, out)
			}
		})
	}
}
