// Package v1alpha1 contains the API of k8sm: MesosCluster (one Mesos framework
// registration) and MesosTask (the Mesos half of one Pod).
// +kubebuilder:object:generate=true
// +groupName=mesos.k8sm.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the k8sm API.
	GroupVersion = schema.GroupVersion{Group: "mesos.k8sm.io", Version: "v1alpha1"}

	// SchemeBuilder adds the k8sm types to a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the k8sm types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
