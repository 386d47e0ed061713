package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OutageTolerationSpec is what the outage tolerations policy needs of a MesosCluster.
type OutageTolerationSpec struct {
	// schedulerName is the MesosCluster's: the policy gives its tolerations to the pods
	// that name it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self != 'default-scheduler'",message="schedulerName must not be default-scheduler: no MesosCluster's pods name it"
	SchedulerName string `json:"schedulerName"`

	// tolerationSeconds is how long those pods tolerate their agent's Node being
	// unreachable or not ready: the MesosCluster's failover timeout, in seconds. 0: the
	// policy gives no tolerations.
	// +required
	// +kubebuilder:validation:Minimum=0
	TolerationSeconds int64 `json:"tolerationSeconds"`
}

// OutageToleration is the parameter of the outage tolerations admission policy
// (config/admission) for one MesosCluster, of the same name and owned by it. The manager
// writes it from the cluster's spec; people need not touch it. The policy reads it for
// every pod created in the cluster, and kube-apiserver converts a custom resource
// parameter to JSON and back each time: a small object of its own costs each pod a
// fraction of what the MesosCluster, with its status and managed fields, would.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=k8sm
// +kubebuilder:printcolumn:name="Scheduler",type=string,JSONPath=`.spec.schedulerName`
// +kubebuilder:printcolumn:name="Seconds",type=integer,JSONPath=`.spec.tolerationSeconds`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type OutageToleration struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the policy gives the cluster's pods.
	// +required
	Spec OutageTolerationSpec `json:"spec"`
}

// OutageTolerationList is a list of OutageTolerations.
// +kubebuilder:object:root=true
type OutageTolerationList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []OutageToleration `json:"items"`
}
