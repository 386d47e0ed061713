package podtask

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// rootGroupRefused is the message for a gid 0 on a cluster that refuses root.
const rootGroupRefused = "gid 0 is root's group, which on the process runtime is the agent's: " + rootRefused

// checkIDs refuses, for the process runtime, the user and group ids a pod names that
// are not its to take: its containers are the agent's processes, and their ids the
// agent's accounts and groups. Group 0 is refused where the cluster refuses root (uid
// 0 is refused with the other root asks, for both runtimes), and any other id outside
// the cluster's allowed ranges but its default user and group. A container runtime
// gives its ids nothing on the host, so the kubelet runtime is not checked here.
func checkIDs(pod *corev1.Pod, s Security) field.ErrorList {
	if s.Runtime != mesosv1alpha1.RuntimeProcess {
		return nil
	}
	var errs field.ErrorList
	if psc := pod.Spec.SecurityContext; psc != nil {
		path := field.NewPath("spec", "securityContext")
		errs = append(errs, s.checkUID(path.Child("runAsUser"), psc.RunAsUser)...)
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
	path = path.Child("securityContext")
	return append(s.checkUID(path.Child("runAsUser"), sc.RunAsUser), s.checkGID(path.Child("runAsGroup"), sc.RunAsGroup)...)
}

// checkUID refuses a uid outside the allowed ranges that is not the default user. 0 is
// left to the root checks.
func (s Security) checkUID(path *field.Path, uid *int64) field.ErrorList {
	if uid == nil || *uid == 0 || *uid == s.User || s.allowed(*uid) {
		return nil
	}
	return field.ErrorList{field.Forbidden(path, s.outside("uid", *uid))}
}

// checkGID refuses a gid 0 where the cluster refuses root (whatever the ranges and
// the default group say: 0 is rootPods' alone), and any other gid outside the allowed
// ranges that is not the default group.
func (s Security) checkGID(path *field.Path, gid *int64) field.ErrorList {
	switch {
	case gid == nil:
		return nil
	case *gid == 0:
		if s.RefuseRoot {
			return field.ErrorList{field.Forbidden(path, rootGroupRefused)}
		}
		return nil
	case *gid == s.Group || s.allowed(*gid):
		return nil
	}
	return field.ErrorList{field.Forbidden(path, s.outside("gid", *gid))}
}

// allowed says whether an id is in one of the allowed ranges.
func (s Security) allowed(id int64) bool {
	for _, r := range s.AllowedIDs {
		if r.Min <= id && id <= r.Max {
			return true
		}
	}
	return false
}

// outside is the message for an id outside the allowed ranges.
func (s Security) outside(kind string, id int64) string {
	ranges := make([]string, len(s.AllowedIDs))
	for i, r := range s.AllowedIDs {
		ranges[i] = strconv.FormatInt(r.Min, 10)
		if r.Max != r.Min {
			ranges[i] += "-" + strconv.FormatInt(r.Max, 10)
		}
	}
	msg := fmt.Sprintf("%s %d is outside spec.podSecurity.allowedIDs (%s)", kind, id, strings.Join(ranges, ", "))
	if id >= 0 && id < mesosv1alpha1.MinUnreservedID {
		msg += fmt.Sprintf(": ids below %d are the agent's system accounts and groups", mesosv1alpha1.MinUnreservedID)
	}
	return msg
}
