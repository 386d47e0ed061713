package manifests

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/k8sm/k8sm/internal/bundle"
)

// Scopes of a grant: cluster-wide, the manager's own namespace (k8sm-system as
// config/default installs it, the operator's namespace under OLM), or a namespace named.
const (
	scopeCluster   = "cluster"
	scopeOwn       = "own namespace"
	scopeNodeLease = "kube-node-lease"
	scopeSystem    = "kube-system"
)

// allowed is one line of the allow-list: verbs on a resource of an API group, in a scope,
// and why the manager's flows need them. docs/security.md ("What the manager can do in
// the cluster") says the same in prose.
type allowed struct {
	scope, group, resource string
	verbs                  []string
	why                    string
}

// allowList is everything the manager's service account may do. A grant not listed here
// fails TestManagerRBACMatchesTheAllowList, and so does a line nothing grants any more.
var allowList = []allowed{
	{scopeCluster, "mesos.k8sm.io", "mesosclusters", []string{"get", "list", "watch"}, "the cache: every cluster is reconciled"},
	{scopeCluster, "mesos.k8sm.io", "mesosclusters", []string{"update"}, "add and remove the framework finalizer"},
	{scopeCluster, "mesos.k8sm.io", "mesosclusters/status", []string{"patch"}, "conditions, agents, capacity, task counts"},
	{scopeCluster, "mesos.k8sm.io", "mesostasks", []string{"get", "list", "watch"}, "the cache: the task of every pod on Mesos"},
	{scopeCluster, "mesos.k8sm.io", "mesostasks", []string{"create", "update", "delete"}, "a pod's MesosTask: made when Mesos first reports its task, its state written as Mesos reports it (no status subresource), finalized, removed with the pod"},
	{scopeCluster, "mesos.k8sm.io", "mesosclusters/finalizers", []string{"update"}, "an OutageToleration's controller reference to its cluster blocks the cluster's deletion (OwnerReferencesPermissionEnforcement)"},
	{scopeCluster, "mesos.k8sm.io", "outagetolerations", []string{"get", "list", "watch"}, "the cache: each cluster's parameter of the outage tolerations policy"},
	{scopeCluster, "mesos.k8sm.io", "outagetolerations", []string{"create", "update", "delete"}, "a cluster's OutageToleration: written from its spec for the outage tolerations policy, removed with it"},
	{scopeCluster, "", "pods", []string{"get", "list", "watch"}, "the cache: pods of any namespace may name a cluster's schedulerName"},
	{scopeCluster, "", "pods", []string{"delete"}, "remove a pod whose task ended after deletion was asked, as a kubelet does, and the pods a pod of higher priority preempts"},
	{scopeCluster, "", "pods", []string{"patch"}, "lengthen a pod's tolerations of an unreachable agent Node to the failover timeout, so that no manager running is not an eviction"},
	{scopeCluster, "", "pods/binding", []string{"create"}, "bind a pod to an agent Node, as a scheduler does"},
	{scopeCluster, "policy", "poddisruptionbudgets", []string{"list"}, "preemption spares the pods a budget protects where it can, as kube-scheduler does"},
	{scopeCluster, "", "pods/status", []string{"update", "patch"}, "mirror the task state into the pod, as a kubelet does"},
	{scopeCluster, "", "pods/finalizers", []string{"update"}, "a MesosTask's controller reference to its pod blocks the pod's deletion (OwnerReferencesPermissionEnforcement)"},
	{scopeCluster, "", "nodes", []string{"get", "list", "watch"}, "the cache: the agent Nodes"},
	{scopeCluster, "", "nodes", []string{"create", "patch", "delete"}, "one Node per Mesos agent, made, kept and removed"},
	{scopeCluster, "", "nodes/status", []string{"patch"}, "an agent Node's Ready condition and capacity, as a kubelet does"},
	{scopeCluster, "", "namespaces", []string{"get", "list", "watch"}, "the cache: a MesosCluster's namespaceSelector; kube-system's UID names the Kubernetes cluster"},
	{scopeCluster, "", "serviceaccounts", []string{"get"}, "one at a time, never cached: on the kubelet runtime, a pod's imagePullSecrets that are its ServiceAccount's are not refused"},
	{scopeCluster, "events.k8s.io", "events", []string{"create", "patch"}, "events about pods (any namespace), clusters and Nodes (default)"},
	{scopeCluster, "authentication.k8s.io", "tokenreviews", []string{"create"}, "authenticate bearer tokens at the metrics endpoint and at the executors' kubelet API (kubectl logs, exec, port-forward, top on agent Nodes)"},
	{scopeCluster, "authorization.k8s.io", "subjectaccessreviews", []string{"create"}, "authorize requests to the metrics endpoint, to the executors' kubelet API and to the MesosTasks API"},
	{scopeCluster, "certificates.k8s.io", "certificatesigningrequests", []string{"create"}, "file an executor's serving certificate request for its agent's Node (servingCertificate: KubeletServingSigner)"},
	{scopeCluster, "certificates.k8s.io", "certificatesigningrequests", []string{"get"}, "read a request it filed, by name, until it is signed (never listed or cached)"},
	{scopeCluster, "certificates.k8s.io", "certificatesigningrequests", []string{"delete"}, "remove a request it filed once the executor has its answer"},
	{scopeCluster, "certificates.k8s.io", "certificatesigningrequests/approval", []string{"update"}, "approve a request it checked names only the agent's Node, hostname and IP"},
	{scopeCluster, "certificates.k8s.io", "signers[kubernetes.io/kubelet-serving]", []string{"approve"}, "approve for the kubelet-serving signer only, as a kubelet's serving certificate is approved"},
	{scopeNodeLease, "coordination.k8s.io", "leases", []string{"get", "list"}, "the agent Nodes' Leases no renewal has returned yet (after a start or a failover), read once, by one List when many are (not one GET each); no watch"},
	{scopeNodeLease, "coordination.k8s.io", "leases", []string{"create", "update", "patch", "delete"}, "an agent Node's heartbeat, as a kubelet's (an update; a patch after a conflict), removed with the Node"},
	{scopeOwn, "", "secrets", []string{"get"}, "a MesosCluster's credentials and CA Secrets, read one at a time (with config/tasks-api, the MesosTasks API's serving certificate too)"},
	{scopeOwn, "coordination.k8s.io", "leases", []string{"get", "create", "update"}, "the leader election Lease"},
	{scopeOwn, "", "events", []string{"create", "patch"}, "leader election's event (client-go records it through the core API)"},
}

