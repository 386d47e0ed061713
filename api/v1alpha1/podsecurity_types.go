package v1alpha1

// RootPodsPolicy says whether a pod may ask to run as root on the agents.
// +kubebuilder:validation:Enum=Refuse;Allow
type RootPodsPolicy string

const (
	// RootPodsRefuse refuses, before launch, a pod that asks for root: runAsUser 0,
	// privileged, or added capabilities; on the process runtime, group 0 as well
	// (runAsGroup, supplementalGroups, fsGroup).
	RootPodsRefuse RootPodsPolicy = "Refuse"
	// RootPodsAllow runs what the pod asks for, within what its runtime enforces.
	RootPodsAllow RootPodsPolicy = "Allow"
)

// DefaultPodUser is the uid and gid the process runtime runs a container as when
// neither it nor its pod names one: nobody, as on most Linux distributions.
const DefaultPodUser int64 = 65534

// PodSecuritySpec says who pods run as on the agents. See docs/security.md for what
// each runtime does with each securityContext field.
// +kubebuilder:validation:XValidation:rule="!has(self.rootPods) || self.rootPods != 'Refuse' || !has(self.runAsUser) || self.runAsUser != 0",message="podSecurity.runAsUser must not be 0 (root) while rootPods is Refuse"
// +kubebuilder:validation:XValidation:rule="!has(self.rootPods) || self.rootPods != 'Refuse' || !has(self.runAsGroup) || self.runAsGroup != 0",message="podSecurity.runAsGroup must not be 0 (root) while rootPods is Refuse"
type PodSecuritySpec struct {
	// runAsUser is the uid the process runtime runs a container as when neither the
	// container nor its pod sets securityContext.runAsUser. Default 65534 (nobody).
	// Not 0 (root) while rootPods is Refuse. The kubelet runtime leaves it to the
	// image, as a kubelet does.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=2147483647
	RunAsUser *int64 `json:"runAsUser,omitempty"`

	// runAsGroup is the gid the process runtime runs a container as when neither the
	// container nor its pod sets securityContext.runAsGroup. Default 65534 (nogroup).
	// Not 0 (root's group) while rootPods is Refuse.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=2147483647
	RunAsGroup *int64 `json:"runAsGroup,omitempty"`

	// rootPods says whether a pod may ask for root on the agents: Refuse (the default)
	// fails, before launch, a pod with runAsUser 0, privileged: true or
	// capabilities.add, and on the process runtime one that names group 0 (runAsGroup,
	// supplementalGroups, fsGroup: root's group on the agent), naming the field; Allow
	// runs it.
	// +optional
	// +kubebuilder:default=Refuse
	RootPods RootPodsPolicy `json:"rootPods,omitempty"`
}
