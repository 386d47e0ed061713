package podtask

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// rootGroupRefused is the message for a gid 0 on a cluster that refuses root.
const rootGroupRefused = "gid 0 is root's group, which on the process runtime is the agent's: " + rootRefused

// checkIDs refuses, for the process runtime, the group ids a pod names that would give
// it root on the agent: its containers are the agent's processes, and their groups the
// agent's groups. A container runtime gives group 0 nothing on the host, so the kubelet
// runtime is not checked here.
func checkIDs(pod *corev1.Pod, s Security) field.ErrorList {
	if s.Runtime != mesosv1alpha1.RuntimeProcess {
		return nil
	}
	var errs field.ErrorList
	if psc := pod.Spec.SecurityContext; psc != nil {
		path := field.NewPath("spec", "securityContext")
		errs = append(errs, s.checkGID(path.Child("runAsGroup"), psc.RunAsGroup)...)
		for i := range psc.SupplementalGroups {
			errs = append(errs, s.checkGID(path.Child("supplementalGroups").Index(i), &psc.SupplementalGroups[i])...)
		}
		errs = append(errs, s.checkGID(path.Child("fsGroup"), psc.FSGroup)...)
	}
	eachContainer(pod, func(path *field.Path, c *corev1.Container) {
		errs = append(errs, s.checkContainerIDs(path, c.SecurityContext)...)
	})
	for i := range pod.Spec.EphemeralContainers {
		path := field.NewPath("spec", "ephemeralContainers").Index(i)
		errs = append(errs, s.checkContainerIDs(path, pod.Spec.EphemeralContainers[i].SecurityContext)...)
	}
	return errs
}

func (s Security) checkContainerIDs(path *field.Path, sc *corev1.SecurityContext) field.ErrorList {
	if sc == nil {
		return nil
	}
	return s.checkGID(path.Child("securityContext", "runAsGroup"), sc.RunAsGroup)
}

// checkGID refuses a gid 0 where the cluster refuses root.
func (s Security) checkGID(path *field.Path, gid *int64) field.ErrorList {
	if gid != nil && *gid == 0 && s.RefuseRoot {
		return field.ErrorList{field.Forbidden(path, rootGroupRefused)}
	}
	return nil
}
