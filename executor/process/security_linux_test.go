//go:build linux

package process

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/executor"
)

// envSyscalls makes a copy of the test binary try the system calls the RuntimeDefault
// filter denies (trySyscalls).
const envSyscalls = "K8SM_TEST_SYSCALLS"

func init() { testModes[envSyscalls] = trySyscalls }

// trySyscalls makes system calls that the RuntimeDefault filter denies and that a
// process with no capabilities may otherwise make, or that fail otherwise for another
// reason, and prints how each ended: name=OK, or name=the errno.
func trySyscalls() int {
	nr := func(name string) uintptr { return uintptr(seccompTable.nr[name]) }
	var dst, src [8]byte
	local := syscall.Iovec{Base: &dst[0], Len: 8}
	remote := syscall.Iovec{Base: &src[0], Len: 8}
	for _, c := range []struct {
		name string
		call func() syscall.Errno
	}{
		{"keyctl", func() syscall.Errno { // KEYCTL_GET_KEYRING_ID of KEY_SPEC_USER_KEYRING (-4)
			_, _, e := syscall.Syscall(nr("keyctl"), 0, ^uintptr(3), 0)
			return e
		}},
		{"process_vm_readv", func() syscall.Errno { // from itself
			_, _, e := syscall.Syscall6(nr("process_vm_readv"), uintptr(os.Getpid()), uintptr(unsafe.Pointer(&local)), 1, uintptr(unsafe.Pointer(&remote)), 1, 0)
			return e
		}},
		{"userfaultfd", func() syscall.Errno { // UFFD_USER_MODE_ONLY, which needs no privilege
			fd, _, e := syscall.Syscall(nr("userfaultfd"), syscall.O_CLOEXEC|1, 0, 0)
			if e == 0 {
				_ = syscall.Close(int(fd))
			}
			return e
		}},
		{"unshare", func() syscall.Errno { // EINVAL otherwise: a Go program has threads
			_, _, e := syscall.Syscall(nr("unshare"), syscall.CLONE_NEWUSER, 0, 0)
			return e
		}},
		{"clone3", func() syscall.Errno { // EINVAL otherwise: no arguments
			_, _, e := syscall.Syscall(uintptr(seccompTable.clone3), 0, 0, 0)
			return e
		}},
	} {
		e := c.call()
		name := map[syscall.Errno]string{0: "OK", syscall.EPERM: "EPERM", syscall.ENOSYS: "ENOSYS", syscall.EINVAL: "EINVAL"}[e]
		if name == "" {
			name = e.Error()
		}
		fmt.Printf("%s=%s\n", c.name, name)
	}
	return 0
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("running containers as other users takes an executor that is root")
	}
}

// runToEnd runs a pod whose containers end, and returns its last report and the stdout
// of its first container.
func runToEnd(t *testing.T, rt *Runtime, p *corev1.Pod) (executor.Report, string) {
	t.Helper()
	_, rec, dir := startWith(t, rt, p)
	rep := rec.until(t, "the pod ended", ended)
	return rep, output(dir, p.Spec.Containers[0].Name, corev1.LogStreamStdout)
}

func TestContainersRunAsTheirUser(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name       string
		annotation string
		pod        *corev1.PodSecurityContext
		ctr        *corev1.SecurityContext
		want       string // id -u, id -g, id -G
	}{
		{"nobody without a default user", "", nil, nil, "65534\n65534\n65534\n"},
		{"the cluster's default user", "4000:4001", nil, nil, "4000\n4001\n4001\n"},
		{"runAsUser, runAsGroup, supplementalGroups and fsGroup", "4000:4001",
			&corev1.PodSecurityContext{RunAsUser: i64(1234), RunAsGroup: i64(5678), SupplementalGroups: []int64{11, 12}, FSGroup: i64(13)}, nil,
			"1234\n5678\n5678 11 12 13\n"},
		{"the container's over the pod's", "", &corev1.PodSecurityContext{RunAsUser: i64(1234)}, &corev1.SecurityContext{RunAsUser: i64(4321)},
			"4321\n65534\n65534\n"},
		{"root when asked", "", nil, &corev1.SecurityContext{RunAsUser: i64(0)}, "0\n65534\n65534\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := scPod(tc.annotation, tc.pod, tc.ctr)
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			p.Spec.Containers[0].Command = []string{"sh", "-c", "id -u; id -g; id -G"}
			rep, out := runToEnd(t, &Runtime{}, p)
			if rep.Status.Phase != corev1.PodSucceeded || out != tc.want {
				t.Fatalf("phase %s, id says %q, want %q", rep.Status.Phase, out, tc.want)
			}
			f := strings.Fields(out)
			if u := rep.Status.ContainerStatuses[0].User; u == nil || fmt.Sprint(u.Linux.UID, u.Linux.GID, u.Linux.SupplementalGroups) !=
				fmt.Sprint(f[0], " ", f[1], " [", strings.Join(f[2:], " "), "]") {
				t.Errorf("status user %+v, id says %q", u, out)
			}
		})
	}
}

