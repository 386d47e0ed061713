// Package kubelet is the executor runtime that hands each pod to the agent's kubelet as a
// static pod: it writes the pod's manifest into the kubelet's static pod directory,
// follows the pod through the kubelet's pod API (/pods) and reports its status, and on
// KILL marks the manifest for deletion with the KILL's grace, removes it and waits until
// the kubelet has torn the pod down (kill.go). The kubelet and its container runtime do
// the work: images, cgroups, networking, probes.
package kubelet

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/k8sm/k8sm/executor"
)

// AnnotationPodUID carries the API pod's UID on its static pod: the kubelet renames
// static pods (<name>-<node>) and gives them UIDs of its own, so this is how the runtime
// finds its pod in the kubelet's /pods.
const AnnotationPodUID = "mesos.k8sm.io/pod-uid"

// The executor run that wrote a static pod, on its manifest, so that a later run can
// tell what an ended run left (Runtime.Sweep); and the Mesos task it runs, so that a
// run of the same pod by a new task is told from the old one (AnnotationTaskID, set by
// the executor on the pod it hands the runtime).
const (
	AnnotationFrameworkID     = "mesos.k8sm.io/framework-id"
	AnnotationExecutorID      = "mesos.k8sm.io/executor-id"
	AnnotationExecutorSandbox = "mesos.k8sm.io/executor-sandbox"
	AnnotationTaskID          = executor.AnnotationTaskID
)

// The kubelet's annotation of the source it got a pod from (ConfigSourceAnnotationKey and
// FileSource in k8s.io/kubernetes/pkg/kubelet/types), which it sets on every pod itself,
// over whatever the pod says (pkg/kubelet/config): "file" only on the static pods of its
// manifest directory, "api" on the pods the API server binds to its Node.
const (
	annotationConfigSource = "kubernetes.io/config.source"
	configSourceFile       = "file"
)

// isStaticPodOf says whether a pod of the kubelet's /pods is the static pod of the API pod
// uid run for task (any task when task is ""): a pod of a manifest file that carries uid,
// and task when there is one. A pod of the API server is never one, whatever its
// annotations: on a kubelet registered with a cluster, whoever may place a pod on its
// Node could otherwise name another pod's UID, and be handed its exec, attach, logs and
// port-forward.
func isStaticPodOf(kp *corev1.Pod, uid, task string) bool {
	a := kp.Annotations
	return a[annotationConfigSource] == configSourceFile && a[AnnotationPodUID] == uid &&
		(task == "" || a[AnnotationTaskID] == task)
}

// Manifest turns an API pod into the static pod the kubelet runs, or says, naming the
// field, why a static pod cannot do what the pod asks: static pods may not refer to
// other API objects (Secrets, ConfigMaps, volumes claims, service accounts).
func Manifest(pod *corev1.Pod) ([]byte, error) {
	static, err := staticPodOf(pod)
	if err != nil {
		return nil, err
	}
	return marshalManifest(static)
}

func marshalManifest(static *corev1.Pod) ([]byte, error) {
	return json.MarshalIndent(static, "", "  ")
}

// uidSpace is the name space of the static pods' UIDs (staticPodUID).
var uidSpace = uuid.MustParse("6f1c2a52-8d0e-4c39-9a57-0b2f4f3e61d4")

// staticPodUID is the UID of the static pod of a pod's task. The manifest names it: the
// kubelet gives a manifest without one a hash of its content, so that a rewrite of the
// manifest (the deletion marks of a KILL, markManifest) would be another pod to it, the
// first one removed with its terminationGracePeriodSeconds; with its UID, the rewrite
// is the pod's graceful deletion, as an API pod's. Each task's differs, so a new task of
// the pod is a new pod to the kubelet, which runs it once the old one has stopped.
func staticPodUID(uid types.UID, task string) types.UID {
	return types.UID(uuid.NewSHA1(uidSpace, []byte(string(uid)+"/"+task)).String())
}

// staticPodOf is the static pod of an API pod (Manifest).
func staticPodOf(pod *corev1.Pod) (*corev1.Pod, error) {
	if err := staticPodCompatible(pod); err != nil {
		return nil, err
	}
	ns := pod.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	annotations := map[string]string{}
	for k, v := range pod.Annotations {
		annotations[k] = v
	}
	annotations[AnnotationPodUID] = string(pod.UID)
	spec := *pod.Spec.DeepCopy()
	keepIdentity(&spec, pod)
	spec.NodeName = ""
	dropNodePlacement(&spec)
	spec.SchedulerName = ""
	spec.ServiceAccountName = ""
	spec.DeprecatedServiceAccount = ""
	no := false
	spec.AutomountServiceAccountToken = &no
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: ns, UID: staticPodUID(pod.UID, pod.Annotations[AnnotationTaskID]),
			Labels: pod.Labels, Annotations: annotations},
		Spec: spec,
	}, nil
}

