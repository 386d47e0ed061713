package podtask

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// AnnotationDefaultUser, on the pod the executor gets in TaskInfo.data, is the cluster's
// "UID:GID" for process-runtime containers that name no user (spec.podSecurity). k8sm
// sets it on every pod it sends to the process runtime, over any value the pod had, and
// removes it for the kubelet runtime: a pod cannot choose its own default.
const AnnotationDefaultUser = "mesos.k8sm.io/default-user"

// annotationAppArmorPrefix is the older way to ask for an AppArmor profile, per
// container, which the API server still accepts.
const annotationAppArmorPrefix = "container.apparmor.security.beta.kubernetes.io/"

// Security is what a cluster says about who its pods run as and how (spec.podSecurity
// and spec.executor.runtime).
type Security struct {
	// Runtime runs the pods: the process runtime enforces what CheckSecurity lets
	// through itself; the kubelet runtime hands it to a kubelet.
	Runtime mesosv1alpha1.ExecutorRuntime
	// User and Group are the process runtime's default uid and gid.
	User, Group int64
	// RefuseRoot refuses pods that ask for root (runAsUser 0, privileged, added
	// capabilities; for the process runtime, group 0 as well).
	RefuseRoot bool
	// AllowedIDs are the uids and gids other than 0, User and Group that a pod may name
	// on the process runtime (spec.podSecurity.allowedIDs). None allows none: SecurityFor
	// fills in the default.
	AllowedIDs []mesosv1alpha1.IDRange
}

// SecurityFor is the Security of a cluster, its defaults filled in.
func SecurityFor(mc *mesosv1alpha1.MesosCluster) Security {
	ps := mc.Spec.PodSecurity
	s := Security{Runtime: mc.Spec.Executor.Runtime, User: mesosv1alpha1.DefaultPodUser, Group: mesosv1alpha1.DefaultPodUser,
		RefuseRoot: ps.RootPods != mesosv1alpha1.RootPodsAllow}
	if s.Runtime == "" {
		s.Runtime = mesosv1alpha1.RuntimeProcess
	}
	if ps.RunAsUser != nil {
		s.User = *ps.RunAsUser
	}
	if ps.RunAsGroup != nil {
		s.Group = *ps.RunAsGroup
	}
	s.AllowedIDs = slices.Clone(ps.AllowedIDs)
	if len(s.AllowedIDs) == 0 {
		s.AllowedIDs = mesosv1alpha1.DefaultAllowedIDs()
	}
	return s
}

// DefaultUser is the value of AnnotationDefaultUser for the process runtime.
func (s Security) DefaultUser() string {
	return strconv.FormatInt(s.User, 10) + ":" + strconv.FormatInt(s.Group, 10)
}

// CheckSecurity says why a pod may not run on a cluster, naming each field: what asks
// for root where the cluster refuses it (for the process runtime, group 0 too), a
// runAsNonRoot that contradicts runAsUser 0, and, for the process runtime, each id
// outside the cluster's allowedIDs and each securityContext field it cannot enforce
// (docs/security.md has the table). nil means the pod may run.
func CheckSecurity(pod *corev1.Pod, s Security) error {
	var errs field.ErrorList
	errs = append(errs, checkPodSecurityContext(pod, s)...)
	errs = append(errs, checkHostAccess(pod, s)...)
	errs = append(errs, checkIDs(pod, s)...)
	eachContainer(pod, func(path *field.Path, c *corev1.Container) {
		errs = append(errs, checkContainerSecurity(path, pod, c, s)...)
	})
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("the pod cannot run on this cluster: %w", errs.ToAggregate())
}

func checkPodSecurityContext(pod *corev1.Pod, s Security) field.ErrorList {
	var errs field.ErrorList
	path := field.NewPath("spec", "securityContext")
	process := s.Runtime == mesosv1alpha1.RuntimeProcess
	if process {
		if pod.Spec.HostUsers != nil && !*pod.Spec.HostUsers {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "hostUsers"), "the process runtime has no user namespaces: its processes use the agent's users"))
		}
		for _, k := range sortedKeys(pod.Annotations) {
			if strings.HasPrefix(k, annotationAppArmorPrefix) && pod.Annotations[k] != "unconfined" {
				errs = append(errs, field.Forbidden(field.NewPath("metadata", "annotations").Key(k), "the process runtime applies no AppArmor profile"))
			}
		}
	}
	sc := pod.Spec.SecurityContext
	if sc == nil {
		return errs
	}
	if s.RefuseRoot && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		errs = append(errs, field.Forbidden(path.Child("runAsUser"), rootRefused))
	}
	if sc.RunAsUser != nil && *sc.RunAsUser == 0 && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot {
		errs = append(errs, field.Invalid(path.Child("runAsNonRoot"), true, "runAsUser is 0 (root)"))
	}
	if !process {
		return errs
	}
	if sc.SELinuxOptions != nil {
		errs = append(errs, field.Forbidden(path.Child("seLinuxOptions"), "the process runtime applies no SELinux label"))
	}
	if sc.WindowsOptions != nil {
		errs = append(errs, field.Forbidden(path.Child("windowsOptions"), "the process runtime runs Linux processes"))
	}
	if len(sc.Sysctls) > 0 {
		errs = append(errs, field.Forbidden(path.Child("sysctls"), "the process runtime shares the agent's kernel namespaces and sets no sysctl"))
	}
	errs = append(errs, checkProfiles(path, sc.SeccompProfile, sc.AppArmorProfile)...)
	return errs
}

