// Package executor is the agent side of k8sm: a Mesos executor (v1 executor HTTP API)
// that runs the pods of one cluster on one agent with a Runtime and reports each pod's
// state, with its PodStatus, as task status updates.
package executor

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// DecodePod reads the pod the operator put in TaskInfo.data and checks that it can run:
// an error names the field that cannot. Data that is no pod is refused, and so is a pod
// whose UID, container or volume names the API server would not take (the runtimes make
// paths of them), or whose quantities are written with exponents beyond a double's
// (which the quantity parser would take ages to expand). The service account token
// volume the API server adds to pods (kube-api-access-*) is dropped with its mounts:
// pods on Mesos agents get no Kubernetes API credentials.
func DecodePod(data []byte, supported func(*corev1.Volume) bool) (*corev1.Pod, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("the task carries no pod in its data")
	}
	if err := checkQuantityExponents(data); err != nil {
		return nil, fmt.Errorf("the task data is not a pod: %v", err)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(data, &pod); err != nil {
		return nil, fmt.Errorf("the task data is not a pod: %v", err)
	}
	if len(pod.Spec.Containers) == 0 {
		return nil, fmt.Errorf("spec.containers: the pod has no containers")
	}
	if err := checkNames(&pod); err != nil {
		return nil, err
	}
	dropServiceAccountToken(&pod)
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if supported != nil && !supported(v) {
			return nil, fmt.Errorf("spec.volumes[%d] (%s): this runtime cannot provide %s volumes", i, v.Name, VolumeKind(v))
		}
	}
	return &pod, nil
}

// dropServiceAccountToken removes the projected service account token volumes the API
// server's ServiceAccount admission adds, and their mounts.
func dropServiceAccountToken(pod *corev1.Pod) {
	dropped := map[string]bool{}
	kept := pod.Spec.Volumes[:0]
	for _, v := range pod.Spec.Volumes {
		if isServiceAccountToken(&v) {
			dropped[v.Name] = true
			continue
		}
		kept = append(kept, v)
	}
	if len(dropped) == 0 {
		return
	}
	pod.Spec.Volumes = kept
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			mounts := cs[i].VolumeMounts[:0]
			for _, m := range cs[i].VolumeMounts {
				if !dropped[m.Name] {
					mounts = append(mounts, m)
				}
			}
			cs[i].VolumeMounts = mounts
		}
	}
}

func isServiceAccountToken(v *corev1.Volume) bool {
	if v.Projected == nil || !strings.HasPrefix(v.Name, "kube-api-access-") {
		return false
	}
	for _, s := range v.Projected.Sources {
		if s.ServiceAccountToken != nil {
			return true
		}
	}
	return false
}

// VolumeKind names a volume's source as the pod spec does (emptyDir, secret, nfs, ...),
// for messages that say which volume a runtime cannot provide.
func VolumeKind(v *corev1.Volume) string {
	b, _ := json.Marshal(v.VolumeSource)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	for k := range m {
		return k
	}
	return "empty"
}

// Report is what a runtime says about a pod.
type Report struct {
	// Status is the pod's status; its Phase says where the pod is.
	Status corev1.PodStatus
	// Killed is set once the pod was stopped by Kill.
	Killed bool
	// Message explains a failure.
	Message string
}

// Runtime runs pods.
type Runtime interface {
	// Start runs a pod in the sandbox directory; report is called on every change until
	// the pod ended (a report with phase Succeeded or Failed, or Killed).
	Start(pod *corev1.Pod, sandbox string, report func(Report)) (Handle, error)
	// Supports says whether the runtime can provide a volume.
	Supports(v *corev1.Volume) bool
}

// Handle controls one running pod.
type Handle interface {
	// Kill stops the pod: SIGTERM (or the runtime's equivalent), then SIGKILL after grace.
	Kill(grace time.Duration)
}
