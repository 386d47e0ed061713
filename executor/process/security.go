package process

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// The securityContext, enforced.
//
// A container's process runs on the agent's host, in the sandbox, with no image and no
// mount, PID or network namespace; what the runtime can still hold it to it does, on
// Linux, for each container and each of its exec probes (helper_linux.go does it, in a
// copy of the executor's binary that then execs the command):
//
//   - its user, group and supplementary groups (runAsUser, runAsGroup,
//     supplementalGroups, fsGroup), by default the cluster's default user that the
//     manager names in the pod's AnnotationDefaultUser, else nobody (65534);
//   - a bounding set no larger than a container runtime's default capabilities, minus
//     capabilities.drop: a setuid-root program it runs gains no more than that;
//   - allowPrivilegeEscalation: false as no_new_privs; seccompProfile RuntimeDefault as
//     a seccomp filter (seccomp_linux.go);
//   - runAsNonRoot, refused when the process would run as uid 0;
//   - none of the executor's open files (stdin, stdout and stderr are the container's)
//     nor its session keyring (the container gets a new one).
//
// What it cannot honour (privileged, capabilities.add, a read-only root filesystem,
// SELinux, AppArmor, Localhost seccomp profiles, an unmasked /proc, Windows options,
// sysctls, user namespaces) it refuses: the manager refuses such pods before they are
// launched, and the executor refuses them again, in case one gets through.

// AnnotationDefaultUser is set on the pod by the manager: "UID:GID", the cluster's user
// for containers that name none (runAsUser, runAsGroup), when the executor runs as root.
const AnnotationDefaultUser = "mesos.k8sm.io/default-user"

// nobody is the default user without the annotation.
const nobody = 65534

// maxID is the largest uid or gid a process can take: (uid_t)-1 means "unchanged" to
// the set*id calls.
const maxID = 1<<32 - 2

// identity is who a process runs as.
type identity struct {
	UID, GID uint32
	Groups   []uint32
}

func (id identity) root() bool { return id.UID == 0 }

// currentIdentity is the executor's own identity, by effective ids.
func currentIdentity() identity {
	id := identity{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid())}
	gs, _ := os.Getgroups()
	for _, g := range gs {
		id.Groups = append(id.Groups, uint32(g))
	}
	return id
}

// settings is how a container's processes run: what the helper applies before it execs
// the container's command or an exec probe's.
type settings struct {
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
	// Caps is the bounding set; for uid 0, the permitted and effective sets too.
	Caps uint64 `json:"caps"`
	// NoNewPrivs: allowPrivilegeEscalation is false.
	NoNewPrivs bool `json:"noNewPrivs,omitempty"`
	// Seccomp: the RuntimeDefault seccomp filter.
	Seccomp bool `json:"seccomp,omitempty"`
	// OOMScoreAdj is the kubelet's oom_score_adj for the container (oomScoreAdj), which
	// the helper takes only above the executor's own; 0 for none.
	OOMScoreAdj int `json:"oomScoreAdj,omitempty"`
}

// user is the settings' identity as a container status reports it; the supplementary
// groups start with the primary group, as `id -G` lists them.
func (s settings) user() *corev1.ContainerUser {
	u := &corev1.LinuxContainerUser{UID: int64(s.UID), GID: int64(s.GID), SupplementalGroups: []int64{int64(s.GID)}}
	for _, g := range s.Groups {
		if g != s.GID {
			u.SupplementalGroups = append(u.SupplementalGroups, int64(g))
		}
	}
	return &corev1.ContainerUser{Linux: u}
}

// capNames are the Linux capabilities by number (capability.h).
var capNames = [...]string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
	"SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
	"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
	"MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
	"CHECKPOINT_RESTORE"}

// defaultCaps is what containerd and CRI-O give a container that asks for nothing
// (0xa80425fb): the most a container of the process runtime can hold.
var defaultCaps = capMask("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
	"SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE")

// capMask is the set of the named capabilities, written as Kubernetes takes them (with or
// without CAP_, any case); names it does not know are left out.
func capMask(names ...string) uint64 {
	var m uint64
	for _, n := range names {
		if i := slices.Index(capNames[:], strings.TrimPrefix(strings.ToUpper(n), "CAP_")); i >= 0 {
			m |= 1 << i
		}
	}
	return m
}

