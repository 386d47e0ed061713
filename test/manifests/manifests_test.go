// Package manifests checks the install manifests a person applies to a real cluster:
// config/default rendered by kustomize, as `make build-installer` renders it.
package manifests

import (
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/k8sm/k8sm/internal/taskapi"
)

func render(t *testing.T) map[string][]string { return renderDir(t, "default") }

// renderDir renders config/<name> by kind.
func renderDir(t *testing.T, name string) map[string][]string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "config", name)
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build config/%s: %v", name, err)
	}
	out := map[string][]string{}
	for _, r := range res.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		out[r.GetKind()] = append(out[r.GetKind()], string(y))
	}
	return out
}

func one[T any](t *testing.T, docs []string) T {
	t.Helper()
	var v T
	if len(docs) != 1 {
		t.Fatalf("want exactly one, got %d", len(docs))
	}
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestManagerRunsRestricted(t *testing.T) {
	m := render(t)
	ns := one[corev1.Namespace](t, m["Namespace"])
	if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace %s does not enforce the restricted Pod Security Standard: %v", ns.Name, ns.Labels)
	}
	d := one[appsv1.Deployment](t, m["Deployment"])
	if d.Namespace != ns.Name {
		t.Errorf("manager runs in %q, not in %q", d.Namespace, ns.Name)
	}
	pod := d.Spec.Template.Spec
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod seccompProfile is not RuntimeDefault")
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("container %s has no securityContext", c.Name)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("container %s may escalate privileges", c.Name)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("container %s has a writable root filesystem", c.Name)
		case sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0:
			t.Errorf("container %s does not drop all capabilities", c.Name)
		case sc.Privileged != nil && *sc.Privileged:
			t.Errorf("container %s is privileged", c.Name)
		}
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			t.Errorf("container %s lacks liveness or readiness probes", c.Name)
		}
		if !strings.Contains(strings.Join(c.Args, " "), "--leader-elect") {
			t.Errorf("container %s runs without leader election", c.Name)
		}
	}
}

// The manager's ports are fenced by NetworkPolicies: metrics (8443) from namespaces
// labelled metrics: enabled; with the MesosTasks API (config/tasks-api), its port (9443)
// from anywhere (kube-apiserver, whose address is the cluster's); nothing else.
func TestPortsAreFencedByNetworkPolicies(t *testing.T) {
	for dir, want := range map[string]map[int]string{
		"default":         {8443: "map[metrics:enabled]"},
		"tasks-api":       {8443: "map[metrics:enabled]", 9443: "anywhere"},
		"tasks-in-memory": {8443: "map[metrics:enabled]", 9443: "anywhere"},
	} {
		open := map[int]string{}
		for _, doc := range renderDir(t, dir)["NetworkPolicy"] {
			np := one[networkingv1.NetworkPolicy](t, []string{doc})
			if np.Spec.PodSelector.MatchLabels["app.kubernetes.io/component"] != "manager" {
				t.Errorf("config/%s: the NetworkPolicy %s does not select the manager: %+v", dir, np.Name, np.Spec.PodSelector)
			}
			for _, rule := range np.Spec.Ingress {
				from := "anywhere"
				if len(rule.From) > 0 {
					from = fmt.Sprint(rule.From[0].NamespaceSelector.MatchLabels)
				}
				if len(rule.Ports) == 0 {
					t.Errorf("config/%s: the NetworkPolicy %s opens every port", dir, np.Name)
				}
				for _, p := range rule.Ports {
					open[p.Port.IntValue()] = from
				}
			}
		}
		if !reflect.DeepEqual(open, want) {
			t.Errorf("config/%s: ports open %v, want %v", dir, open, want)
		}
	}
}

// config/tasks-api registers the MesosTasks API to the manager's replicas: the
// APIService names the Service, which selects the Deployment's pods at the port the
// manager serves on, and the manager knows its pod's name, to label the leader's.
func TestTheTasksAPIReachesTheManager(t *testing.T) {
	m := renderDir(t, "tasks-api")
	deploy := one[appsv1.Deployment](t, m["Deployment"])
	var svc corev1.Service
	for _, doc := range m["Service"] {
		var s corev1.Service
		if err := yaml.Unmarshal([]byte(doc), &s); err != nil {
			t.Fatal(err)
		}
		if s.Name == "k8sm-tasks-api" {
			svc = s
		}
	}
	var api struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
		Spec     struct {
			Group, Version string
			Service        struct {
				Namespace, Name string
				Port            int32
			}
			GroupPriorityMinimum int32 `json:"groupPriorityMinimum"`
		} `json:"spec"`
	}
	if len(m["APIService"]) != 1 {
		t.Fatalf("%d APIServices", len(m["APIService"]))
	}
	if err := yaml.Unmarshal([]byte(m["APIService"][0]), &api); err != nil {
		t.Fatal(err)
	}
	if api.Metadata.Name != "v1alpha1.tasks.mesos.k8sm.io" || api.Spec.Service.Name != svc.Name || api.Spec.Service.Namespace != deploy.Namespace ||
		svc.Namespace != deploy.Namespace || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != api.Spec.Service.Port {
		t.Fatalf("the APIService %+v does not name the Service %s/%s %+v", api, svc.Namespace, svc.Name, svc.Spec.Ports)
	}
	if !selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, deploy.Spec.Template.Labels) {
		t.Errorf("the Service does not select the manager's pods")
	}
	// Below the CRD group's 1000: kubectl get mesostasks and mt keep meaning the CRD's.
	if api.Spec.GroupPriorityMinimum >= 1000 {
		t.Errorf("groupPriorityMinimum %d", api.Spec.GroupPriorityMinimum)
	}
	c := deploy.Spec.Template.Spec.Containers[0]
	port := int32(0)
	for _, p := range c.Ports {
		if p.Name == svc.Spec.Ports[0].TargetPort.StrVal {
			port = p.ContainerPort
		}
	}
	if !slices.Contains(c.Args, fmt.Sprintf("--tasks-api-bind-address=:%d", port)) {
		t.Errorf("the manager does not serve at the Service's target port %d: %v", port, c.Args)
	}
	// The leader labels its pod, and the other replicas pass the requests on to it.
	if !givesPodName(c) {
		t.Errorf("the manager is not given its pod's name: %+v", c.Env)
	}
}

