package v1alpha1

// RootPodsPolicy says whether a pod may ask to run as root on the agents.
// +kubebuilder:validation:Enum=Refuse;Allow
type RootPodsPolicy string

const (
	// RootPodsRefuse refuses, before launch, a pod that asks for root: runAsUser 0,
	// privileged, or added capabilities; on the process runtime, group 0 as well
	// (runAsGroup, supplementalGroups, fsGroup); on the kubelet runtime, the agent's
	// namespaces (hostPID, hostIPC, hostNetwork) and hostPath volumes.
	RootPodsRefuse RootPodsPolicy = "Refuse"
	// RootPodsAllow runs what the pod asks for, within what its runtime enforces.
	RootPodsAllow RootPodsPolicy = "Allow"
)

// DefaultPodUser is the uid and gid the process runtime runs a container as when
// neither it nor its pod names one: nobody, as on most Linux distributions.
const DefaultPodUser int64 = 65534

const (
	// MinUnreservedID is the first id of the default allowedIDs: Debian, Ubuntu and RHEL
	// reserve the ids below it (SYS_UID_MAX and SYS_GID_MAX 999) for system accounts
	// and groups.
	MinUnreservedID int64 = 1000
	// MaxID is the largest uid or gid Kubernetes lets a pod name.
	MaxID int64 = 2147483647
)

// DefaultAllowedIDs is spec.podSecurity.allowedIDs when it is unset or empty: every id
// from MinUnreservedID up.
func DefaultAllowedIDs() []IDRange {
	return []IDRange{{Min: MinUnreservedID, Max: MaxID}}
}

// IDRange is a range of user or group ids, both ends included.
// +kubebuilder:validation:XValidation:rule="self.min <= self.max",message="an allowedIDs range's min must not be above its max"
type IDRange struct {
	// min is the first id of the range.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=2147483647
	Min int64 `json:"min"`

	// max is the last id of the range.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=2147483647
	Max int64 `json:"max"`
}

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
	// capabilities.add; on the process runtime one that names group 0 (runAsGroup,
	// supplementalGroups, fsGroup: root's group on the agent); on the kubelet runtime
	// one with hostPID, hostIPC, hostNetwork or a hostPath volume (the agent itself, to
	// a container running as its image's user, often root), naming the field; Allow
	// runs it.
	// +optional
	// +kubebuilder:default=Refuse
	RootPods RootPodsPolicy `json:"rootPods,omitempty"`

	// allowedIDs are the user and group ids a pod may name on the process runtime, in
	// runAsUser, runAsGroup (pod and containers), supplementalGroups and fsGroup: there
	// a container is a process of the agent, and an id is the agent's account or group
	// of that number. A pod naming an id outside them is refused before launch, naming
	// the field. Unset or empty (the same): 1000-2147483647, which leaves out the ids
	// below 1000 that Debian, Ubuntu and RHEL reserve for system accounts and groups
	// (shadow, disk, adm, sudo, docker, the agent's daemons). Always allowed besides:
	// podSecurity.runAsUser as a uid and podSecurity.runAsGroup as a gid, which the
	// cluster's owner chose, and 0, which rootPods alone governs. At most 16 ranges.
	// The kubelet runtime ignores allowedIDs: its containers have ids of their own.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	AllowedIDs []IDRange `json:"allowedIDs,omitempty"`
}
