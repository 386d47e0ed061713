package podtask

import (
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/placement"
)

// RequestFor is the placement request of a pod's task: the MesosTask's resources, the
// pod's node selector, affinity, namespace, labels and required anti-affinity terms
// (AntiAffinityTerms), and the task's role (the pod's mesos.k8sm.io/role
// annotation when the MesosTask names none). A pod already bound to a Node (a launch
// that did not happen before a restart) is pinned to that agent. Every amount is finite
// and non-negative: one out of range (a MesosTask written before k8sm checked them)
// asks for the most a task may (MaxCPUs, MaxBytes, MaxGPUs), which no agent offers, so
// that it waits instead of being launched with a wrapped amount.
func RequestFor(pod *corev1.Pod, mt *mesosv1alpha1.MesosTask) placement.Request {
	r := RequestAmounts(mt.Spec.Resources)
	r.ID, r.NodeSelector, r.Affinity, r.Role = mt.Spec.TaskID, pod.Spec.NodeSelector, pod.Spec.Affinity, mt.Spec.Role
	r.Tolerations, r.Namespace, r.Labels, r.PodUID = pod.Spec.Tolerations, pod.Namespace, pod.Labels, string(pod.UID)
	r.AntiAffinity, r.PodAffinity, r.Spread, r.Preferred = AntiAffinityTerms(pod), AffinityTerms(pod), SpreadConstraints(pod), PreferredTerms(pod)
	if r.Role == "" {
		r.Role = pod.Annotations[AnnotationRole]
	}
	// A bound pod runs on its Node's agent or nowhere: the binding may already have
	// launched it there (see the scheduler's prepareLaunch).
	r.Node = pod.Spec.NodeName
	return r
}

// RequestAmounts is what a task of those resources asks of an agent, as RequestFor asks
// it: cpus, mem, disk, gpus and host ports, each finite and non-negative (one out of
// range asks for more than any agent offers).
func RequestAmounts(res mesosv1alpha1.TaskResources) placement.Request {
	r := placement.Request{GPUs: float64(res.GPUs)}
	if res.GPUs < 0 {
		r.GPUs = MaxGPUs
	}
	if res.CPUs != nil {
		r.CPUs = cpusOf(res.CPUs)
	}
	if res.Memory != nil {
		r.MemMB = megabytesOf(res.Memory, corev1.ResourceMemory)
	}
	if res.Disk != nil {
		r.DiskMB = megabytesOf(res.Disk, corev1.ResourceEphemeralStorage)
	}
	for _, p := range res.Ports {
		if p < 1 || p > MaxPort {
			r.CPUs = MaxCPUs // a port no agent has: the task fits nowhere
			continue
		}
		r.HostPorts = append(r.HostPorts, uint32(p))
	}
	return r
}

// cpusOf is a cpu quantity as Mesos's cpus; out of range, MaxCPUs.
func cpusOf(q *resource.Quantity) float64 {
	lim := limits[corev1.ResourceCPU]
	if ok, _ := inRange(q, &lim.max); !ok {
		return MaxCPUs
	}
	return float64(q.MilliValue()) / 1000
}

// megabytesOf is a memory or disk quantity as Mesos's MB; out of range, MaxBytes' MB.
func megabytesOf(q *resource.Quantity, name corev1.ResourceName) float64 {
	lim := limits[name]
	if ok, _ := inRange(q, &lim.max); !ok {
		return MaxBytes / (1 << 20)
	}
	return float64(q.Value()) / (1 << 20)
}

// PodData is the pod as the executor gets it in TaskInfo.data: metadata and spec, with
// managed fields and status left out.
// For the process runtime it carries the cluster's default user (AnnotationDefaultUser),
// over any value the pod set; for the kubelet runtime none, and no imagePullSecrets.
func PodData(pod *corev1.Pod, sec Security) ([]byte, error) {
	// The pod's own metadata and spec, but for the annotations changed here: nothing of
	// pod is written to, and it may be the cache's.
	p := corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: pod.ObjectMeta, Spec: pod.Spec}
	p.ManagedFields = nil
	p.Annotations = maps.Clone(pod.Annotations)
	delete(p.Annotations, AnnotationDefaultUser)
	if sec.Runtime == mesosv1alpha1.RuntimeKubelet {
		// Those the pod's ServiceAccount gave it, the only ones the Pod reconciler lets
		// through (controllers/pod_pullsecrets.go): a static pod cannot use Secrets, and
		// the agent's container runtime pulls with its own credentials.
		p.Spec.ImagePullSecrets = nil
	}
	if sec.Runtime == mesosv1alpha1.RuntimeProcess {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[AnnotationDefaultUser] = sec.DefaultUser()
	}
	return json.Marshal(&p)
}

// BuildTaskInfo is the TaskInfo that launches a pod as placed: its resources from the
// offer, the shared executor (with the executor's resources when this launch starts it),
// the pod in data, labels naming the pod (then the pod's task labels, none of which may
// be k8sm's), and a kill policy from the pod's grace period. A pod ValidatePod,
// CheckPlaceable or CheckSecurity refuses gets its error, which fails the pod
// (InvalidPod): the Pod reconciler refuses such pods before they are queued, and this is
// the net for a MesosTask written before it did.
func BuildTaskInfo(pod *corev1.Pod, a placement.Assignment, executor mesos.ExecutorInfo, sec Security) (mesos.TaskInfo, error) {
	if err := ValidatePod(pod); err != nil {
		return mesos.TaskInfo{}, err
	}
	if err := CheckPlaceable(pod); err != nil {
		return mesos.TaskInfo{}, err
	}
	if err := CheckSecurity(pod, sec); err != nil {
		return mesos.TaskInfo{}, err
	}
	if pod.Spec.NodeName == "" && a.Node != "" {
		// The pod as it is once bound, which the launch comes before: the downward API's
		// spec.nodeName is the agent's Node, whichever runtime gives it. (A shallow copy:
		// only the string changes.)
		bound := *pod
		bound.Spec.NodeName = a.Node
		pod = &bound
	}
	data, err := PodData(pod, sec)
	if err != nil {
		return mesos.TaskInfo{}, fmt.Errorf("encoding the pod for the executor: %w", err)
	}
	exec := executor
	exec.Resources = a.ExecutorResources
	grace := 30 * time.Second
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	// The values are copies: a pointer into pod would keep it as long as the TaskInfo.
	labels := []mesos.Label{
		{Key: LabelNamespace, Value: ptr(pod.Namespace)},
		{Key: LabelName, Value: ptr(pod.Name)},
		{Key: LabelUID, Value: ptr(string(pod.UID))},
	}
	keys := make([]string, 0, len(pod.Annotations))
	for k := range pod.Annotations {
		// ValidatePod refused the reserved keys; they are never sent either.
		if key, ok := taskLabelKey(k); ok && key != "" && !reservedLabel(key) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		labels = append(labels, mesos.Label{Key: strings.TrimPrefix(k, AnnotationTaskLabelPrefix), Value: ptr(pod.Annotations[k])})
	}
	return mesos.TaskInfo{
		Name:       pod.Namespace + "/" + pod.Name,
		TaskID:     mesos.TaskID{Value: a.Request.ID},
		AgentID:    a.AgentID,
		Resources:  a.Resources,
		Executor:   &exec,
		Data:       data,
		Labels:     &mesos.Labels{Labels: labels},
		KillPolicy: &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: grace.Nanoseconds()}},
	}, nil
}

func ptr[T any](v T) *T { return &v }