// tasksAPIAllowList is what config/tasks-api, the install with the MesosTasks API, lets
// the manager do besides the allow-list.
var tasksAPIAllowList = []allowed{
	{scopeOwn, "", "secrets", []string{"create"}, "the MesosTasks API's serving certificate, made once when no certificate directory is given (an install by kubectl apply)"},
	{scopeOwn, "", "secrets[k8sm-tasks-api-cert]", []string{"update"}, "the MesosTasks API's serving certificate, made again a month before it ends"},
	{scopeCluster, "apiregistration.k8s.io", "apiservices[v1alpha1.tasks.mesos.k8sm.io]", []string{"get", "patch"}, "set the MesosTasks API's caBundle to the CA of the certificate the manager made"},
	{scopeSystem, "", "configmaps[extension-apiserver-authentication]", []string{"get"}, "how kube-apiserver's front proxy authenticates to the MesosTasks API (its CA, allowed names and headers)"},
}

// grant is one verb the manager may use.
type grant struct{ scope, group, resource, verb string }

func (g grant) String() string {
	group := g.group
	if group == "" {
		group = "core"
	}
	return fmt.Sprintf("%s %s/%s in %s", g.verb, group, g.resource, g.scope)
}

// inMemoryAllowList is what config/tasks-in-memory lets the manager do besides the
// MesosTasks API's.
var inMemoryAllowList = []allowed{
	{scopeCluster, "apiextensions.k8s.io", "customresourcedefinitions[mesostasks.mesos.k8sm.io]", []string{"delete"}, "remove the MesosTask CRD an install switched from kept, once its objects are held in memory (taskstore.Takeover)"},
}

// allowedGrants flattens the allow-list, with the MesosTasks API's if tasksAPI, and the
// MesosTasks in memory's if inMemory; olm maps each scope as an OLM install grants it.
func allowedGrants(olm, tasksAPI bool, inMemory ...bool) map[grant]string {
	out := map[grant]string{}
	list := allowList
	if tasksAPI {
		list = append(slices.Clone(allowList), tasksAPIAllowList...)
	}
	if len(inMemory) > 0 && inMemory[0] {
		list = append(slices.Clone(list), inMemoryAllowList...)
	}
	for _, a := range list {
		scope := a.scope
		if olm && (scope == scopeNodeLease || scope == scopeSystem) {
			// A CSV cannot grant in a third namespace: see carryRole in internal/bundle.
			scope = scopeCluster
		}
		for _, v := range a.verbs {
			out[grant{scope, a.group, a.resource, v}] = a.why
		}
	}
	return out
}

