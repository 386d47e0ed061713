// Package bundle renders the operator's OLM bundle (registry+v1): the
// ClusterServiceVersion made from config/manifests and config/default, the CRDs and the
// other objects OLM installs beside the operator, metadata/annotations.yaml and
// bundle.Dockerfile. `make bundle` writes it; tests validate it.
package bundle

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/blang/semver/v4"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Options say what to render.
type Options struct {
	// Root is the repository's root directory.
	Root string
	// Version of the operator, semver without a leading v.
	Version string
	// Image of the manager.
	Image string
	// Package is the OLM package name. Default "k8sm".
	Package string
	// Channels the bundle is in; the first is the default. Default ["alpha"].
	Channels []string
}

// Paths of the rendered files, relative to Root.
const (
	Dir        = "bundle"
	Dockerfile = "bundle.Dockerfile"
	CSVFile    = "bundle/manifests/k8sm.clusterserviceversion.yaml"
)

const mediaType = "registry+v1"

// Render returns the bundle's files by path relative to Root.
func Render(o Options) (map[string][]byte, error) {
	version, err := o.complete()
	if err != nil {
		return nil, err
	}
	csv, err := readCSVBase(o.Root)
	if err != nil {
		return nil, err
	}
	objs, err := buildDefault(o.Root)
	if err != nil {
		return nil, err
	}
	files := fileSet{}
	strategy, err := installStrategy(objs, o.Image, files)
	if err != nil {
		return nil, err
	}
	if err := completeCSV(csv, o, version, strategy); err != nil {
		return nil, err
	}
	y, err := marshalCSV(csv)
	if err != nil {
		return nil, err
	}
	files[CSVFile] = y

	annotations := bundleAnnotations(o)
	y, err = yaml.Marshal(map[string]any{"annotations": annotations})
	if err != nil {
		return nil, err
	}
	files[filepath.ToSlash(filepath.Join(Dir, "metadata", "annotations.yaml"))] = y
	files[Dockerfile] = dockerfile(annotations)
	return files, nil
}

// complete fills in the defaults and checks the options. It returns the parsed version,
// which the CSV carries as semver.
func (o *Options) complete() (semver.Version, error) {
	if o.Package == "" {
		o.Package = "k8sm"
	}
	if len(o.Channels) == 0 {
		o.Channels = []string{"alpha"}
	}
	version, err := semver.Parse(o.Version)
	if err != nil {
		return semver.Version{}, fmt.Errorf("version %q is not semver: %w", o.Version, err)
	}
	if o.Image == "" {
		return semver.Version{}, fmt.Errorf("no manager image given")
	}
	return version, nil
}

// buildDefault runs kustomize on config/default, as `make build-installer` does. The
// bundle carries the same objects, so the two installs do not drift apart.
func buildDefault(root string) ([]*unstructured.Unstructured, error) {
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(root, "config", "default"))
	if err != nil {
		return nil, fmt.Errorf("kustomize build config/default: %w", err)
	}
	var objs []*unstructured.Unstructured
	for _, r := range res.Resources() {
		j, err := r.MarshalJSON()
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			return nil, err
		}
		objs = append(objs, u)
	}
	return objs, nil
}

// fileSet is the bundle's files by path relative to Root.
type fileSet map[string][]byte

// addManifest writes obj as YAML under bundle/manifests. OLM applies every file there.
func (f fileSet) addManifest(name string, obj map[string]any) error {
	y, err := yaml.Marshal(obj)
	if err != nil {
		return err
	}
	f[filepath.ToSlash(filepath.Join(Dir, "manifests", name))] = y
	return nil
}

// boundRoles is what config/default binds to the manager's service account: ClusterRoles
// by name, Roles by namespace/name. OLM makes the account and its bindings from the
// CSV's permissions, so these roles go into the CSV instead of bundle/manifests.
type boundRoles struct {
	sa string
	// ns is the manager's namespace in config/default; OLM installs it in its own.
	ns               string
	cluster, inNames map[string]bool
}

// installStrategy fills the CSV's deployment strategy from config/default: the manager's
// Deployment with image, and the RBAC bound to its service account. The other objects it
// can carry go into files; one it cannot carry is an error, so nothing is lost silently.
func installStrategy(objs []*unstructured.Unstructured, image string, files fileSet) (operatorsv1alpha1.StrategyDetailsDeployment, error) {
	var strategy operatorsv1alpha1.StrategyDetailsDeployment
	deploy, err := managerDeployment(objs)
	if err != nil {
		return strategy, err
	}
	bound, err := findBoundRoles(objs, deploy.Spec.Template.Spec.ServiceAccountName, deploy.Namespace)
	if err != nil {
		return strategy, err
	}
	for i, c := range deploy.Spec.Template.Spec.Containers {
		if c.Name == "manager" {
			deploy.Spec.Template.Spec.Containers[i].Image = image
		}
	}
	strategy.DeploymentSpecs = []operatorsv1alpha1.StrategyDeploymentSpec{{
		Name: deploy.Name, Spec: deploy.Spec, Label: deploy.Labels,
	}}
	for _, u := range objs {
		if err := carry(u, bound, &strategy, files); err != nil {
			return strategy, err
		}
	}
	return strategy, nil
}

