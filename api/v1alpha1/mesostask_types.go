package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TaskPhase is where a MesosTask is in its life (the state table in docs/mesos-mapping.md).
// +kubebuilder:validation:Enum=Pending;Staging;Starting;Running;Killing;Finished;Failed;Killed;Unreachable;Gone
type TaskPhase string

const (
	// TaskPhasePending: queued again, waiting for an offer that fits: Mesos never ran the
	// launch (TASK_DROPPED, or unknown to a reconciliation), or a pod bound to an agent's
	// Node by others waits for room there. (A pod the cluster binds has no MesosTask while
	// it is first queued.)
	TaskPhasePending TaskPhase = "Pending"
	// TaskPhaseStaging: launched, TASK_STAGING.
	TaskPhaseStaging TaskPhase = "Staging"
	// TaskPhaseStarting: TASK_STARTING.
	TaskPhaseStarting TaskPhase = "Starting"
	// TaskPhaseRunning: TASK_RUNNING.
	TaskPhaseRunning TaskPhase = "Running"
	// TaskPhaseKilling: TASK_KILLING.
	TaskPhaseKilling TaskPhase = "Killing"
	// TaskPhaseFinished: TASK_FINISHED.
	TaskPhaseFinished TaskPhase = "Finished"
	// TaskPhaseFailed: TASK_FAILED or TASK_ERROR.
	TaskPhaseFailed TaskPhase = "Failed"
	// TaskPhaseKilled: TASK_KILLED.
	TaskPhaseKilled TaskPhase = "Killed"
	// TaskPhaseUnreachable: TASK_UNREACHABLE or TASK_LOST.
	TaskPhaseUnreachable TaskPhase = "Unreachable"
	// TaskPhaseGone: TASK_GONE, TASK_GONE_BY_OPERATOR or TASK_UNKNOWN.
	TaskPhaseGone TaskPhase = "Gone"
)

// TaskResources are the resources a task asks Mesos for.
type TaskResources struct {
	// cpus of the task: at most 1T (10^12), whose thousandths Mesos holds exactly.
	// +optional
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).compareTo(quantity('0')) >= 0 && quantity(string(self)).compareTo(quantity('1T')) <= 0",message="resources.cpus must be between 0 and 1T (10^12 cpus), what Mesos holds exactly"
	CPUs *resource.Quantity `json:"cpus,omitempty"`
	// memory of the task: at most 8Pi (2^53 bytes), which Mesos holds to the byte.
	// +optional
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).compareTo(quantity('0')) >= 0 && quantity(string(self)).compareTo(quantity('8Pi')) <= 0",message="resources.memory must be between 0 and 8Pi (2^53 bytes), what Mesos holds to the byte"
	Memory *resource.Quantity `json:"memory,omitempty"`
	// disk of the task: at most 8Pi (2^53 bytes), which Mesos holds to the byte.
	// +optional
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).compareTo(quantity('0')) >= 0 && quantity(string(self)).compareTo(quantity('8Pi')) <= 0",message="resources.disk must be between 0 and 8Pi (2^53 bytes), what Mesos holds to the byte"
	Disk *resource.Quantity `json:"disk,omitempty"`
	// gpus of the task (from nvidia.com/gpu requests).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=2147483647
	GPUs int32 `json:"gpus,omitempty"`
	// ports are the host ports the task needs, taken from the agent's `ports` resource.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:items:Minimum=1
	// +kubebuilder:validation:items:Maximum=65535
	Ports []int32 `json:"ports,omitempty"`
}

// MesosTaskSpec is what the operator asks of Mesos for one pod. It is written once,
// when the pod is taken, and does not change.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="MesosTask spec is immutable"
type MesosTaskSpec struct {
	// clusterRef is the name of the MesosCluster that runs the task.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ClusterRef string `json:"clusterRef"`

	// podUID is the UID of the pod this task runs.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	PodUID string `json:"podUID"`

	// taskID is the Mesos task id, derived from the pod UID so a pod is never launched twice.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	TaskID string `json:"taskID"`

	// resources the task asks for.
	// +optional
	Resources TaskResources `json:"resources,omitempty"`

	// role the task's resources must be allocated to; empty means any of the framework's roles.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Role string `json:"role,omitempty"`

	// executorID of the cluster's shared k8sm executor when the MesosTask was made;
	// status.executorID says which one the task was launched in.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	ExecutorID string `json:"executorID,omitempty"`

	// nodeName is the Node the pod was bound to before it got this MesosTask: by another
	// scheduler, by spec.nodeName, or a DaemonSet's pod tolerating the agent Nodes' taint.
	// The task runs on that Node's agent only. Empty when the operator binds the pod.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	NodeName string `json:"nodeName,omitempty"`
}

