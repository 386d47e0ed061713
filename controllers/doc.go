// Package controllers holds the k8sm reconcilers: MesosCluster (one framework
// connection each), MesosTask, Pod (scheduler and kubelet roles) and agent Nodes.
package controllers

// The manager's permissions, each for the reason beside it.
//
// Its own API: read and track MesosClusters and MesosTasks, write their status, and
// keep finalizers on them (update).
// +kubebuilder:rbac:groups=mesos.k8sm.io,resources=mesosclusters,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=mesos.k8sm.io,resources=mesosclusters/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=mesos.k8sm.io,resources=mesosclusters/finalizers,verbs=update
// +kubebuilder:rbac:groups=mesos.k8sm.io,resources=mesostasks,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=mesos.k8sm.io,resources=mesostasks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=mesos.k8sm.io,resources=mesostasks/finalizers,verbs=update
//
// Pods: watch the ones to schedule, bind them to agent Nodes, mirror task state into
// their status, and remove them once their task ended (as a kubelet does).
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups="",resources=pods/binding,verbs=create
// +kubebuilder:rbac:groups="",resources=pods/status,verbs=get;update;patch
//
// Nodes: one per Mesos agent, with status (Ready, capacity) kept by the operator.
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=nodes/status,verbs=get;update;patch
//
// Node heartbeats: a Lease per agent Node in kube-node-lease.
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
//
// Namespaces: evaluate a MesosCluster's namespaceSelector.
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
//
// Secrets: framework credentials and the masters' CA, read one at a time (never cached).
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
//
// Events: tell people what happened to their pods and clusters.
// +kubebuilder:rbac:groups="";events.k8s.io,resources=events,verbs=create;patch