// managerDeployment is the one Deployment config/default renders: the CSV runs it.
func managerDeployment(objs []*unstructured.Unstructured) (*appsv1.Deployment, error) {
	var deploy *appsv1.Deployment
	for _, u := range objs {
		if u.GetKind() == "Deployment" {
			if deploy != nil {
				return nil, fmt.Errorf("config/default renders more than one Deployment")
			}
			deploy = &appsv1.Deployment{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, deploy); err != nil {
				return nil, err
			}
		}
	}
	if deploy == nil {
		return nil, fmt.Errorf("config/default renders no Deployment")
	}
	return deploy, nil
}

// findBoundRoles reads the bindings to the service account sa. The Deployment runs as
// that account, and it gets its RBAC through the CSV's permissions.
func findBoundRoles(objs []*unstructured.Unstructured, sa, ns string) (boundRoles, error) {
	bound := boundRoles{sa: sa, ns: ns, cluster: map[string]bool{}, inNames: map[string]bool{}}
	for _, u := range objs {
		kind := u.GetKind()
		if kind != "ClusterRoleBinding" && kind != "RoleBinding" {
			continue
		}
		var b rbacv1.RoleBinding // same shape as ClusterRoleBinding
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &b); err != nil {
			return bound, err
		}
		for _, s := range b.Subjects {
			if s.Kind == rbacv1.ServiceAccountKind && s.Name == sa && s.Namespace == ns {
				if kind == "ClusterRoleBinding" || b.RoleRef.Kind == "ClusterRole" {
					bound.cluster[b.RoleRef.Name] = true
				} else {
					bound.inNames[b.Namespace+"/"+b.RoleRef.Name] = true
				}
			}
		}
	}
	return bound, nil
}

// carry puts one object of config/default where OLM expects it: in the CSV's strategy,
// in files, or nowhere when OLM makes it itself.
func carry(u *unstructured.Unstructured, bound boundRoles, strategy *operatorsv1alpha1.StrategyDetailsDeployment, files fileSet) error {
	kind, name := u.GetKind(), u.GetName()
	switch kind {
	case "Deployment", "Namespace", "ServiceAccount":
		// In the CSV, or made by OLM (the install namespace, the service account).
	case "CustomResourceDefinition":
		group, _, _ := unstructured.NestedString(u.Object, "spec", "group")
		plural, _, _ := unstructured.NestedString(u.Object, "spec", "names", "plural")
		return files.addManifest(fmt.Sprintf("%s_%s.yaml", group, plural), u.Object)
	case "ClusterRole", "Role":
		return carryRole(u, bound, strategy, files)
	case "ClusterRoleBinding", "RoleBinding":
		var b rbacv1.RoleBinding
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &b); err != nil {
			return err
		}
		if bound.cluster[b.RoleRef.Name] || bound.inNames[b.Namespace+"/"+b.RoleRef.Name] {
			return nil // OLM binds the CSV's permissions
		}
		return fmt.Errorf("%s %s binds something other than the manager's service account; OLM bundles cannot carry it", kind, name)
	case "Service", "NetworkPolicy", "ConfigMap", "PodDisruptionBudget":
		// Kinds OLM installs from a bundle's manifests, in the operator's namespace.
		return files.addManifest(fileName(u), withoutNamespace(u))
	case "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding":
		// Not among the kinds OLM installs from a bundle. Without the outage tolerations
		// policy the manager writes each pod's tolerations itself: the same pods, one
		// more API write each.
	default:
		return fmt.Errorf("config/default renders a %s (%s) that the bundle does not know how to carry", kind, name)
	}
	return nil
}

// carryRole puts a role bound to the manager into the CSV's permissions. OLM binds those
// itself. Any other role ships as a manifest.
//
// A CSV grants either cluster-wide (clusterPermissions) or in the operator's own
// namespace (permissions); it cannot grant in a third namespace, and OLM puts the Roles
// and RoleBindings a bundle ships into the operator's namespace. A Role config/default
// binds in another namespace (the node Lease Role in kube-node-lease) therefore goes into
// clusterPermissions: wider than config/default, the price of an OLM install, which
// docs/security.md states and test/manifests' allow-list holds to those rules alone.
func carryRole(u *unstructured.Unstructured, bound boundRoles, strategy *operatorsv1alpha1.StrategyDetailsDeployment, files fileSet) error {
	kind, name := u.GetKind(), u.GetName()
	var role rbacv1.ClusterRole // rules only; same shape as Role
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &role); err != nil {
		return err
	}
	perm := operatorsv1alpha1.StrategyDeploymentPermissions{ServiceAccountName: bound.sa, Rules: role.Rules}
	switch {
	case kind == "ClusterRole" && bound.cluster[name]:
		strategy.ClusterPermissions = append(strategy.ClusterPermissions, perm)
	case kind == "Role" && bound.inNames[u.GetNamespace()+"/"+name] && u.GetNamespace() == bound.ns:
		strategy.Permissions = append(strategy.Permissions, perm)
	case kind == "Role" && bound.inNames[u.GetNamespace()+"/"+name]:
		strategy.ClusterPermissions = append(strategy.ClusterPermissions, perm)
	default:
		// Roles for people (admin, viewer, metrics reader) ship as they are.
		return files.addManifest(fileName(u), withoutNamespace(u))
	}
	return nil
}

