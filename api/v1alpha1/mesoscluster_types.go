package v1alpha1

import (
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultFailoverTimeout is spec.framework.failoverTimeout when it is not set (the API
// server defaults it to the same, "168h").
const DefaultFailoverTimeout = 7 * 24 * time.Hour

// PlacementStrategy says how tasks are spread over the offers of one round.
// +kubebuilder:validation:Enum=spread;binpack
type PlacementStrategy string

const (
	// PlacementSpread prefers the agent with the most room left.
	PlacementSpread PlacementStrategy = "spread"
	// PlacementBinpack prefers the fullest agent that still fits.
	PlacementBinpack PlacementStrategy = "binpack"
)

// DeletionPolicy says what happens to the Mesos framework when its MesosCluster is deleted.
// +kubebuilder:validation:Enum=Teardown;Orphan
type DeletionPolicy string

const (
	// DeletionTeardown tears the framework down: Mesos kills all its tasks.
	DeletionTeardown DeletionPolicy = "Teardown"
	// DeletionOrphan disconnects and leaves the tasks running until the failover timeout.
	DeletionOrphan DeletionPolicy = "Orphan"
)

// FrameworkCapability is a Mesos FrameworkInfo capability the operator may ask for.
// MULTI_ROLE is always set.
// +kubebuilder:validation:Enum=PARTITION_AWARE;TASK_KILLING_STATE;GPU_RESOURCES;REGION_AWARE
type FrameworkCapability string

// ExecutorRuntime is how the k8sm executor runs a pod on the agent.
// +kubebuilder:validation:Enum=process;kubelet
type ExecutorRuntime string

const (
	// RuntimeProcess runs each container's command as a child process in the sandbox.
	RuntimeProcess ExecutorRuntime = "process"
	// RuntimeKubelet hands the pod to the agent's kubelet as a static pod.
	RuntimeKubelet ExecutorRuntime = "kubelet"
)

// SecretKeyRef names a Secret (cluster-scoped objects need a namespace) and, where it
// matters, a key in it.
type SecretKeyRef struct {
	// namespace of the Secret: the manager's own (k8sm-system as installed), the only
	// one it may read Secrets from; a Secret elsewhere is refused
	// (SecretNamespaceNotAllowed).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`

	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key in the Secret's data. Ignored where the Secret's keys are fixed.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
}

// CAKey is the key of a CA bundle in the Secret r names: its key, ca.crt when it names
// none.
func (r *SecretKeyRef) CAKey() string {
	if r.Key == "" {
		return "ca.crt"
	}
	return r.Key
}

// FrameworkSpec is the FrameworkInfo the operator registers with.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.user) || (has(self.user) && self.user == oldSelf.user)",message="framework.user is immutable: Mesos does not let a framework change its user on failover"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.checkpoint) || (has(self.checkpoint) && self.checkpoint == oldSelf.checkpoint)",message="framework.checkpoint is immutable: Mesos does not let a framework change checkpointing on failover"
// +kubebuilder:validation:XValidation:rule="!has(self.credentialsSecretRef) || has(self.principal)",message="framework.principal is required when framework.credentialsSecretRef is set"
type FrameworkSpec struct {
	// name of the framework as Mesos shows it.
	// +optional
	// +kubebuilder:default=k8sm
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name,omitempty"`

	// user the agents run the executor as (Mesos's FrameworkInfo.user). The process
	// runtime runs containers as their own users (spec.podSecurity), which takes a root
	// executor; the kubelet runtime's containers are the kubelet's. Immutable.
	// +optional
	// +kubebuilder:default=root
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	User string `json:"user,omitempty"`

	// roles the framework subscribes with (MULTI_ROLE). Defaults to ["*"]. A role is
	// what Mesos takes (roles::validate): `*`, or components separated by single slashes,
	// none of them `.`, `..` or `*`, none starting with `-`, with no whitespace.
	// +optional
	// +kubebuilder:default={"*"}
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:items:Pattern=`^[^/\t\n\v\f\r \x7f]+(/[^/\t\n\v\f\r \x7f]+)*$`
	// +kubebuilder:validation:items:XValidation:rule="self == '*' || !self.matches('(^|/)([-]|[.][.]?(/|$)|[*](/|$))')",message="a role's components must not be '.', '..' or '*', nor start with '-': Mesos refuses such a role"
	// +kubebuilder:validation:XValidation:rule="self.all(r, self.exists_one(x, x == r))",message="framework.roles must not name a role twice"
	Roles []string `json:"roles,omitempty"`

	// principal the framework authenticates as. Immutable once the framework is
	// registered (status.frameworkID is set), set or not: Mesos refuses a framework that
	// subscribes again with another principal. A principal changed before the framework
	// id was recorded may be set back to status.frameworkPrincipal.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Principal string `json:"principal,omitempty"`

	// credentialsSecretRef names a Secret with keys `principal` and `secret`, sent to the
	// master as HTTP basic authentication.
	// +optional
	CredentialsSecretRef *SecretKeyRef `json:"credentialsSecretRef,omitempty"`

	// allowPlaintextCredentials lets the credentials travel to an http:// master (or a
	// zk:// master without spec.tls), where anyone on the path can read them. Off by
	// default: such a cluster does not connect; when on, Degraded says so.
	// +optional
	AllowPlaintextCredentials bool `json:"allowPlaintextCredentials,omitempty"`

	// failoverTimeout is how long Mesos keeps the framework's tasks running while the
	// operator is disconnected, a duration such as 168h or 1h30m (units h, m, s, ms, us,
	// ns). Defaults to one week. Under a minute, Degraded says so
	// (ShortFailoverTimeout): a manager's restart or failover, or a master's failover,
	// disconnects it for seconds.
	// +optional
	// +kubebuilder:default="168h"
	// +kubebuilder:validation:XValidation:rule="size(self) <= 64",message="framework.failoverTimeout must be a duration of at most 64 characters"
	// +kubebuilder:validation:XValidation:rule="size(self) > 64 || self.matches('^[-+]?(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$')",message="framework.failoverTimeout must be a duration such as 168h, 90m or 1h30m (units h, m, s, ms, us, ns; no d or w)"
	// +kubebuilder:validation:XValidation:rule="size(self) > 64 || !self.matches('^[-+]?(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$') || duration(self) >= duration('0s')",message="framework.failoverTimeout must not be negative, nor over 2562047h (the longest duration the manager reads)"
	FailoverTimeout *metav1.Duration `json:"failoverTimeout,omitempty"`

	// checkpoint asks agents to checkpoint the framework's tasks so they survive an agent
	// restart. Immutable.
	// +optional
	// +kubebuilder:default=true
	Checkpoint *bool `json:"checkpoint,omitempty"`

	// webuiURL is shown by Mesos as the framework's web UI.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^https?://')",message="framework.webuiURL must start with http:// or https://"
	WebuiURL string `json:"webuiURL,omitempty"`

	// capabilities to ask Mesos for besides MULTI_ROLE, which is always set.
	// Defaults to PARTITION_AWARE and TASK_KILLING_STATE. GPU_RESOURCES is needed for
	// pods asking for nvidia.com/gpu. With REGION_AWARE, agents of other regions than the
	// master's get Nodes and take only the pods that select a region
	// (topology.kubernetes.io/region) or their Node.
	// +optional
	// +kubebuilder:default={"PARTITION_AWARE","TASK_KILLING_STATE"}
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	Capabilities []FrameworkCapability `json:"capabilities,omitempty"`
}

// ExecutorResources are the resources of the k8sm executor itself, counted once per agent.
type ExecutorResources struct {
	// cpus of the executor. At least 0.01, as Mesos requires; at most 1T.
	// +optional
	// +kubebuilder:default="100m"
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).compareTo(quantity('10m')) >= 0",message="executor.resources.cpus must be at least 10m (0.01 cpus), as Mesos requires"
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).compareTo(quantity('1T')) <= 0",message="executor.resources.cpus must be at most 1T (10^12 cpus), what Mesos holds exactly"
	CPUs *resource.Quantity `json:"cpus,omitempty"`

	// memory of the executor. At least 32Mi, as Mesos requires; at most 8Pi.
	// +optional
	// +kubebuilder:default="64Mi"
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).compareTo(quantity('32Mi')) >= 0",message="executor.resources.memory must be at least 32Mi, as Mesos requires"
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).compareTo(quantity('8Pi')) <= 0",message="executor.resources.memory must be at most 8Pi (2^53 bytes), what Mesos holds to the byte"
	Memory *resource.Quantity `json:"memory,omitempty"`
}