// checkHostAccess refuses, on the kubelet runtime under rootPods: Refuse, what gives a
// container the agent itself, as Pod Security's baseline level does: the agent's PID
// namespace (a container running as root, its image's user, reaches every process's
// /proc/<pid>/root), its IPC and network namespaces (and so whatever the agent serves on
// loopback: the Mesos agent's and the kubelet's APIs), and hostPath volumes (the
// agent's files, as root). The process runtime shares the agent's namespaces whatever
// these say, and takes no hostPath volume: its pods are processes of the agent, held to
// their ids.
func checkHostAccess(pod *corev1.Pod, s Security) field.ErrorList {
	if !s.RefuseRoot || s.Runtime != mesosv1alpha1.RuntimeKubelet {
		return nil
	}
	var errs field.ErrorList
	spec := field.NewPath("spec")
	for _, ns := range []struct {
		field, what string
		on          bool
	}{
		{"hostPID", "the agent's processes", pod.Spec.HostPID},
		{"hostIPC", "the agent's IPC namespace", pod.Spec.HostIPC},
		{"hostNetwork", "the agent's network namespace, and what the agent serves on loopback", pod.Spec.HostNetwork},
	} {
		if ns.on {
			errs = append(errs, field.Forbidden(spec.Child(ns.field), "it gives the pod "+ns.what+": "+rootRefused))
		}
	}
	for i, v := range pod.Spec.Volumes {
		if v.HostPath != nil {
			errs = append(errs, field.Forbidden(spec.Child("volumes").Index(i).Child("hostPath"),
				"it gives the pod the agent's files: "+rootRefused))
		}
	}
	return errs
}

// rootRefused is the message for a field that asks for root on a cluster that refuses it.
const rootRefused = "this cluster refuses pods that ask for root (spec.podSecurity.rootPods: Refuse)"

func checkContainerSecurity(path *field.Path, pod *corev1.Pod, c *corev1.Container, s Security) field.ErrorList {
	sc := c.SecurityContext
	if sc == nil {
		return nil
	}
	var errs field.ErrorList
	path = path.Child("securityContext")
	process := s.Runtime == mesosv1alpha1.RuntimeProcess
	if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		if s.RefuseRoot {
			errs = append(errs, field.Forbidden(path.Child("runAsUser"), rootRefused))
		}
		if nonRoot := runAsNonRoot(pod, c); nonRoot {
			errs = append(errs, field.Invalid(path.Child("runAsNonRoot"), true, "runAsUser is 0 (root)"))
		}
	}
	// The container's own runAsNonRoot against the pod's runAsUser 0 (the pod's
	// runAsNonRoot against it is checkPodSecurityContext's).
	if psc := pod.Spec.SecurityContext; sc.RunAsUser == nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot &&
		psc != nil && psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		errs = append(errs, field.Invalid(path.Child("runAsNonRoot"), true, "spec.securityContext.runAsUser is 0 (root)"))
	}
	if sc.Privileged != nil && *sc.Privileged {
		switch {
		case s.RefuseRoot:
			errs = append(errs, field.Forbidden(path.Child("privileged"), rootRefused))
		case process:
			errs = append(errs, field.Forbidden(path.Child("privileged"), "the process runtime cannot run a privileged container"))
		}
	}
	if sc.Capabilities != nil && len(sc.Capabilities.Add) > 0 {
		switch {
		case s.RefuseRoot:
			errs = append(errs, field.Forbidden(path.Child("capabilities", "add"), rootRefused))
		case process:
			errs = append(errs, field.Forbidden(path.Child("capabilities", "add"), "the process runtime only drops capabilities"))
		}
	}
	if process {
		errs = append(errs, checkProcessContainer(path, sc)...)
	}
	return errs
}

// runAsNonRoot is the container's runAsNonRoot, or its pod's.
func runAsNonRoot(pod *corev1.Pod, c *corev1.Container) bool {
	if c.SecurityContext != nil && c.SecurityContext.RunAsNonRoot != nil {
		return *c.SecurityContext.RunAsNonRoot
	}
	psc := pod.Spec.SecurityContext
	return psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
}

// checkProcessContainer refuses what the process runtime cannot do for a container.
func checkProcessContainer(path *field.Path, sc *corev1.SecurityContext) field.ErrorList {
	var errs field.ErrorList
	if sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
		errs = append(errs, field.Forbidden(path.Child("readOnlyRootFilesystem"), "the process runtime runs on the agent's filesystem and has no root filesystem of the container's own"))
	}
	if sc.SELinuxOptions != nil {
		errs = append(errs, field.Forbidden(path.Child("seLinuxOptions"), "the process runtime applies no SELinux label"))
	}
	if sc.WindowsOptions != nil {
		errs = append(errs, field.Forbidden(path.Child("windowsOptions"), "the process runtime runs Linux processes"))
	}
	if sc.ProcMount != nil && *sc.ProcMount != corev1.DefaultProcMount {
		errs = append(errs, field.Forbidden(path.Child("procMount"), "the process runtime uses the agent's /proc"))
	}
	return append(errs, checkProfiles(path, sc.SeccompProfile, sc.AppArmorProfile)...)
}

// checkProfiles refuses the seccomp and AppArmor profiles the process runtime cannot
// apply: it installs its own RuntimeDefault seccomp filter, and no AppArmor profile.
func checkProfiles(path *field.Path, seccomp *corev1.SeccompProfile, apparmor *corev1.AppArmorProfile) field.ErrorList {
	var errs field.ErrorList
	if seccomp != nil && seccomp.Type == corev1.SeccompProfileTypeLocalhost {
		errs = append(errs, field.Forbidden(path.Child("seccompProfile", "type"), "the process runtime has no Localhost profiles; use RuntimeDefault"))
	}
	if apparmor != nil && apparmor.Type != corev1.AppArmorProfileTypeUnconfined {
		errs = append(errs, field.Forbidden(path.Child("appArmorProfile", "type"), "the process runtime applies no AppArmor profile"))
	}
	return errs
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