// completeCSV fills in what the CSV base leaves to the build: name, version, install
// strategy, image, examples and icon. The base holds only what people write by hand.
func completeCSV(csv *operatorsv1alpha1.ClusterServiceVersion, o Options, version semver.Version, strategy operatorsv1alpha1.StrategyDetailsDeployment) error {
	csv.Name = fmt.Sprintf("%s.v%s", o.Package, o.Version)
	csv.Spec.Version.Version = version
	csv.Spec.InstallStrategy = operatorsv1alpha1.NamedInstallStrategy{
		StrategyName: operatorsv1alpha1.InstallStrategyNameDeployment, StrategySpec: strategy,
	}
	if csv.Annotations == nil {
		csv.Annotations = map[string]string{}
	}
	csv.Annotations["containerImage"] = o.Image
	examples, err := readExamples(o.Root)
	if err != nil {
		return err
	}
	csv.Annotations["alm-examples"] = examples
	icon, err := os.ReadFile(filepath.Join(o.Root, "config", "manifests", "icon.svg"))
	if err != nil {
		return err
	}
	csv.Spec.Icon = []operatorsv1alpha1.Icon{{Data: base64.StdEncoding.EncodeToString(icon), MediaType: "image/svg+xml"}}
	return nil
}

// marshalCSV writes the CSV as YAML without status and creationTimestamp. They are
// empty in a bundle, and leaving them out keeps the file stable.
func marshalCSV(csv *operatorsv1alpha1.ClusterServiceVersion) ([]byte, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(csv)
	if err != nil {
		return nil, err
	}
	delete(u, "status")
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	return yaml.Marshal(u)
}

// bundleAnnotations are the bundle's metadata: where its parts are, its package and
// channels. metadata/annotations.yaml and the image's labels both carry them.
func bundleAnnotations(o Options) map[string]string {
	return map[string]string{
		"operators.operatorframework.io.bundle.mediatype.v1":       mediaType,
		"operators.operatorframework.io.bundle.manifests.v1":       "manifests/",
		"operators.operatorframework.io.bundle.metadata.v1":        "metadata/",
		"operators.operatorframework.io.bundle.package.v1":         o.Package,
		"operators.operatorframework.io.bundle.channels.v1":        strings.Join(o.Channels, ","),
		"operators.operatorframework.io.bundle.channel.default.v1": o.Channels[0],
	}
}

// dockerfile is bundle.Dockerfile: the annotations as labels, sorted so the file does
// not change from run to run.
func dockerfile(annotations map[string]string) []byte {
	keys := make([]string, 0, len(annotations))
	for k := range annotations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var df strings.Builder
	df.WriteString("# The operator's OLM bundle image: `make bundle`, then build this file from the repository root.\nFROM scratch\n\n")
	for _, k := range keys {
		fmt.Fprintf(&df, "LABEL %s=%s\n", k, annotations[k])
	}
	df.WriteString("\nCOPY bundle/manifests /manifests/\nCOPY bundle/metadata /metadata/\n")
	return []byte(df.String())
}

// Write replaces the bundle under root with files.
func Write(root string, files map[string][]byte) error {
	if err := os.RemoveAll(filepath.Join(root, Dir)); err != nil {
		return err
	}
	for p, b := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// readCSVBase reads the hand-written part of the CSV. It is read strictly, so a
// misspelt field fails the build instead of vanishing.
func readCSVBase(root string) (*operatorsv1alpha1.ClusterServiceVersion, error) {
	p := filepath.Join(root, "config", "manifests", "bases", "k8sm.clusterserviceversion.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	csv := &operatorsv1alpha1.ClusterServiceVersion{}
	if err := yaml.UnmarshalStrict(b, csv); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return csv, nil
}

// readExamples makes the alm-examples annotation from config/manifests/examples.
func readExamples(root string) (string, error) {
	dir := filepath.Join(root, "config", "manifests", "examples")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var examples []map[string]any
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", err
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			return "", fmt.Errorf("%s: %w", e.Name(), err)
		}
		examples = append(examples, m)
	}
	b, err := json.MarshalIndent(examples, "", "  ")
	return string(b), err
}

// fileName names a manifest the way operator-sdk does: name_group_version_kind.yaml.
func fileName(u *unstructured.Unstructured) string {
	gv := strings.ReplaceAll(u.GetAPIVersion(), "/", "_")
	return fmt.Sprintf("%s_%s_%s.yaml", u.GetName(), gv, strings.ToLower(u.GetKind()))
}

// withoutNamespace drops the namespace: OLM puts the object in the install namespace.
func withoutNamespace(u *unstructured.Unstructured) map[string]any {
	c := u.DeepCopy()
	c.SetNamespace("")
	return c.Object
}