// ExecutorSpec says how agents obtain and start the k8sm executor.
// +kubebuilder:validation:XValidation:rule="has(self.image) || has(self.uri)",message="executor needs an image or a uri to fetch the k8sm-executor binary from"
// +kubebuilder:validation:XValidation:rule="!has(self.kubelet) || self.runtime == 'kubelet'",message="executor.kubelet configures the kubelet runtime: set runtime: kubelet, or remove it"
type ExecutorSpec struct {
	// image is a container image holding /k8sm-executor (the Dockerfile's executor
	// target), which the agent's Mesos containerizer runs in the image's filesystem: the
	// agents need filesystem/linux and docker/runtime in --isolation (and volume/host_path
	// for the kubelet runtime, whose manifest directory, token and CA files are mounted
	// from the host at their paths) and docker in --image_providers. It suits the kubelet
	// runtime: the process runtime would run the pods' commands in the image's filesystem.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// uri the agent's fetcher downloads the k8sm-executor binary from (http(s)://,
	// hdfs://, or a path on the agent).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	URI string `json:"uri,omitempty"`

	// command starts the executor in its sandbox, through sh -c (with an image, the
	// image's sh), --runtime and the kubelet runtime's flags appended. Defaults to
	// `./<the uri's file name>` with a uri; with an image, /k8sm-executor is started
	// without a shell.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Command string `json:"command,omitempty"`

	// runtime the executor runs pods with: process (child processes in the sandbox) or
	// kubelet (static pods of a kubelet on each agent).
	// +optional
	// +kubebuilder:default=process
	Runtime ExecutorRuntime `json:"runtime,omitempty"`

	// kubelet says how the executor reaches the kubelet on each agent, for the kubelet
	// runtime.
	// +optional
	Kubelet *KubeletRuntimeSpec `json:"kubelet,omitempty"`

	// resources of the executor itself.
	// +optional
	// +kubebuilder:default={}
	Resources ExecutorResources `json:"resources,omitempty"`

	// shutdownGracePeriod is how long a Mesos agent gives the executor to stop its pods
	// when Mesos shuts the executor down (the framework torn down, the agent shut down,
	// its machine taken down for maintenance) before it kills what is left
	// (ExecutorInfo.shutdown_grace_period): each pod gets three quarters of it, at most
	// its terminationGracePeriodSeconds. Unset, the agent's
	// --executor_shutdown_grace_period applies (5s by default, so 3.75s per pod).
	// Setting or changing it starts new executors for new pods, as any change of
	// spec.executor does. Between 5s (the agent's default: less would cut the pods'
	// grace, and the process runtime's SIGKILL comes 2s after SIGTERM at the earliest) and
	// 1h.
	// +optional
	// +kubebuilder:validation:XValidation:rule="size(self) <= 64",message="executor.shutdownGracePeriod must be a duration of at most 64 characters"
	// +kubebuilder:validation:XValidation:rule="size(self) > 64 || self.matches('^[-+]?(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$')",message="executor.shutdownGracePeriod must be a duration such as 30s, 2m or 1m30s (units h, m, s, ms, us, ns; no d or w)"
	// +kubebuilder:validation:XValidation:rule="size(self) > 64 || !self.matches('^[-+]?(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$') || (duration(self) >= duration('5s') && duration(self) <= duration('1h'))",message="executor.shutdownGracePeriod must be between 5s (Mesos's default) and 1h"
	ShutdownGracePeriod *metav1.Duration `json:"shutdownGracePeriod,omitempty"`
}