// grantsOf flattens RBAC rules. Anything a rule names that the allow-list has no words
// for (a resourceName, a non-resource URL, a wildcard) becomes a grant of its own, which
// the allow-list lacks.
func grantsOf(scope string, rules []rbacv1.PolicyRule, into map[grant]bool) {
	for _, r := range rules {
		for _, v := range r.Verbs {
			for _, u := range r.NonResourceURLs {
				into[grant{scope, "(non-resource URL)", u, v}] = true
			}
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					if len(r.ResourceNames) > 0 {
						res += "[" + strings.Join(r.ResourceNames, ",") + "]"
					}
					into[grant{scope, g, res, v}] = true
				}
			}
		}
	}
}

// compare fails for every grant the allow-list lacks, and for every allow-listed grant
// that nothing gives any more (the list and the docs would lie).
func compare(t *testing.T, source string, got map[grant]bool, want map[grant]string) {
	t.Helper()
	var extra, missing []string
	for g := range got {
		if _, ok := want[g]; !ok {
			extra = append(extra, g.String())
		}
	}
	for g, why := range want {
		if !got[g] {
			missing = append(missing, g.String()+" ("+why+")")
		}
	}
	sort.Strings(extra)
	sort.Strings(missing)
	for _, e := range extra {
		t.Errorf("%s grants the manager %s, which the allow-list in test/manifests/rbac_test.go does not allow: narrow the marker or role, or add it there with its reason (and to docs/security.md)", source, e)
	}
	for _, m := range missing {
		t.Errorf("%s no longer grants the manager %s: remove it from the allow-list and docs/security.md", source, m)
	}
}

// installedGrants is what config/<dir> (config/default: dist/install.yaml) lets the
// manager's service account do: the rules of every role bound to it, in the binding's
// scope.
func installedGrants(t *testing.T, dir string) map[grant]bool {
	t.Helper()
	m := renderDir(t, dir)
	deploy := one[appsv1.Deployment](t, m["Deployment"])
	sa, ns := deploy.Spec.Template.Spec.ServiceAccountName, deploy.Namespace
	roles := map[string][]rbacv1.PolicyRule{} // "ClusterRole/name" or "Role/namespace/name"
	for _, kind := range []string{"ClusterRole", "Role"} {
		for _, doc := range m[kind] {
			var r rbacv1.Role // rules and metadata; same shape as ClusterRole
			if err := yaml.Unmarshal([]byte(doc), &r); err != nil {
				t.Fatal(err)
			}
			roles[roleKey(kind, r.Namespace, r.Name)] = r.Rules
		}
	}
	got := map[grant]bool{}
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		for _, doc := range m[kind] {
			var b rbacv1.RoleBinding // same shape as ClusterRoleBinding
			if err := yaml.Unmarshal([]byte(doc), &b); err != nil {
				t.Fatal(err)
			}
			if !bindsAccount(b.Subjects, sa, ns) {
				continue
			}
			scope := scopeCluster
			if kind == "RoleBinding" {
				scope = b.Namespace
				if scope == ns {
					scope = scopeOwn
				}
			}
			key := roleKey(b.RoleRef.Kind, b.Namespace, b.RoleRef.Name)
			rules, ok := roles[key]
			if !ok {
				t.Errorf("%s %s binds the manager to %s, which config/default does not define: its rules cannot be checked", kind, b.Name, key)
			}
			grantsOf(scope, rules, got)
		}
	}
	return got
}

func roleKey(kind, namespace, name string) string {
	if kind == "ClusterRole" {
		return kind + "/" + name
	}
	return kind + "/" + namespace + "/" + name
}

// bindsAccount says whether subjects name the account, or a group it belongs to.
func bindsAccount(subjects []rbacv1.Subject, sa, ns string) bool {
	for _, s := range subjects {
		switch {
		case s.Kind == rbacv1.ServiceAccountKind && s.Name == sa && s.Namespace == ns,
			s.Kind == rbacv1.GroupKind && (s.Name == "system:serviceaccounts" || s.Name == "system:serviceaccounts:"+ns || s.Name == "system:authenticated"),
			s.Kind == rbacv1.UserKind && s.Name == "system:serviceaccount:"+ns+":"+sa:
			return true
		}
	}
	return false
}