// givesPodName says whether c is given its pod's name in POD_NAME.
func givesPodName(c corev1.Container) bool {
	return slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "POD_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name"
	})
}

// config/tasks-in-memory keeps the MesosTasks in the leader's memory: the manager is told
// so, with its pod's name to label, the MesosTask CRD is not installed (the other CRDs
// are), and the Service selects every replica, leading or not (one that does not lead
// passes the requests on, and answers discovery while a new leader takes over).
func TestTheTasksInMemoryInstallServesFromEveryReplica(t *testing.T) {
	m := renderDir(t, "tasks-in-memory")
	var crds []string
	for _, doc := range m["CustomResourceDefinition"] {
		var crd metav1.PartialObjectMetadata
		if err := yaml.Unmarshal([]byte(doc), &crd); err != nil {
			t.Fatal(err)
		}
		crds = append(crds, crd.Name)
	}
	slices.Sort(crds)
	if want := []string{"mesosclusters.mesos.k8sm.io", "outagetolerations.mesos.k8sm.io"}; !slices.Equal(crds, want) {
		t.Errorf("CRDs %v, want %v", crds, want)
	}
	deploy := one[appsv1.Deployment](t, m["Deployment"])
	c := deploy.Spec.Template.Spec.Containers[0]
	if !slices.Contains(c.Args, "--mesostask-storage=memory") || !slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--tasks-api-bind-address=:") }) {
		t.Errorf("the manager's args %v: want the MesosTasks in memory and served", c.Args)
	}
	if !givesPodName(c) {
		t.Errorf("the manager is not given its pod's name: %+v", c.Env)
	}
	for _, doc := range m["Service"] {
		var s corev1.Service
		if err := yaml.Unmarshal([]byte(doc), &s); err != nil {
			t.Fatal(err)
		}
		if s.Name != "k8sm-tasks-api" {
			continue
		}
		sel := &metav1.LabelSelector{MatchLabels: s.Spec.Selector}
		leader := maps.Clone(deploy.Spec.Template.Labels)
		leader[taskapi.LeaderLabelKey] = "true"
		if !selects(sel, deploy.Spec.Template.Labels) || !selects(sel, leader) {
			t.Errorf("the Service's selector %v: want every replica of the manager, labeled %s=true or not", s.Spec.Selector, taskapi.LeaderLabelKey)
		}
		return
	}
	t.Error("no Service k8sm-tasks-api")
}

// No role config/default ships (the manager's, the admin and viewer roles, the metrics
// reader) grants a wildcard. What the manager itself may do is held to an allow-list by
// TestManagerRBACMatchesTheAllowList.
func TestRBACHasNoWildcards(t *testing.T) {
	m := render(t)
	for _, kind := range []string{"ClusterRole", "Role"} {
		for _, doc := range m[kind] {
			var r rbacv1.Role // same shape as ClusterRole
			if err := yaml.Unmarshal([]byte(doc), &r); err != nil {
				t.Fatal(err)
			}
			for _, rule := range r.Rules {
				for _, list := range [][]string{rule.Verbs, rule.Resources, rule.APIGroups, rule.NonResourceURLs} {
					for _, v := range list {
						if strings.Contains(v, "*") {
							t.Errorf("%s %s grants a wildcard: %+v", kind, r.Name, rule)
						}
					}
				}
			}
		}
	}
}

