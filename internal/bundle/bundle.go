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
	if o.Package == "" {
		o.Package = "k8sm"
	}
	if len(o.Channels) == 0 {
		o.Channels = []string{"alpha"}
	}
	version, err := semver.Parse(o.Version)
	if err != nil {
		return nil, fmt.Errorf("version %q is not semver: %w", o.Version, err)
	}
	if o.Image == "" {
		return nil, fmt.Errorf("no manager image given")
	}

	csv, err := readCSVBase(o.Root)
	if err != nil {
		return nil, err
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(o.Root, "config", "default"))
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

	files := map[string][]byte{}
	manifest := func(name string, obj map[string]any) error {
		y, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(filepath.Join(Dir, "manifests", name))] = y
		return nil
	}

	// The service account the Deployment runs as gets the RBAC bound to it through the
	// CSV's permissions; OLM makes the account and the bindings itself.
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
	sa := deploy.Spec.Template.Spec.ServiceAccountName
	boundCluster, boundNS := map[string]bool{}, map[string]bool{}
	for _, u := range objs {
		kind := u.GetKind()
		if kind != "ClusterRoleBinding" && kind != "RoleBinding" {
			continue
		}
		var b rbacv1.RoleBinding // same shape as ClusterRoleBinding
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &b); err != nil {
			return nil, err
		}
		for _, s := range b.Subjects {
			if s.Kind == rbacv1.ServiceAccountKind && s.Name == sa {
				if kind == "ClusterRoleBinding" || b.RoleRef.Kind == "ClusterRole" {
					boundCluster[b.RoleRef.Name] = true
				} else {
					boundNS[b.RoleRef.Name] = true
				}
			}
		}
	}

	for i, c := range deploy.Spec.Template.Spec.Containers {
		if c.Name == "manager" {
			deploy.Spec.Template.Spec.Containers[i].Image = o.Image
		}
	}
	strategy := operatorsv1alpha1.StrategyDetailsDeployment{
		DeploymentSpecs: []operatorsv1alpha1.StrategyDeploymentSpec{{
			Name: deploy.Name, Spec: deploy.Spec, Label: deploy.Labels,
		}},
	}
	for _, u := range objs {
		kind, name := u.GetKind(), u.GetName()
		switch kind {
		case "Deployment", "Namespace", "ServiceAccount":
			// In the CSV, or made by OLM (the install namespace, the service account).
		case "CustomResourceDefinition":
			group, _, _ := unstructured.NestedString(u.Object, "spec", "group")
			plural, _, _ := unstructured.NestedString(u.Object, "spec", "names", "plural")
			if err := manifest(fmt.Sprintf("%s_%s.yaml", group, plural), u.Object); err != nil {
				return nil, err
			}
		case "ClusterRole", "Role":
			var role rbacv1.ClusterRole // rules only; same shape as Role
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &role); err != nil {
				return nil, err
			}
			switch {
			case kind == "ClusterRole" && boundCluster[name]:
				strategy.ClusterPermissions = append(strategy.ClusterPermissions, operatorsv1alpha1.StrategyDeploymentPermissions{ServiceAccountName: sa, Rules: role.Rules})
			case kind == "Role" && boundNS[name]:
				strategy.Permissions = append(strategy.Permissions, operatorsv1alpha1.StrategyDeploymentPermissions{ServiceAccountName: sa, Rules: role.Rules})
			default:
				// Roles for people (admin, viewer, metrics reader) ship as they are.
				if err := manifest(fileName(u), withoutNamespace(u)); err != nil {
					return nil, err
				}
			}
		case "ClusterRoleBinding", "RoleBinding":
			var b rbacv1.RoleBinding
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &b); err != nil {
				return nil, err
			}
			if boundCluster[b.RoleRef.Name] || boundNS[b.RoleRef.Name] {
				continue // OLM binds the CSV's permissions
			}
			return nil, fmt.Errorf("%s %s binds something other than the manager's service account; OLM bundles cannot carry it", kind, name)
		case "Service", "NetworkPolicy", "ConfigMap":
			if err := manifest(fileName(u), withoutNamespace(u)); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("config/default renders a %s (%s) that the bundle does not know how to carry", kind, name)
		}
	}

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
		return nil, err
	}
	csv.Annotations["alm-examples"] = examples
	icon, err := os.ReadFile(filepath.Join(o.Root, "config", "manifests", "icon.svg"))
	if err != nil {
		return nil, err
	}
	csv.Spec.Icon = []operatorsv1alpha1.Icon{{Data: base64.StdEncoding.EncodeToString(icon), MediaType: "image/svg+xml"}}

	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(csv)
	if err != nil {
		return nil, err
	}
	delete(u, "status")
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	y, err := yaml.Marshal(u)
	if err != nil {
		return nil, err
	}
	files[CSVFile] = y

	annotations := map[string]string{
		"operators.operatorframework.io.bundle.mediatype.v1":       mediaType,
		"operators.operatorframework.io.bundle.manifests.v1":       "manifests/",
		"operators.operatorframework.io.bundle.metadata.v1":        "metadata/",
		"operators.operatorframework.io.bundle.package.v1":         o.Package,
		"operators.operatorframework.io.bundle.channels.v1":        strings.Join(o.Channels, ","),
		"operators.operatorframework.io.bundle.channel.default.v1": o.Channels[0],
	}
	y, err = yaml.Marshal(map[string]any{"annotations": annotations})
	if err != nil {
		return nil, err
	}
	files[filepath.ToSlash(filepath.Join(Dir, "metadata", "annotations.yaml"))] = y

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
	files[Dockerfile] = []byte(df.String())
	return files, nil
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
