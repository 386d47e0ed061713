package podtask

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/placement"
)

// RequestFor is the placement request of a pod's task: the MesosTask's resources, the
// pod's node selector and affinity, and the task's role (the pod's mesos.k8sm.io/role
// annotation when the MesosTask names none). A pod already bound to a Node (a launch
// that did not happen before a restart) is pinned to that agent.
func RequestFor(pod *corev1.Pod, mt *mesosv1alpha1.MesosTask) placement.Request {
	res := mt.Spec.Resources
	r := placement.Request{
		ID:           mt.Spec.TaskID,
		NodeSelector: pod.Spec.NodeSelector,
		Affinity:     pod.Spec.Affinity,
		Role:         mt.Spec.Role,
		GPUs:         float64(res.GPUs),
	}
	if r.Role == "" {
		r.Role = pod.Annotations[AnnotationRole]
	}
	if res.CPUs != nil {
		r.CPUs = float64(res.CPUs.MilliValue()) / 1000
	}
	if res.Memory != nil {
		r.MemMB = float64(res.Memory.Value()) / (1 << 20)
	}
	if res.Disk != nil {
		r.DiskMB = float64(res.Disk.Value()) / (1 << 20)
	}
	for _, p := range res.Ports {
		r.HostPorts = append(r.HostPorts, uint32(p))
	}
	// A bound pod runs on its Node's agent or nowhere: the binding may already have
	// launched it there (see the scheduler's prepareLaunch).
	r.Node = pod.Spec.NodeName
	return r
}

// PodData is the pod as the executor gets it in TaskInfo.data: metadata and spec, with
// managed fields and status left out.
func PodData(pod *corev1.Pod) ([]byte, error) {
	p := corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: *pod.ObjectMeta.DeepCopy(), Spec: *pod.Spec.DeepCopy()}
	p.ManagedFields = nil
	return json.Marshal(&p)
}

// BuildTaskInfo is the TaskInfo that launches a pod as placed: its resources from the
// offer, the shared executor (with the executor's resources when this launch starts it),
// the pod in data, labels naming the pod, and a kill policy from the pod's grace period.
func BuildTaskInfo(pod *corev1.Pod, a placement.Assignment, executor mesos.ExecutorInfo) (mesos.TaskInfo, error) {
	data, err := PodData(pod)
	if err != nil {
		return mesos.TaskInfo{}, fmt.Errorf("encoding the pod for the executor: %w", err)
	}
	exec := executor
	exec.Resources = a.ExecutorResources
	grace := 30 * time.Second
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	labels := []mesos.Label{
		{Key: LabelNamespace, Value: &pod.Namespace},
		{Key: LabelName, Value: &pod.Name},
		{Key: LabelUID, Value: ptr(string(pod.UID))},
	}
	keys := make([]string, 0, len(pod.Annotations))
	for k := range pod.Annotations {
		if strings.HasPrefix(k, AnnotationTaskLabelPrefix) {
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