// capsOf is the default set minus capabilities.drop (ALL drops them all). A name the
// runtime does not know drops nothing, as containerd does.
func capsOf(c *corev1.Capabilities) uint64 {
	if c == nil {
		return defaultCaps
	}
	caps := defaultCaps
	for _, d := range c.Drop {
		if strings.EqualFold(string(d), "ALL") {
			return 0
		}
		caps &^= capMask(string(d))
	}
	return caps
}

// defaultUser reads AnnotationDefaultUser; without it the default user is nobody.
func defaultUser(p *corev1.Pod) (identity, error) {
	v, ok := p.Annotations[AnnotationDefaultUser]
	if !ok {
		return identity{UID: nobody, GID: nobody}, nil
	}
	u, g, found := strings.Cut(v, ":")
	uid, err1 := strconv.ParseUint(u, 10, 32)
	gid, err2 := strconv.ParseUint(g, 10, 32)
	if !found || err1 != nil || err2 != nil || uid > maxID || gid > maxID {
		return identity{}, fmt.Errorf("metadata.annotations[%s]: %q is not UID:GID", AnnotationDefaultUser, v)
	}
	return identity{UID: uint32(uid), GID: uint32(gid)}, nil
}

// resolved is a container's settings, or why it cannot start (its
// CreateContainerConfigError).
type resolved struct {
	settings
	err error
}

// resolvePod resolves the settings of the pod's init and main containers for an executor
// running as self. An error is a pod the runtime refuses; a container that cannot start
// has its reason in its resolved.
func resolvePod(p *corev1.Pod, self identity) (inits, mains []resolved, err error) {
	if err := refuseUnsupported(p); err != nil {
		return nil, nil, err
	}
	def, err := defaultUser(p)
	if err != nil {
		return nil, nil, err
	}
	for i := range p.Spec.InitContainers {
		s, err := resolveContainer(p, &p.Spec.InitContainers[i], fmt.Sprintf("spec.initContainers[%d]", i), self, def)
		inits = append(inits, resolved{s, err})
	}
	for i := range p.Spec.Containers {
		s, err := resolveContainer(p, &p.Spec.Containers[i], fmt.Sprintf("spec.containers[%d]", i), self, def)
		mains = append(mains, resolved{s, err})
	}
	return inits, mains, nil
}

// field is a securityContext value with the path it came from: the container's
// securityContext overrides the pod's.
type field[T any] struct {
	v    *T
	path string
}

func pick[T any](c, p *T, cPath, pPath string) field[T] {
	if c != nil {
		return field[T]{c, cPath}
	}
	return field[T]{p, pPath}
}

