//go:build linux

package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/k8sm/k8sm/executor/process/cgroup"
)

// prctl(2) and capability.h values the syscall package does not name on every arch.
const (
	prSetPdeathsig         = 1
	prCapbsetRead          = 23
	prCapbsetDrop          = 24
	prSetNoNewPrivs        = 38
	prCapAmbient           = 47
	prCapAmbientClearAll   = 4
	linuxCapabilityVersion = 0x20080522 // _LINUX_CAPABILITY_VERSION_3: two 32-bit words
)

// runHelper is the helper: it reads its launch on fd 3 and enters the container with it
// (which execs the command and never returns), or writes why it could not on fd 4.
func runHelper() int {
	// One thread from here to exec: capability sets, no_new_privs, the parent-death
	// signal and the seccomp filter belong to the thread that execs.
	runtime.LockOSThread()
	syscall.CloseOnExec(3)
	syscall.CloseOnExec(4)
	errs := os.NewFile(4, "helper-errors")
	var l launch
	err := json.NewDecoder(os.NewFile(3, "helper-launch")).Decode(&l)
	if err == nil {
		err = enter(&l)
	}
	_, _ = errs.WriteString(err.Error())
	return 127
}

// enter applies l's settings to this thread and execs l's command; it returns only with
// the reason it could not. Each step comes while the thread still has the privilege it
// needs. As root: join the container's cgroup (its cgroup.procs files are root's), so
// that the command and all it forks start there, none before it joined; enter the rootfs (which the container's user may not reach through
// the sandbox's parents); limit the bounding set (CAP_SETPCAP); empty the inheritable
// and ambient sets (an inheritable capability would reach a root container's permitted
// set at exec whatever the bounding set says, and a non-root one's through a program
// with file capabilities); leave the executor's session keyring (before the seccomp
// filter denies keyctl) and open files behind, and its umask for 022; install the seccomp filter if the kernel
// takes it without no_new_privs (CAP_SYS_ADMIN). Then the groups and user (CAP_SETGID,
// CAP_SETUID), after which a non-root thread has no capabilities left; then the
// parent-death signal again, no_new_privs, the filter if it is still to come, the
// working directory as the container's user, and exec.
func enter(l *launch) error {
	if len(l.Argv) == 0 {
		return errors.New("the container has no command")
	}
	if err := cgroup.JoinSelf(l.Cgroup); err != nil {
		return fmt.Errorf("joining the container's cgroup: %w", err)
	}
	if err := syscall.Chdir(l.RootFS); err != nil {
		return fmt.Errorf("chdir %s: %w", l.RootFS, err)
	}
	s := l.Settings
	nnp := s.NoNewPrivs
	bounded, err := limitBounding(s.Caps)
	if err != nil {
		return err
	}
	// A process that cannot limit its bounding set (an executor that is not root) keeps
	// every setuid program from gaining anything instead.
	nnp = nnp || !bounded
	if err := clearInheritable(); err != nil {
		return err
	}
	if err := newSessionKeyring(); err != nil {
		return err
	}
	if err := closeInheritedFiles(); err != nil {
		return err
	}
	// The container runtimes' umask (runc's and containerd's default), not whatever the
	// agent left the executor: with 077, files one container writes into a shared
	// emptyDir would be unreadable to a sibling running as another user.
	syscall.Umask(containerUmask)
	raiseOOMScoreAdj(s.OOMScoreAdj)
	filtered := false
	if s.Seccomp && !nnp {
		// Without CAP_SYS_ADMIN (an executor that is not root, or root in a container
		// without it) the kernel takes a filter only under no_new_privs: then so be it.
		switch err := installSeccomp(); {
		case err == nil:
			filtered = true
		case errors.Is(err, syscall.EACCES):
			nnp = true
		default:
			return err
		}
	}
	if err := switchUser(s); err != nil {
		return err
	}
	if err := keepDeathSignal(l.Parent); err != nil {
		return err
	}
	if nnp {
		if err := prctl(prSetNoNewPrivs, 1); err != nil {
			return fmt.Errorf("setting no_new_privs: %w", err)
		}
	}
	if s.Seccomp && !filtered {
		if err := installSeccomp(); err != nil {
			return err
		}
	}
	if err := enterWorkingDir(l.WorkingDir); err != nil {
		return err
	}
	return execCommand(l.Argv, l.Env)
}

