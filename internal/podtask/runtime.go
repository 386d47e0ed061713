package podtask

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// CheckRuntime says, naming each field, what of a pod the cluster's runtime cannot run:
// the executor refuses such a pod on the agent, after k8sm bound and launched it, and
// the pod fails; its Deployment or StatefulSet makes it again at once, to fail again. It
// refuses what the executor does (executor.DecodePod with the runtime's Supports, the
// process runtime's CheckPod, the kubelet runtime's static pod), and a test of the
// executor's side keeps the two the same:
//   - process: volumes but emptyDir; env from ConfigMaps, Secrets or anything but the
//     downward API fields it gives; containers without a command; gRPC probes; a
//     container's restartPolicyRules, and its restartPolicy where it says otherwise
//     than the pod's (a sidecar's Always aside);
//   - kubelet: volumes of other API objects (Secrets, ConfigMaps, projected, claims, CSI),
//     and in-tree ones but hostPath, nfs, iscsi and fc; env from ConfigMaps or Secrets;
//     imagePullSecrets (the Pod reconciler takes out first those that are the pod's
//     ServiceAccount's, which PodData leaves out of the task).
//
// The service account token volume the API server adds (kube-api-access-*) is dropped by
// the executor, and not held against the pod. nil means the runtime can run it.
func CheckRuntime(pod *corev1.Pod, runtime mesosv1alpha1.ExecutorRuntime) error {
	kubelet := runtime == mesosv1alpha1.RuntimeKubelet
	var why []string
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if !serviceAccountToken(v) && !runtimeProvides(kubelet, v) {
			why = append(why, "spec.volumes["+strconv.Itoa(i)+"] ("+v.Name+"): it cannot provide "+sourceKind(&v.VolumeSource)+" volumes")
		}
	}
	if kubelet && len(pod.Spec.ImagePullSecrets) > 0 {
		why = append(why, "spec.imagePullSecrets: a static pod cannot refer to Secrets; give the agents' container runtime the registry credentials")
	}
	eachContainer(pod, func(path *field.Path, c *corev1.Container) {
		if kubelet {
			why = append(why, staticEnv(path, c)...)
			return
		}
		why = append(why, processContainer(path, c)...)
	})
	if !kubelet {
		why = append(why, processRestartPolicies(pod)...)
	}
	if len(why) == 0 {
		return nil
	}
	if runtime == "" {
		runtime = mesosv1alpha1.RuntimeProcess
	}
	return errors.New(Clamp("the cluster's "+string(runtime)+" runtime (spec.executor.runtime) cannot run the pod: "+
		strings.Join(why, "; "), MaxMessageLength))
}

// runtimeProvides says whether a runtime provides a volume: the process runtime
// emptyDir alone (a directory in the sandbox), the kubelet runtime what a static pod may
// have, the volumes that need no other API object.
func runtimeProvides(kubelet bool, v *corev1.Volume) bool {
	s := &v.VolumeSource
	if !kubelet {
		return s.EmptyDir != nil
	}
	switch {
	case s.EmptyDir != nil, s.HostPath != nil, s.DownwardAPI != nil, s.Image != nil:
		return true
	case s.Secret != nil, s.ConfigMap != nil, s.Projected != nil, s.PersistentVolumeClaim != nil, s.Ephemeral != nil, s.CSI != nil:
		return false
	}
	return s.NFS != nil || s.ISCSI != nil || s.FC != nil
}

// serviceAccountToken says whether a volume is the service account token the API
// server adds, which the executor drops with its mounts.
func serviceAccountToken(v *corev1.Volume) bool {
	if v.Projected == nil || !strings.HasPrefix(v.Name, "kube-api-access-") {
		return false
	}
	return slices.ContainsFunc(v.Projected.Sources, func(s corev1.VolumeProjection) bool { return s.ServiceAccountToken != nil })
}

// processFieldPaths are the downward API fields the process runtime gives as env
// values, besides single labels and annotations.
var processFieldPaths = []string{"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
	"spec.serviceAccountName", "status.hostIP", "status.podIP"}