// procStatus is what a container's process says of itself in /proc/self/status.
func procStatus(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

func TestContainersAreHeldToTheirSecurityContext(t *testing.T) {
	requireRoot(t)
	runtimeDefault := &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	const (
		none    = "0000000000000000"
		dflt    = "00000000a80425fb" // containerd's default set
		noRaw   = "00000000a80405fb" // without NET_RAW
		nnpNo   = "0"
		nnpYes  = "1"
		filter  = "2"
		noFilte = "0"
	)
	for _, tc := range []struct {
		name                            string
		pod                             *corev1.PodSecurityContext
		ctr                             *corev1.SecurityContext
		bnd, eff, nnp, seccomp, capsInh string
	}{
		{"nobody: no capabilities, the default bounding set", nil, nil, dflt, none, nnpNo, noFilte, none},
		{"hardened: no privilege escalation, no capabilities at all, RuntimeDefault", nil,
			&corev1.SecurityContext{AllowPrivilegeEscalation: boolp(false), SeccompProfile: runtimeDefault,
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			none, none, nnpYes, filter, none},
		{"RuntimeDefault for a non-root user without no_new_privs", &corev1.PodSecurityContext{SeccompProfile: runtimeDefault}, nil,
			dflt, none, nnpNo, filter, none},
		{"root: the default set, less what it drops", nil,
			&corev1.SecurityContext{RunAsUser: i64(0), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"NET_RAW"}}},
			noRaw, noRaw, nnpNo, noFilte, none},
		{"root with RuntimeDefault and no privilege escalation", nil,
			&corev1.SecurityContext{RunAsUser: i64(0), SeccompProfile: runtimeDefault, AllowPrivilegeEscalation: boolp(false)},
			dflt, dflt, nnpYes, filter, none},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := scPod("", tc.pod, tc.ctr)
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			p.Spec.Containers[0].Command = []string{"cat", "/proc/self/status"}
			_, out := runToEnd(t, &Runtime{}, p)
			st := procStatus(out)
			want := map[string]string{"CapBnd": tc.bnd, "CapEff": tc.eff, "CapPrm": tc.eff, "CapInh": tc.capsInh, "CapAmb": none,
				"NoNewPrivs": tc.nnp, "Seccomp": tc.seccomp}
			got := map[string]string{}
			for k := range want {
				got[k] = st[k]
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("/proc/self/status says %v, want %v", got, want)
			}
		})
	}
}

// copyTestBinary copies this test binary where any user may run it.
func copyTestBinary(t *testing.T) string {
	t.Helper()
	in, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = in.Close() }()
	path := filepath.Join(sharedDir(t), "process.test")
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRuntimeDefaultDeniesSyscalls(t *testing.T) {
	requireRoot(t)
	bin := copyTestBinary(t)
	for _, tc := range []struct {
		name    string
		seccomp corev1.SeccompProfileType
		want    string
	}{
		{"RuntimeDefault", corev1.SeccompProfileTypeRuntimeDefault,
			"keyctl=EPERM\nprocess_vm_readv=EPERM\nuserfaultfd=EPERM\nunshare=EPERM\nclone3=ENOSYS\n"},
		{"Unconfined", corev1.SeccompProfileTypeUnconfined,
			"keyctl=OK\nprocess_vm_readv=OK\nuserfaultfd=OK\nunshare=EINVAL\nclone3=EINVAL\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := scPod("", &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: tc.seccomp}}, nil)
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			p.Spec.Containers[0].Command = []string{bin}
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: envSyscalls, Value: "1"}}
			rep, out := runToEnd(t, &Runtime{}, p)
			if rep.Status.Phase != corev1.PodSucceeded || out != tc.want {
				t.Fatalf("phase %s, the system calls ended:\n%s\nwant:\n%s", rep.Status.Phase, out, tc.want)
			}
		})
	}
}