func prctl(option, arg uintptr) error {
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, option, arg, 0, 0, 0, 0); e != 0 {
		return e
	}
	return nil
}

// limitBounding drops from the thread's bounding set every capability not in keep;
// false when it may not (no CAP_SETPCAP) and the set is larger than keep.
func limitBounding(keep uint64) (bool, error) {
	for c := uintptr(0); c < 64; c++ {
		if keep&(1<<c) != 0 {
			continue
		}
		in, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, prCapbsetRead, c, 0, 0, 0, 0)
		if e == syscall.EINVAL {
			break // past the kernel's last capability
		}
		if e != 0 || in == 0 {
			continue
		}
		switch err := prctl(prCapbsetDrop, c); {
		case errors.Is(err, syscall.EPERM):
			return false, nil
		case err != nil:
			return false, fmt.Errorf("dropping capability %d from the bounding set: %w", c, err)
		}
	}
	return true, nil
}

type capHeader struct {
	version uint32
	pid     int32
}

type capData struct{ effective, permitted, inheritable uint32 }

func capget() (capHeader, [2]capData, error) {
	h := capHeader{version: linuxCapabilityVersion}
	var d [2]capData
	if _, _, e := syscall.RawSyscall(syscall.SYS_CAPGET, uintptr(unsafe.Pointer(&h)), uintptr(unsafe.Pointer(&d[0])), 0); e != 0 {
		return h, d, fmt.Errorf("capget: %w", e)
	}
	return h, d, nil
}

func capset(h capHeader, d [2]capData) error {
	if _, _, e := syscall.RawSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&h)), uintptr(unsafe.Pointer(&d[0])), 0); e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	return nil
}

// clearInheritable empties the inheritable and ambient sets, which survive a change of
// user and would let a program with file capabilities have them.
func clearInheritable() error {
	h, d, err := capget()
	if err != nil {
		return err
	}
	d[0].inheritable, d[1].inheritable = 0, 0
	if err := capset(h, d); err != nil {
		return err
	}
	if err := prctl(prCapAmbient, prCapAmbientClearAll); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("clearing the ambient capabilities: %w", err)
	}
	return nil
}

// raiseOOMScoreAdj sets the process's oom_score_adj to adj where that raises it (the
// kubelet's score for the container, above the executor's own: oomScoreAdj); 0 leaves
// it. Best effort: the kernel lets any process raise its own score, and a container
// whose score stays the executor's is the worst that comes of a failure.
func raiseOOMScoreAdj(adj int) {
	if adj == 0 {
		return
	}
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return
	}
	if cur, err := strconv.Atoi(strings.TrimSpace(string(b))); err != nil || adj <= cur {
		return
	}
	_ = os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(adj)), 0)
}

// containerUmask is the umask a container starts with.
const containerUmask = 0o022

// newSessionKeyring gives the thread a new, empty session keyring, as runc gives each
// container: the executor's (a Mesos agent that systemd runs has one of its own) would
// be the container's too, whatever its user, which could read its keys and add its own
// for the executor and every other pod to find. A kernel without keyrings (ENOSYS), or
// an executor a seccomp filter of its own keeps from them (EPERM), has none to pass on
// that a container could use.
func newSessionKeyring() error {
	// KEYCTL_JOIN_SESSION_KEYRING without a name: a new anonymous keyring, never one
	// another container joined.
	_, _, e := syscall.RawSyscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0)
	if e != 0 && e != syscall.ENOSYS && e != syscall.EPERM {
		return fmt.Errorf("joining a new session keyring: %w", e)
	}
	return nil
}

