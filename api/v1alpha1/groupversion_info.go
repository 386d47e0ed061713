// Package v1alpha1 contains the API of k8sm: MesosCluster (one Mesos framework
// registration) and MesosTask (the Mesos half of one Pod).
// +kubebuilder:object:generate=true
// +groupName=mesos.k8sm.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of the k8sm API.
	GroupVersion = schema.GroupVersion{Group: "mesos.k8sm.io", Version: "v1alpha1"}

	// SchemeBuilder adds the k8sm types to a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the k8sm types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &MesosCluster{}, &MesosClusterList{}, &MesosTask{}, &MesosTaskList{}, &OutageToleration{}, &OutageTolerationList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