// resolveContainer is a container's settings. The user and group are runAsUser and
// runAsGroup, else the default user's when the executor is root; an executor that is
// not root can only run containers as itself. The supplementary groups are exactly
// supplementalGroups and fsGroup: nothing is merged from /etc/group (the host's, which
// says nothing of the container), as with supplementalGroupsPolicy Strict.
func resolveContainer(p *corev1.Pod, c *corev1.Container, path string, self, def identity) (settings, error) {
	psc, csc := p.Spec.SecurityContext, c.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if csc == nil {
		csc = &corev1.SecurityContext{}
	}
	cp, pp := path+".securityContext.", "spec.securityContext."
	runAsUser := pick(csc.RunAsUser, psc.RunAsUser, cp+"runAsUser", pp+"runAsUser")
	runAsGroup := pick(csc.RunAsGroup, psc.RunAsGroup, cp+"runAsGroup", pp+"runAsGroup")
	s := settings{UID: def.UID, GID: def.GID, Caps: capsOf(csc.Capabilities),
		NoNewPrivs: csc.AllowPrivilegeEscalation != nil && !*csc.AllowPrivilegeEscalation}
	if !self.root() {
		s.UID, s.GID = self.UID, self.GID
	}
	var err error
	if s.UID, err = idOf(runAsUser, s.UID); err != nil {
		return settings{}, err
	}
	if s.GID, err = idOf(runAsGroup, s.GID); err != nil {
		return settings{}, err
	}
	if s.Groups, err = groupsOf(psc); err != nil {
		return settings{}, err
	}
	seccomp := pick(csc.SeccompProfile, psc.SeccompProfile, cp+"seccompProfile", pp+"seccompProfile")
	if s.Seccomp = seccomp.v != nil && seccomp.v.Type == corev1.SeccompProfileTypeRuntimeDefault; s.Seccomp && !runtimeDefaultSeccomp() {
		return settings{}, fmt.Errorf("%s: the process runtime has no RuntimeDefault seccomp filter on this platform", seccomp.path)
	}
	if !self.root() {
		if s.Groups, err = asSelf(s, self, runAsUser.path, runAsGroup.path); err != nil {
			return settings{}, err
		}
	} else if !enforces {
		return settings{}, fmt.Errorf("%s.securityContext: the process runtime switches users only on Linux, and the executor runs as root", path)
	}
	if !enforces && (s.NoNewPrivs || s.Seccomp) {
		return settings{}, fmt.Errorf("%s.securityContext: the process runtime applies allowPrivilegeEscalation and seccompProfile only on Linux", path)
	}
	runAsNonRoot := pick(csc.RunAsNonRoot, psc.RunAsNonRoot, cp+"runAsNonRoot", pp+"runAsNonRoot")
	return s, checkNonRoot(p, c, s, runAsNonRoot, runAsUser)
}

// idOf is a runAsUser or runAsGroup, else def.
func idOf(f field[int64], def uint32) (uint32, error) {
	if f.v == nil {
		return def, nil
	}
	if *f.v < 0 || *f.v > maxID {
		return 0, fmt.Errorf("%s: %d is not a user or group id", f.path, *f.v)
	}
	return uint32(*f.v), nil
}