// closeInheritedFiles marks every file descriptor but the standard ones to be closed at
// exec, as runc does: the executor's own are, but not what its parent left it open
// without FD_CLOEXEC (the Mesos agent's, say), which the container would get otherwise.
func closeInheritedFiles() error {
	switch err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOSYS), errors.Is(err, syscall.EINVAL):
		return closeOnExecEach() // before Linux 5.11
	default:
		return fmt.Errorf("closing the executor's files at exec: %w", err)
	}
}

// closeOnExecEach marks each open file descriptor but the standard ones to be closed at
// exec.
func closeOnExecEach() error {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("listing the open files: %w", err)
	}
	for _, f := range fds {
		if fd, err := strconv.Atoi(f.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
	return nil
}

// switchUser sets the groups, group and user (the Go calls, which change every thread
// of the process). A non-root user ends with no capabilities: the kernel clears the
// permitted, effective and ambient sets as the last uid 0 goes. Root keeps its
// capabilities until it execs, when the kernel gives a root process its bounding set
// as permitted and effective set (with an empty inheritable set; capabilities(7)): so
// a root container has s.Caps and no more. An executor that is not root cannot switch:
// it checks it is who s says instead.
func switchUser(s settings) error {
	if os.Geteuid() != 0 {
		if uint32(os.Getuid()) != s.UID || uint32(os.Getgid()) != s.GID {
			return fmt.Errorf("the executor runs as %d:%d and cannot run a container as %d:%d", os.Getuid(), os.Getgid(), s.UID, s.GID)
		}
		return nil
	}
	groups := make([]int, len(s.Groups))
	for i, g := range s.Groups {
		groups[i] = int(g)
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups %v: %w", s.Groups, err)
	}
	if err := syscall.Setresgid(int(s.GID), int(s.GID), int(s.GID)); err != nil {
		return fmt.Errorf("setgid %d: %w", s.GID, err)
	}
	if err := syscall.Setresuid(int(s.UID), int(s.UID), int(s.UID)); err != nil {
		return fmt.Errorf("setuid %d: %w", s.UID, err)
	}
	return nil
}

// keepDeathSignal sets the parent-death signal again, which a change of user clears
// (startProcess set it), and makes sure the executor did not die before it was set.
func keepDeathSignal(parent int) error {
	if err := prctl(prSetPdeathsig, uintptr(syscall.SIGKILL)); err != nil {
		return fmt.Errorf("setting the parent-death signal: %w", err)
	}
	if os.Getppid() != parent {
		return errors.New("the executor is gone")
	}
	return nil
}

// enterWorkingDir enters the container's workingDir as its user: a directory of the
// host when there is one (one the user may not reach, or a file, is an error, as runc
// fails it), else one made under the rootfs, the current directory. Made by the user, a
// workingDir under the rootfs cannot be led by a link the container left there to
// anywhere its user may not write.
func enterWorkingDir(wd string) error {
	if wd == "" {
		return nil
	}
	st, err := os.Stat(wd)
	switch {
	case err == nil && st.IsDir():
		if err := os.Chdir(wd); err != nil {
			return fmt.Errorf("workingDir: %w", err)
		}
		return nil
	case err == nil:
		return fmt.Errorf("workingDir: %s is not a directory", wd)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("workingDir: %w", err)
	}
	rel := strings.TrimPrefix(filepath.Clean("/"+wd), "/")
	if rel == "" {
		return nil
	}
	if err := os.MkdirAll(rel, 0o755); err != nil {
		return fmt.Errorf("workingDir: %w", err)
	}
	if err := os.Chdir(rel); err != nil {
		return fmt.Errorf("workingDir: %w", err)
	}
	return nil
}

// execCommand execs argv with env, finding argv[0] in the container's PATH, as the
// container's user, from the current directory.
func execCommand(argv, env []string) error {
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	if err := os.Setenv("PATH", path); err != nil {
		return err
	}
	file, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	err = syscall.Exec(file, slices.Clone(argv), env)
	return fmt.Errorf("exec %s: %w", file, err)
}