// The manager's RBAC, as config/default installs it and as the committed OLM bundle
// grants it, is exactly the allow-list: a broader marker or role fails here, naming the
// grant.
func TestManagerRBACMatchesTheAllowList(t *testing.T) {
	t.Run("config/default", func(t *testing.T) {
		compare(t, "config/default", installedGrants(t, "default"), allowedGrants(false, false))
	})
	t.Run("config/tasks-api", func(t *testing.T) {
		compare(t, "config/tasks-api", installedGrants(t, "tasks-api"), allowedGrants(false, true))
	})
	t.Run("config/tasks-in-memory", func(t *testing.T) {
		compare(t, "config/tasks-in-memory", installedGrants(t, "tasks-in-memory"), allowedGrants(false, true, true))
	})
	t.Run("bundle", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(repoRoot(), bundle.CSVFile))
		if err != nil {
			t.Fatal(err)
		}
		csv := &operatorsv1alpha1.ClusterServiceVersion{}
		if err := yaml.Unmarshal(b, csv); err != nil {
			t.Fatal(err)
		}
		st := csv.Spec.InstallStrategy.StrategySpec
		if len(st.DeploymentSpecs) != 1 {
			t.Fatalf("want one deployment, got %d", len(st.DeploymentSpecs))
		}
		sa := st.DeploymentSpecs[0].Spec.Template.Spec.ServiceAccountName
		got := map[grant]bool{}
		for scope, perms := range map[string][]operatorsv1alpha1.StrategyDeploymentPermissions{
			scopeCluster: st.ClusterPermissions, scopeOwn: st.Permissions,
		} {
			for _, p := range perms {
				if p.ServiceAccountName != sa {
					t.Errorf("the CSV grants %q, but the manager runs as %q", p.ServiceAccountName, sa)
				}
				grantsOf(scope, p.Rules, got)
			}
		}
		compare(t, bundle.CSVFile, got, allowedGrants(true, false))
	})
}

// The manager's TokenReviews and SubjectAccessReviews serve two callers: its metrics
// endpoint, and the executors' kubelet API (kubectl logs, exec, port-forward and top on
// agent Nodes), whose bearer tokens the manager reviews. Neither the role and binding
// that grant them nor the allow-list may read as if metrics were their only use: an
// operator who turns metrics off and removes them would have every bearer token at an
// agent's kubelet API answered 503.
func TestTheReviewGrantsNameBothTheirUsers(t *testing.T) {
	m := render(t)
	for _, resource := range []string{"tokenreviews", "subjectaccessreviews"} {
		t.Run(resource, func(t *testing.T) {
			for _, a := range allowList {
				if a.resource == resource && (!strings.Contains(a.why, "metrics endpoint") || !strings.Contains(a.why, "kubelet API")) {
					t.Errorf("the allow-list's reason for %s, %q, does not name both the metrics endpoint and the kubelet API", resource, a.why)
				}
			}
			roles := rolesGranting(t, m, resource)
			if len(roles) == 0 {
				t.Fatalf("no ClusterRole of config/default grants %s", resource)
			}
			for _, name := range append(roles, bindingsOf(t, m, roles)...) {
				if strings.Contains(name, "metrics") {
					t.Errorf("%s grants %s, which the kubelet API needs too, under a name for metrics alone", name, resource)
				}
			}
		})
	}
}

// rolesGranting names the ClusterRoles of a rendering that grant a resource.
func rolesGranting(t *testing.T, m map[string][]string, resource string) []string {
	t.Helper()
	var names []string
	for _, doc := range m["ClusterRole"] {
		var r rbacv1.ClusterRole
		if err := yaml.Unmarshal([]byte(doc), &r); err != nil {
			t.Fatal(err)
		}
		for _, rule := range r.Rules {
			if slices.Contains(rule.Resources, resource) {
				names = append(names, r.Name)
				break
			}
		}
	}
	return names
}

// bindingsOf names the ClusterRoleBindings of a rendering that bind one of roles.
func bindingsOf(t *testing.T, m map[string][]string, roles []string) []string {
	t.Helper()
	var names []string
	for _, doc := range m["ClusterRoleBinding"] {
		var b rbacv1.ClusterRoleBinding
		if err := yaml.Unmarshal([]byte(doc), &b); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(roles, b.RoleRef.Name) {
			names = append(names, b.Name)
		}
	}
	return names
}