// Condition types and reasons of a MesosTask.
const (
	// TaskConditionScheduled is True once an offer was found and the task launched.
	TaskConditionScheduled = "Scheduled"
	// ReasonUnschedulable: no offer fits; the message says why, per agent.
	ReasonUnschedulable = "Unschedulable"
)

// MesosTaskStatus is the latest state Mesos reported for the task.
type MesosTaskStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase of the task.
	// +optional
	Phase TaskPhase `json:"phase,omitempty"`

	// podPhase is the pod's phase: the one the task's state gives it, and, once the pod
	// ended, the one it ended with (Failed with reason NodeLost while its agent was
	// unreachable, say, or Succeeded when deleted with every container exiting 0), which it
	// keeps whatever the task reports after.
	// +optional
	// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed;Unknown
	PodPhase corev1.PodPhase `json:"podPhase,omitempty"`

	// mesosState is the last Mesos task state, e.g. TASK_RUNNING.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	MesosState string `json:"mesosState,omitempty"`

	// agentID of the agent running the task.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	AgentID string `json:"agentID,omitempty"`

	// executorID of the executor the task was launched in: spec.executorID, unless the
	// cluster's spec.executor changed between the MesosTask's creation and its launch.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	ExecutorID string `json:"executorID,omitempty"`

	// hostname of the agent running the task.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Hostname string `json:"hostname,omitempty"`

	// reason Mesos gave with the last update, e.g. REASON_EXECUTOR_TERMINATED.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Reason string `json:"reason,omitempty"`

	// message Mesos or the executor gave with the last update, or why the task is not
	// placed; cut at 32768 characters.
	// +optional
	// +kubebuilder:validation:MaxLength=32768
	Message string `json:"message,omitempty"`

	// source of the last update: SOURCE_MASTER, SOURCE_AGENT or SOURCE_EXECUTOR.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Source string `json:"source,omitempty"`

	// lastUpdateUUID is the uuid (hex) of the last update persisted, empty for master updates.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	LastUpdateUUID string `json:"lastUpdateUUID,omitempty"`

	// healthy is the task's health as its checks report it.
	// +optional
	Healthy *bool `json:"healthy,omitempty"`

	// launchedAt is when the task was launched.
	// +optional
	LaunchedAt *metav1.Time `json:"launchedAt,omitempty"`

	// startedAt is when the task first ran.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// finishedAt is when the task reached a terminal state.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`

	// lastUpdateTime is when the last update was persisted.
	// +optional
	LastUpdateTime *metav1.Time `json:"lastUpdateTime,omitempty"`

	// unreachableSince is when Mesos marked the task's agent unreachable (the
	// unreachable_time of its TASK_UNREACHABLE, or TASK_LOST, update), set while the phase
	// is Unreachable. The pod is Failed with reason NodeLost the manager's
	// --unreachable-timeout after it, however often the manager restarted meanwhile.
	// +optional
	UnreachableSince *metav1.Time `json:"unreachableSince,omitempty"`

	// conditions of the task: Scheduled.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// MesosTask is the Mesos half of one Pod: same name and namespace, owned by the Pod.
// It has no status subresource: a MesosTask is first written when Mesos first reports its
// task, and that one write carries the task's state (a status subresource would make it a
// create and a status write). Only the manager writes MesosTasks (people may read them);
// every status write counts as a generation.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=mt,categories=k8sm
// +kubebuilder:printcolumn:name="Pod Phase",type=string,JSONPath=`.status.podPhase`
// +kubebuilder:printcolumn:name="Mesos State",type=string,JSONPath=`.status.mesosState`
// +kubebuilder:printcolumn:name="Agent",type=string,JSONPath=`.status.hostname`
// +kubebuilder:printcolumn:name="CPUs",type=string,JSONPath=`.spec.resources.cpus`
// +kubebuilder:printcolumn:name="Mem",type=string,JSONPath=`.spec.resources.memory`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`,priority=1
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.clusterRef`,priority=1
// +kubebuilder:printcolumn:name="Task ID",type=string,JSONPath=`.spec.taskID`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MesosTask struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the operator asks of Mesos.
	// +required
	Spec MesosTaskSpec `json:"spec"`

	// status is what Mesos reported.
	// +optional
	Status MesosTaskStatus `json:"status,omitempty"`
}

// MesosTaskList is a list of MesosTasks.
// +kubebuilder:object:root=true
type MesosTaskList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MesosTask `json:"items"`
}