// keepIdentity has the static pod's containers see the API pod, as its kubelet would
// show it to them, where the kubelet would show them the static pod: it names it
// <name>-<its node name>, with a UID, node name and service account of its own. The
// downward API fields of env that name them (metadata.name, metadata.uid, spec.nodeName,
// spec.serviceAccountName) become the API pod's values, and the pod's hostname its name
// (the kubelet's, cut to 63 characters), unless the pod says otherwise.
func keepIdentity(spec *corev1.PodSpec, pod *corev1.Pod) {
	values := map[string]string{"metadata.name": pod.Name, "metadata.uid": string(pod.UID),
		"spec.nodeName": spec.NodeName, "spec.serviceAccountName": spec.ServiceAccountName}
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			for j := range cs[i].Env {
				e := &cs[i].Env[j]
				if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil {
					continue
				}
				// An empty value (a pod the manager gave no node name) is left to the
				// kubelet rather than made an empty variable.
				if v, ok := values[e.ValueFrom.FieldRef.FieldPath]; ok && v != "" {
					e.Value, e.ValueFrom = v, nil
				}
			}
		}
	}
	if spec.Hostname != "" || spec.HostnameOverride != nil {
		return
	}
	// Cut as the kubelet cuts a pod's name (truncatePodHostnameIfNeeded); a name that
	// is then no DNS label (it has dots) is left to the kubelet, as spec.hostname must be one.
	h := pod.Name
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	if len(validation.IsDNS1123Label(h)) == 0 {
		spec.Hostname = h
	}
}

// dropNodePlacement removes what placed the pod on its agent's Node: its nodeSelector
// and required node affinity. k8sm placed the pod by them against the agent's Node (its
// attributes as labels, its mesos-<cluster>-<host> name); the kubelet admits a pod only
// where they match its own Node (pkg/kubelet/lifecycle/predicate.go: NodeAffinity), a
// Node of another name without those labels, and would fail it (a DaemonSet's pod, whose
// affinity names the agent's Node, every time). Preferred terms and pod affinity, which
// the kubelet does not check, are kept with the rest of the spec.
func dropNodePlacement(spec *corev1.PodSpec) {
	spec.NodeSelector = nil
	a := spec.Affinity
	if a == nil || a.NodeAffinity == nil {
		return
	}
	a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = nil
	if len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		a.NodeAffinity = nil
	}
	if a.PodAffinity == nil && a.PodAntiAffinity == nil && a.NodeAffinity == nil {
		spec.Affinity = nil
	}
}

// staticPodCompatible finds the first thing in a pod a static pod may not have.
func staticPodCompatible(pod *corev1.Pod) error {
	if pod.Name == "" {
		return fmt.Errorf("metadata.name: the pod has no name")
	}
	if pod.UID == "" {
		return fmt.Errorf("metadata.uid: the pod has no UID")
	}
	for i, v := range pod.Spec.Volumes {
		if !Supported(&v) {
			return fmt.Errorf("spec.volumes[%d] (%s): a static pod cannot use %s volumes", i, v.Name, executor.VolumeKind(&v))
		}
	}
	if len(pod.Spec.ImagePullSecrets) > 0 {
		return fmt.Errorf("spec.imagePullSecrets: a static pod cannot refer to Secrets; give the agent's container runtime the registry credentials")
	}
	if len(pod.Spec.EphemeralContainers) > 0 {
		return fmt.Errorf("spec.ephemeralContainers: a static pod cannot have ephemeral containers")
	}
	for _, group := range []struct {
		field string
		cs    []corev1.Container
	}{{"spec.initContainers", pod.Spec.InitContainers}, {"spec.containers", pod.Spec.Containers}} {
		for i, c := range group.cs {
			for j, e := range c.EnvFrom {
				if e.ConfigMapRef != nil || e.SecretRef != nil {
					return fmt.Errorf("%s[%d].envFrom[%d]: a static pod cannot refer to ConfigMaps or Secrets", group.field, i, j)
				}
			}
			for j, e := range c.Env {
				if e.ValueFrom != nil && (e.ValueFrom.ConfigMapKeyRef != nil || e.ValueFrom.SecretKeyRef != nil) {
					return fmt.Errorf("%s[%d].env[%d] (%s): a static pod cannot refer to ConfigMaps or Secrets", group.field, i, j, e.Name)
				}
			}
		}
	}
	return nil
}

// Supported says whether a static pod can have a volume: those that need no other API
// object (emptyDir, hostPath, the downward API, ephemeral inline sources the kubelet
// provides itself).
func Supported(v *corev1.Volume) bool {
	s := v.VolumeSource
	switch {
	case s.EmptyDir != nil, s.HostPath != nil, s.DownwardAPI != nil, s.Image != nil:
		return true
	case s.Secret != nil, s.ConfigMap != nil, s.Projected != nil, s.PersistentVolumeClaim != nil, s.Ephemeral != nil, s.CSI != nil:
		return false
	}
	// In-tree network volumes (nfs, iscsi, ...) need no API object either.
	return s.NFS != nil || s.ISCSI != nil || s.FC != nil
}
