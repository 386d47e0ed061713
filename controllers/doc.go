// Package controllers holds the k8sm reconcilers: MesosCluster (one framework
// connection each), MesosTask, Pod (scheduler and kubelet roles) and agent Nodes.
package controllers

// The manager's permissions, each for the reason beside it; docs/security.md ("What the
// manager can do in the cluster") explains them and test/manifests
// (TestManagerRBACMatchesTheAllowList) holds them to an allow-list, so that a broader
// marker fails CI. Verbs are the ones the code sends: get, list and watch for what the
// informer cache holds; the writes each reconciler makes, no more.
//
// Its own API: read and track MesosClusters and MesosTasks (the cache), keep the
// cluster's finalizer (update), make, finalize and remove a pod's MesosTask, and write
// their status (a patch for the cluster; an update or a patch for a task).
// +kubebuilder:rbac:groups=mesos.k8sm.io,resources=mesosclusters,verbs=get;list;watch;update
// +kubebuilder:rbac:groups=mesos.k8sm.io,resources=mesosclusters/status,verbs=patch
// +kubebuilder:rbac:groups=mesos.k8sm.io,resources=mesostasks,verbs=get;list;watch;create;update;delete
//
// Each cluster's OutageToleration, the parameter of the outage tolerations admission
// policy (config/admission): read (the cache), written from the cluster's spec, removed
// with the cluster. It is controlled by its cluster with blockOwnerDeletion, which takes
// update on the cluster's finalizers subresource where OwnerReferencesPermissionEnforcement
// runs.
// +kubebuilder:rbac:groups=mesos.k8sm.io,resources=outagetolerations,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups=mesos.k8sm.io,resources=mesosclusters/finalizers,verbs=update
//
// Pods, in every namespace (pods of any namespace may name a MesosCluster's
// schedulerName): watch them, bind them to agent Nodes, mirror task state into their
// status, and remove them once their task ended (as a kubelet does).
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;delete;patch
// +kubebuilder:rbac:groups="",resources=pods/binding,verbs=create
// +kubebuilder:rbac:groups="",resources=pods/status,verbs=update;patch
//
// A MesosTask is controlled by its pod with blockOwnerDeletion; where the
// OwnerReferencesPermissionEnforcement admission plugin runs (OpenShift), setting that
// takes update on the owner's finalizers subresource, which is all this grants.
// +kubebuilder:rbac:groups="",resources=pods/finalizers,verbs=update
//
// PodDisruptionBudgets, listed (not watched: only when a pod preempts others) so that
// preemption spares the pods a budget protects where it can, as kube-scheduler does.
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=list
//
// Nodes: one per Mesos agent, made, labelled and removed by the operator, their status
// (Ready, capacity) patched as a kubelet patches its own.
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=nodes/status,verbs=patch
//
// Node heartbeats: a Lease per agent Node, in kube-node-lease only (a Role there). No
// watch: each renewal updates the copy the last one returned (leaseCopies); a List reads
// those without a copy at once (after a start, a new leader), not one GET each.
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=kube-node-lease,roleName=manager-node-lease-role,resources=leases,verbs=get;list;create;update;patch;delete
//
// Namespaces: evaluate a MesosCluster's namespaceSelector, and pod affinity terms'
// namespace selectors (the cache); kube-system's UID names the Kubernetes cluster in the
// frameworks' labels.
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
//
// ServiceAccounts: a pod's, read one at a time (never cached), on the kubelet runtime
// only, to tell the imagePullSecrets it gives its pods from a pod's own.
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get
//
// Secrets: framework credentials and the masters' CA, read one at a time (never cached
// or listed), in the manager's own namespace only ("system" is that namespace before
// kustomize names it; OLM installs it as the operator's namespace): a MesosCluster that
// names a Secret elsewhere is refused with reason SecretNamespaceNotAllowed.
// +kubebuilder:rbac:groups="",namespace=system,roleName=manager-secrets-role,resources=secrets,verbs=get
//
// Events: tell people what happened to their pods (in every namespace) and to clusters
// and Nodes (in default). The manager records them through events.k8s.io only.
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
//
// Serving certificates of the executors' kubelet API, for clusters that ask for the
// kubelet-serving signer's (spec.kubeletAPI.servingCertificate: KubeletServingSigner):
// file a request per executor for its agent's Node, read it by name until it is signed
// (never listed or cached), delete it once the executor has its answer, and approve it,
// for the kubernetes.io/kubelet-serving signer only, once internal/servingcert has
// checked it names only that Node and the agent's hostname and IP.
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests,verbs=get;create;delete
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests/approval,verbs=update
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=signers,resourceNames=kubernetes.io/kubelet-serving,verbs=approve