// processContainer is what of a container the process runtime cannot run.
func processContainer(path *field.Path, c *corev1.Container) []string {
	var why []string
	if len(c.Command) == 0 && len(c.Args) == 0 {
		why = append(why, path.Child("command").String()+": it runs commands, and "+c.Name+" has none")
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
	}{{"startupProbe", c.StartupProbe}, {"readinessProbe", c.ReadinessProbe}, {"livenessProbe", c.LivenessProbe}} {
		if p.probe != nil && p.probe.GRPC != nil {
			why = append(why, path.Child(p.name, "grpc").String()+": it runs exec, httpGet and tcpSocket probes, not gRPC ones")
		}
	}
	for j := range c.EnvFrom {
		why = append(why, path.Child("envFrom").Index(j).String()+": it cannot read ConfigMaps or Secrets")
	}
	for j, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
		case e.ValueFrom.FieldRef == nil:
			why = append(why, envField(path, j, e)+": it takes values from fieldRef only, not from "+sourceKind(e.ValueFrom))
		case !processFieldPath(e.ValueFrom.FieldRef.FieldPath):
			why = append(why, envField(path, j, e)+": it gives no fieldRef "+e.ValueFrom.FieldRef.FieldPath)
		}
	}
	return why
}

// processRestartPolicies is what of the containers' own restart policies the process
// runtime does not follow (the executor's checkRestartPolicies): it restarts a container
// as the pod's restartPolicy says (an init container until it succeeds, unless that is
// Never), a sidecar (restartPolicy Always, in an init container) always, and by no
// restartPolicyRules (ContainerRestartRules, on by default since Kubernetes 1.35). A
// container's restartPolicy that says the same as the pod's changes nothing.
func processRestartPolicies(pod *corev1.Pod) []string {
	var why []string
	spec := field.NewPath("spec")
	for _, cs := range []struct {
		path *field.Path
		ctrs []corev1.Container
		init bool
	}{{spec.Child("initContainers"), pod.Spec.InitContainers, true}, {spec.Child("containers"), pod.Spec.Containers, false}} {
		for i := range cs.ctrs {
			c, path := &cs.ctrs[i], cs.path.Index(i)
			if len(c.RestartPolicyRules) > 0 {
				why = append(why, path.Child("restartPolicyRules").String()+": it does not restart containers by rules")
			}
			if c.RestartPolicy == nil || (cs.init && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways) {
				continue
			}
			if own, p := *c.RestartPolicy, podRestartPolicy(pod, cs.init); own != p {
				why = append(why, path.Child("restartPolicy").String()+": it restarts the container as the pod's restartPolicy says ("+
					string(p)+"), not as its own ("+string(own)+")")
			}
		}
	}
	return why
}

// podRestartPolicy is how the pod's restartPolicy has a container restarted, as a
// container's own restartPolicy would say it: an init container is restarted until it
// succeeds (OnFailure) unless the pod's is Never.
func podRestartPolicy(pod *corev1.Pod, init bool) corev1.ContainerRestartPolicy {
	switch policy := pod.Spec.RestartPolicy; {
	case policy == corev1.RestartPolicyNever:
		return corev1.ContainerRestartPolicyNever
	case init, policy == corev1.RestartPolicyOnFailure:
		return corev1.ContainerRestartPolicyOnFailure
	}
	return corev1.ContainerRestartPolicyAlways
}

// processFieldPath says whether the process runtime gives a downward API field.
func processFieldPath(p string) bool {
	return slices.Contains(processFieldPaths, p) || strings.HasPrefix(p, "metadata.labels['") || strings.HasPrefix(p, "metadata.annotations['")
}

// staticEnv is what of a container's env a static pod cannot have: references to
// ConfigMaps or Secrets.
func staticEnv(path *field.Path, c *corev1.Container) []string {
	const refused = ": a static pod cannot refer to ConfigMaps or Secrets"
	var why []string
	for j, e := range c.EnvFrom {
		if e.ConfigMapRef != nil || e.SecretRef != nil {
			why = append(why, path.Child("envFrom").Index(j).String()+refused)
		}
	}
	for j, e := range c.Env {
		if e.ValueFrom != nil && (e.ValueFrom.ConfigMapKeyRef != nil || e.ValueFrom.SecretKeyRef != nil) {
			why = append(why, envField(path, j, e)+refused)
		}
	}
	return why
}

// envField names a container's env value: spec.containers[0].env[1] (NAME).
func envField(path *field.Path, j int, e corev1.EnvVar) string {
	return path.Child("env").Index(j).String() + " (" + e.Name + ")"
}

// sourceKind names the source a volume or env value has, as the pod spec does
// (persistentVolumeClaim, secretKeyRef), the first by name should it have several.
func sourceKind(source any) string {
	b, _ := json.Marshal(source)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	kinds := make([]string, 0, len(m))
	for k := range m {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	if len(kinds) == 0 {
		return "empty"
	}
	return kinds[0]
}