// KubeletRuntimeSpec says where the kubelet runtime finds each agent's kubelet. Paths
// are on the agents.
// +kubebuilder:validation:XValidation:rule="!has(self.insecureSkipTLSVerify) || !self.insecureSkipTLSVerify || !has(self.caFile)",message="caFile and insecureSkipTLSVerify exclude each other"
// +kubebuilder:validation:XValidation:rule="!has(self.tokenFile) || !has(self.url) || !self.url.startsWith('http://')",message="tokenFile needs an https:// url: the executor sends the token only to a kubelet whose certificate it verifies"
// +kubebuilder:validation:XValidation:rule="!has(self.tokenFile) || !has(self.insecureSkipTLSVerify) || !self.insecureSkipTLSVerify",message="tokenFile and insecureSkipTLSVerify exclude each other: the token would go to whatever holds the kubelet's port"
// +kubebuilder:validation:XValidation:rule="!has(self.serverName) || !has(self.url) || !self.url.startsWith('http://')",message="serverName needs an https:// url: an http:// url has no certificate to verify against it"
// +kubebuilder:validation:XValidation:rule="!has(self.serverName) || !has(self.insecureSkipTLSVerify) || !self.insecureSkipTLSVerify",message="serverName and insecureSkipTLSVerify exclude each other: no certificate is verified against serverName"
type KubeletRuntimeSpec struct {
	// manifestDir is the kubelet's staticPodPath, where the executor writes each pod's
	// manifest.
	// +optional
	// +kubebuilder:default="/etc/kubernetes/manifests"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/`
	ManifestDir string `json:"manifestDir,omitempty"`

	// url of the kubelet's pod API: its authenticated port (https://127.0.0.1:10250,
	// with tokenFile and caFile) or its read-only port (http://127.0.0.1:10255, without
	// tokenFile). The authenticated port also shows when a killed pod's containers are
	// gone.
	// +optional
	// +kubebuilder:default="https://127.0.0.1:10250"
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://`
	URL string `json:"url,omitempty"`

	// tokenFile holds a bearer token the kubelet accepts (e.g. a service account token
	// allowed nodes/proxy and nodes/pods). The executor sends it only to an https:// url
	// whose certificate it verifies: an http:// url or insecureSkipTLSVerify with it is
	// refused, as whatever listened on the kubelet's port would get the token.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/`
	TokenFile string `json:"tokenFile,omitempty"`

	// caFile holds the CA bundle that signed the kubelet's serving certificate, or that
	// certificate itself when the kubelet made it (/var/lib/kubelet/pki/kubelet.crt).
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/`
	CAFile string `json:"caFile,omitempty"`

	// serverName is the name the kubelet's serving certificate is verified against,
	// instead of the url's host: one name for every agent, for kubelets whose
	// certificates carry it alike. Unset, with caFile and a loopback url (the default
	// https://127.0.0.1:10250), the agent's hostname is taken too: a kubelet's own
	// self-signed certificate (/var/lib/kubelet/pki/kubelet.crt) names only its node
	// name, its hostname unless it has --hostname-override.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	ServerName string `json:"serverName,omitempty"`

	// insecureSkipTLSVerify does not verify the kubelet's certificate. For testing only,
	// and never with tokenFile or serverName (refused).
	// +optional
	InsecureSkipTLSVerify bool `json:"insecureSkipTLSVerify,omitempty"`
}

// TLSSpec configures https to the masters.
type TLSSpec struct {
	// caSecretRef names a Secret holding the CA bundle that signed the masters'
	// certificates (key defaults to ca.crt).
	// +optional
	CASecretRef *SecretKeyRef `json:"caSecretRef,omitempty"`

	// insecureSkipVerify turns certificate verification off. For testing only.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// PlacementSpec tunes how pods are matched to offers.
type PlacementSpec struct {
	// strategy spreads pods over agents or packs them onto as few as possible.
	// +optional
	// +kubebuilder:default=spread
	Strategy PlacementStrategy `json:"strategy,omitempty"`

	// refuseSeconds is how long Mesos keeps a declined offer's resources away from
	// the framework.
	// +optional
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	RefuseSeconds *int32 `json:"refuseSeconds,omitempty"`

	// offerHoldSeconds is how long an offer a scheduling round left unused is held for
	// the pods that come next, before it is declined; 0 declines it at once. It is
	// declined at once anyway when a pod the round tried still waits. Holding spares
	// Mesos a REVIVE, and the framework every agent's offer, for each pod that comes
	// alone; meanwhile no other framework is offered the held resources.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=300
	OfferHoldSeconds *int32 `json:"offerHoldSeconds,omitempty"`
}

// MesosClusterSpec names a Mesos master and how to run pods there.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.schedulerName) || (has(self.schedulerName) && self.schedulerName == oldSelf.schedulerName)",message="schedulerName is immutable: pods already scheduled by this cluster refer to it"
type MesosClusterSpec struct {
	// master is the Mesos master: one URL (`http://m1:5050`, host and port only: the
	// scheduler API is at /api/v1/scheduler on it), a comma-separated list of URLs tried
	// in turn, or a ZooKeeper URL (`zk://zk1:2181,zk2:2181/mesos`).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^https?://[^,/?#@ ]+/?(,https?://[^,/?#@ ]+/?)*$') || self.matches('^zk://[^/ ]+/[^ ]+$')",message="master must be http(s)://host:port with no path (a scheduler subscribes at /api/v1/scheduler on it), a comma-separated list of them, or zk://host:port[,host:port]/path"
	Master string `json:"master"`

	// schedulerName pods set in spec.schedulerName to run on this cluster. Unique across
	// MesosClusters. Immutable.
	// +optional
	// +kubebuilder:default=mesos
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self != 'default-scheduler'",message="schedulerName must not be default-scheduler: kube-scheduler places those pods"
	SchedulerName string `json:"schedulerName,omitempty"`

	// framework is the FrameworkInfo to register with.
	// +optional
	// +kubebuilder:default={}
	Framework FrameworkSpec `json:"framework,omitempty"`

	// executor says how agents obtain and start the k8sm executor.
	// +required
	Executor ExecutorSpec `json:"executor"`

	// tls configures https to the masters.
	// +optional
	TLS *TLSSpec `json:"tls,omitempty"`

	// placement tunes how pods are matched to offers.
	// +optional
	// +kubebuilder:default={}
	Placement PlacementSpec `json:"placement,omitempty"`

	// namespaceSelector limits the namespaces whose pods this cluster takes. Empty or
	// absent: all namespaces. At most 64 labels and 64 expressions of 64 values each.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || size(self.matchLabels) <= 64",message="namespaceSelector.matchLabels must have at most 64 labels"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || self.matchLabels.all(k, size(k) <= 317 && size(self.matchLabels[k]) <= 63)",message="namespaceSelector.matchLabels keys must be at most 317 characters and values at most 63, as label keys and values are"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || size(self.matchExpressions) <= 64",message="namespaceSelector.matchExpressions must have at most 64 expressions"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, size(e.key) <= 317 && size(e.operator) <= 16 && (!has(e.values) || size(e.values) <= 64))",message="each namespaceSelector expression must have a key of at most 317 characters and at most 64 values"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="a namespaceSelector expression's operator must be In, NotIn, Exists or DoesNotExist"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, (e.operator in ['In', 'NotIn']) == (has(e.values) && size(e.values) > 0))",message="a namespaceSelector expression needs values with In and NotIn, and none with Exists and DoesNotExist"
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// podSecurity says who pods run as on the agents and whether a pod may ask for root.
	// +optional
	// +kubebuilder:default={}
	PodSecurity PodSecuritySpec `json:"podSecurity,omitempty"`

	// kubeletAPI says how the executors serve the kubelet's API for the agent Nodes
	// (kubectl logs, exec, attach, port-forward, top).
	// +optional
	// +kubebuilder:default={}
	KubeletAPI KubeletAPISpec `json:"kubeletAPI,omitempty"`

	// deletionPolicy says what deleting this MesosCluster does to the framework:
	// Teardown kills its tasks, Orphan leaves them running.
	// +optional
	// +kubebuilder:default=Teardown
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// ResourceSummary adds up scalar Mesos resources.
type ResourceSummary struct {
	// cpus in total.
	// +optional
	CPUs *resource.Quantity `json:"cpus,omitempty"`
	// memory in total.
	// +optional
	Memory *resource.Quantity `json:"memory,omitempty"`
	// disk in total.
	// +optional
	Disk *resource.Quantity `json:"disk,omitempty"`
	// gpus in total.
	// +optional
	GPUs int64 `json:"gpus,omitempty"`
}

// TaskCounts counts the cluster's MesosTasks by phase.
type TaskCounts struct {
	// pending tasks wait for an offer that fits.
	// +optional
	Pending int32 `json:"pending,omitempty"`
	// launching tasks are staging or starting.
	// +optional
	Launching int32 `json:"launching,omitempty"`
	// running tasks. Written when 0 too, so that the Running column shows 0 rather than
	// nothing.
	// +optional
	Running int32 `json:"running"`
	// killing tasks are being stopped.
	// +optional
	Killing int32 `json:"killing,omitempty"`
	// unreachable tasks are on agents Mesos cannot reach.
	// +optional
	Unreachable int32 `json:"unreachable,omitempty"`
	// terminated tasks finished, failed, were killed or are gone.
	// +optional
	Terminated int32 `json:"terminated,omitempty"`
}

// Condition types of a MesosCluster.
const (
	// ConditionSubscribed is True while the framework holds a subscription with the leading master.
	ConditionSubscribed = "Subscribed"
	// ConditionReconciled is True once Mesos answered for every task asked about after
	// the last subscription, and the answers were written.
	ConditionReconciled = "Reconciled"
	// ConditionReady is True when pods can be scheduled onto the cluster.
	ConditionReady = "Ready"
	// ConditionDegraded is True when something needs a person's attention.
	ConditionDegraded = "Degraded"
)

// MesosClusterStatus is what the operator observed of the framework.
type MesosClusterStatus struct {
	// observedGeneration is the generation of the spec the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// frameworkID Mesos gave the framework; the operator fails over with it.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	FrameworkID string `json:"frameworkID,omitempty"`

	// frameworkPrincipal is the principal the framework of frameworkID registered with
	// (none when it has none): the one spec.framework.principal may be set back to if it
	// was changed before frameworkID was recorded, since Mesos takes no other.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	FrameworkPrincipal string `json:"frameworkPrincipal,omitempty"`

	// leader is the address of the leading master.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Leader string `json:"leader,omitempty"`

	// agents is the number of agents the master lists (its operator API) or that sent
	// the framework offers. Written when 0 too, for the Agents column.
	// +optional
	Agents int32 `json:"agents"`

	// capacity of the agents seen: their whole resources, as their Nodes' capacity
	// (reservations to other roles included, revocable resources not). What the
	// framework's roles may be offered is each Node's allocatable.
	// +optional
	Capacity *ResourceSummary `json:"capacity,omitempty"`

	// allocated to this framework's tasks.
	// +optional
	Allocated *ResourceSummary `json:"allocated,omitempty"`

	// tasks counts the cluster's MesosTasks by phase.
	// +optional
	Tasks *TaskCounts `json:"tasks,omitempty"`

	// executorID is the executor new pods are launched with. It changes with
	// spec.executor: pods launched before keep running on the executor they started on.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	ExecutorID string `json:"executorID,omitempty"`

	// executors lists the executors that run the cluster's live tasks, with how many
	// agents and tasks each: after a change of spec.executor, the old one runs out. At
	// most 64: past that, the current executor and the busiest others.
	// +optional
	// +listType=map
	// +listMapKey=id
	// +kubebuilder:validation:MaxItems=64
	Executors []ExecutorUsage `json:"executors,omitempty"`

	// conditions: Subscribed, Reconciled, Ready, Degraded.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// ExecutorUsage is how much one executor of a cluster is in use.
type ExecutorUsage struct {
	// id of the executor (the same on every agent).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	ID string `json:"id"`

	// agents running the executor with live tasks.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Agents int32 `json:"agents,omitempty"`

	// tasks of the cluster that run in it (launched, not ended).
	// +optional
	// +kubebuilder:validation:Minimum=0
	Tasks int32 `json:"tasks,omitempty"`
}

// MesosCluster is one Mesos framework registration: pods that name its schedulerName run
// as tasks on that Mesos cluster.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=mc,categories=k8sm
// +kubebuilder:printcolumn:name="Scheduler",type=string,JSONPath=`.spec.schedulerName`
// +kubebuilder:printcolumn:name="Master",type=string,JSONPath=`.spec.master`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Agents",type=integer,JSONPath=`.status.agents`
// +kubebuilder:printcolumn:name="Running",type=integer,JSONPath=`.status.tasks.running`
// +kubebuilder:printcolumn:name="Framework",type=string,JSONPath=`.status.frameworkID`,priority=1
// +kubebuilder:printcolumn:name="Leader",type=string,JSONPath=`.status.leader`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.frameworkID) || (has(self.spec.framework.principal) ? has(oldSelf.spec.framework.principal) && self.spec.framework.principal == oldSelf.spec.framework.principal : !has(oldSelf.spec.framework.principal)) || (has(oldSelf.status.frameworkPrincipal) && has(self.spec.framework.principal) && self.spec.framework.principal == oldSelf.status.frameworkPrincipal)",message="spec.framework.principal cannot change once the framework is registered (status.frameworkID), but back to the principal it registered with (status.frameworkPrincipal): Mesos refuses a framework that subscribes with another principal than it registered with; create a new MesosCluster to register a framework with this principal"
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="a MesosCluster's name must be at most 63 characters: it is the value of the mesos.k8sm.io/cluster label on its Nodes and MesosTasks"
type MesosCluster struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec names the master and how to run pods there.
	// +required
	Spec MesosClusterSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status MesosClusterStatus `json:"status,omitempty"`
}

// MesosClusterList is a list of MesosClusters.
// +kubebuilder:object:root=true
type MesosClusterList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MesosCluster `json:"items"`
}