// groupsOf is supplementalGroups then fsGroup, each once.
func groupsOf(psc *corev1.PodSecurityContext) ([]uint32, error) {
	var out []uint32
	add := func(path string, g int64) error {
		if g < 0 || g > maxID {
			return fmt.Errorf("%s: %d is not a group id", path, g)
		}
		if !slices.Contains(out, uint32(g)) {
			out = append(out, uint32(g))
		}
		return nil
	}
	for i, g := range psc.SupplementalGroups {
		if err := add(fmt.Sprintf("spec.securityContext.supplementalGroups[%d]", i), g); err != nil {
			return nil, err
		}
	}
	if psc.FSGroup != nil {
		if err := add("spec.securityContext.fsGroup", *psc.FSGroup); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// asSelf checks that an executor that is not root can run the container: as its own
// user and group, with groups it has. It cannot change its supplementary groups either,
// so the container keeps them all; those are the groups returned.
func asSelf(s settings, self identity, uidPath, gidPath string) ([]uint32, error) {
	if s.UID != self.UID {
		return nil, fmt.Errorf("%s: the executor runs as uid %d and cannot run a container as uid %d", uidPath, self.UID, s.UID)
	}
	if s.GID != self.GID {
		return nil, fmt.Errorf("%s: the executor runs as gid %d and cannot run a container as gid %d", gidPath, self.GID, s.GID)
	}
	for _, g := range s.Groups {
		if g != self.GID && !slices.Contains(self.Groups, g) {
			return nil, fmt.Errorf("spec.securityContext: the executor runs as uid %d without group %d and cannot give it to a container", self.UID, g)
		}
	}
	return self.Groups, nil
}

// checkNonRoot refuses a container with runAsNonRoot that would run as uid 0, in the
// kubelet's words.
func checkNonRoot(p *corev1.Pod, c *corev1.Container, s settings, nonRoot field[bool], runAsUser field[int64]) error {
	if nonRoot.v == nil || !*nonRoot.v || s.UID != 0 {
		return nil
	}
	who := fmt.Sprintf("(pod: %q, container: %s)", p.Namespace+"/"+p.Name, c.Name)
	if runAsUser.v != nil {
		return fmt.Errorf("%s: container's runAsUser breaks non-root policy %s", runAsUser.path, who)
	}
	return fmt.Errorf("%s: container has runAsNonRoot and would run as root, the cluster's default user (%s) %s",
		nonRoot.path, AnnotationDefaultUser, who)
}

// appArmorAnnotation prefixes the container name in the deprecated AppArmor annotation.
const appArmorAnnotation = "container.apparmor.security.beta.kubernetes.io/"

// refuseUnsupported refuses, naming the field, a pod asking for what the process runtime
// cannot give: its processes share the host's kernel, filesystem, /proc and users, and
// it can take privileges away but not add any.
func refuseUnsupported(p *corev1.Pod) error {
	if p.Spec.HostUsers != nil && !*p.Spec.HostUsers {
		return fmt.Errorf("spec.hostUsers: the process runtime has no user namespaces; containers run as users of the host")
	}
	for k, v := range p.Annotations {
		// The AppArmor annotation that came before the field, which the API server
		// copies into it; refused here all the same, in case a pod has only it.
		if strings.HasPrefix(k, appArmorAnnotation) && v != "unconfined" {
			return fmt.Errorf("metadata.annotations[%s]: the process runtime cannot apply AppArmor profiles, only unconfined", k)
		}
	}
	if psc := p.Spec.SecurityContext; psc != nil {
		if len(psc.Sysctls) > 0 {
			return fmt.Errorf("spec.securityContext.sysctls: the process runtime shares the host's kernel and cannot set sysctls for a pod")
		}
		if err := refuseProfiles("spec.securityContext", psc.SELinuxOptions, psc.SeccompProfile, psc.AppArmorProfile, psc.WindowsOptions); err != nil {
			return err
		}
	}
	for _, cs := range []struct {
		path string
		list []corev1.Container
	}{{"spec.initContainers", p.Spec.InitContainers}, {"spec.containers", p.Spec.Containers}} {
		for i := range cs.list {
			if sc := cs.list[i].SecurityContext; sc != nil {
				if err := refuseContainer(fmt.Sprintf("%s[%d].securityContext", cs.path, i), sc); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// refuseContainer refuses what a container's securityContext asks that the runtime
// cannot give.
func refuseContainer(path string, sc *corev1.SecurityContext) error {
	switch {
	case sc.Privileged != nil && *sc.Privileged:
		return fmt.Errorf("%s.privileged: the process runtime cannot run privileged containers", path)
	case sc.Capabilities != nil && len(sc.Capabilities.Add) > 0:
		return fmt.Errorf("%s.capabilities.add: the process runtime cannot add capabilities, only drop them", path)
	case sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem:
		return fmt.Errorf("%s.readOnlyRootFilesystem: the process runtime runs containers on the host's filesystem, which it cannot make read-only", path)
	case sc.ProcMount != nil && *sc.ProcMount == corev1.UnmaskedProcMount:
		return fmt.Errorf("%s.procMount: the process runtime shares the host's /proc and cannot unmask it", path)
	}
	return refuseProfiles(path, sc.SELinuxOptions, sc.SeccompProfile, sc.AppArmorProfile, sc.WindowsOptions)
}

// refuseProfiles refuses the profiles a pod's or a container's securityContext may
// name that the runtime has no means to apply.
func refuseProfiles(path string, se *corev1.SELinuxOptions, sc *corev1.SeccompProfile, aa *corev1.AppArmorProfile, win *corev1.WindowsSecurityContextOptions) error {
	switch {
	case se != nil:
		return fmt.Errorf("%s.seLinuxOptions: the process runtime cannot apply SELinux labels", path)
	case sc != nil && sc.Type != corev1.SeccompProfileTypeRuntimeDefault && sc.Type != corev1.SeccompProfileTypeUnconfined:
		return fmt.Errorf("%s.seccompProfile: the process runtime has the RuntimeDefault and Unconfined seccomp profiles only, not %s", path, sc.Type)
	case aa != nil && aa.Type != corev1.AppArmorProfileTypeUnconfined:
		return fmt.Errorf("%s.appArmorProfile: the process runtime cannot apply AppArmor profiles, only Unconfined", path)
	case win != nil:
		return fmt.Errorf("%s.windowsOptions: the process runtime runs Linux processes", path)
	}
	return nil
}