// The outage tolerations policy lets kube-scheduler's pods through by its match
// conditions, before any of its own CEL runs for each MesosCluster: without them every
// pod created in the cluster costs the API server about a third more CPU. Pods of any
// other scheduler (a MesosCluster's schedulerName is never default-scheduler) match.
func TestTheOutagePolicyLetsKubeSchedulersPodsThrough(t *testing.T) {
	policy := one[admissionregistrationv1.MutatingAdmissionPolicy](t, render(t)["MutatingAdmissionPolicy"])
	if len(policy.Spec.MatchConditions) == 0 {
		t.Fatal("the outage tolerations policy has no match conditions: it evaluates every pod created")
	}
	env, err := cel.NewEnv(cel.Variable("object", cel.DynType))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		object map[string]any
		want   bool
	}{
		{"kube-scheduler's", map[string]any{"spec": map[string]any{"schedulerName": "default-scheduler"}}, false},
		{"a MesosCluster's", map[string]any{"spec": map[string]any{"schedulerName": "mesos"}}, true},
		{"another scheduler's", map[string]any{"spec": map[string]any{"schedulerName": "volcano"}}, true},
		{"without a scheduler (not defaulted)", map[string]any{"spec": map[string]any{}}, false},
	}
	for _, tc := range cases {
		all := true
		for _, mc := range policy.Spec.MatchConditions {
			ast, iss := env.Compile(mc.Expression)
			if iss.Err() != nil {
				t.Fatalf("match condition %s: %v", mc.Name, iss.Err())
			}
			prg, err := env.Program(ast)
			if err != nil {
				t.Fatal(err)
			}
			v, _, err := prg.Eval(map[string]any{"object": tc.object})
			if err != nil {
				t.Fatalf("match condition %s on a pod %s: %v", mc.Name, tc.name, err)
			}
			all = all && v.Value() == true
		}
		if all != tc.want {
			t.Errorf("a pod %s: matched %v, want %v", tc.name, all, tc.want)
		}
	}
}

// The install for Kubernetes before 1.36 is config/default without the admission
// policy and its binding, which those API servers do not know (kubectl apply of the
// whole install failed there), and with everything else.
func TestTheInstallBefore136HasNoAdmissionPolicy(t *testing.T) {
	full, old := render(t), renderDir(t, "install-before-1.36")
	for kind, docs := range full {
		switch kind {
		case "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding":
			if len(old[kind]) != 0 {
				t.Errorf("the install before 1.36 has %d %s", len(old[kind]), kind)
			}
		default:
			if !slices.Equal(docs, old[kind]) {
				t.Errorf("the install before 1.36 differs from config/default in its %s objects", kind)
			}
		}
	}
	if len(full["MutatingAdmissionPolicy"]) != 1 || len(full["MutatingAdmissionPolicyBinding"]) != 1 {
		t.Error("config/default lost its admission policy or binding")
	}
}

// One node lost, or drained, must not take both manager replicas: while none runs, no
// agent Node's Lease is renewed and every pod on Mesos turns NotReady. The replicas are
// spread over nodes where they can be (not required: a one-node cluster still runs
// one), and a PodDisruptionBudget lets an eviction take one at a time.
func TestManagerReplicasSurviveANodeLoss(t *testing.T) {
	m := render(t)
	d := one[appsv1.Deployment](t, m["Deployment"])
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Fatalf("the manager runs %v replicas, want 2 or more", d.Spec.Replicas)
	}
	if !spreadsOverNodes(d) {
		t.Errorf("the manager's replicas may share a node: no preferred pod anti-affinity or ScheduleAnyway spread on %s "+
			"selecting them", corev1.LabelHostname)
	}
	pdbs := m["PodDisruptionBudget"]
	if len(pdbs) != 1 {
		t.Fatalf("want one PodDisruptionBudget for the manager, got %d", len(pdbs))
	}
	pdb := one[policyv1.PodDisruptionBudget](t, pdbs)
	if pdb.Namespace != d.Namespace {
		t.Errorf("the PodDisruptionBudget is in %q, the manager in %q", pdb.Namespace, d.Namespace)
	}
	if !selects(pdb.Spec.Selector, d.Spec.Template.Labels) {
		t.Errorf("the PodDisruptionBudget's selector %v does not select the manager's pods %v", pdb.Spec.Selector, d.Spec.Template.Labels)
	}
	if mu := pdb.Spec.MaxUnavailable; mu == nil || mu.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("the PodDisruptionBudget allows %v unavailable (minAvailable %v), want maxUnavailable 1", mu, pdb.Spec.MinAvailable)
	}
}

// spreadsOverNodes: the Deployment's pods prefer nodes that run none of them yet, by a
// preferred anti-affinity or a hostname spread constraint that does not keep a replica
// from starting when it cannot be met.
func spreadsOverNodes(d appsv1.Deployment) bool {
	pod := d.Spec.Template.Spec
	if a := pod.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			if w.PodAffinityTerm.TopologyKey == corev1.LabelHostname && selects(w.PodAffinityTerm.LabelSelector, d.Spec.Template.Labels) {
				return true
			}
		}
	}
	for _, c := range pod.TopologySpreadConstraints {
		if c.TopologyKey == corev1.LabelHostname && c.MaxSkew == 1 && c.WhenUnsatisfiable == corev1.ScheduleAnyway &&
			selects(c.LabelSelector, d.Spec.Template.Labels) {
			return true
		}
	}
	return false
}

// selects: s is a non-empty selector that matches labels.
func selects(s *metav1.LabelSelector, labels map[string]string) bool {
	if s == nil || (len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0) {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	return err == nil && sel.Matches(k8slabels.Set(labels))
}
