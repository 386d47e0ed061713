//go:build linux

package process

import (
	"fmt"
	"runtime"
	"sort"
	"syscall"
	"unsafe"
)

// The RuntimeDefault seccomp profile of the process runtime is a DENY-list, not the
// allow-list of Docker's (and containerd's) default profile: it makes the system calls
// that Docker's profile leaves out, or allows only with a capability no container here
// has (CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_TIME, CAP_SYS_PTRACE, …), fail with EPERM,
// and lets the others through. A process runtime shares the host's filesystem and
// kernel with no namespace of its own, which an allow-list written for containers with
// an image would not make safer; what matters is the kernel's attack surface and the
// calls that reach out of the process: modules, kexec, mounts and namespaces (clone
// with a CLONE_NEW* flag included), keyrings, tracing other processes, BPF, perf,
// io_uring, NUMA memory policies, the clock, swap, reboot. clone3, whose flags a filter cannot read, fails
// with ENOSYS so that libc falls back to clone, as Docker's profile does.
//
// Only the native ABI is let through: a call from another ABI (i386 or x32 on amd64,
// arm32 on arm64), whose numbers the list does not know, fails with ENOSYS.
// personality(2) with a non-default persona, which Docker's profile also refuses, is not.
var deniedSyscalls = []string{
	// kernel modules and kexec
	"init_module", "finit_module", "delete_module", "create_module", "query_module", "get_kernel_syms",
	"kexec_load", "kexec_file_load",
	// mounts and namespaces
	"mount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree",
	"mount_setattr", "unshare", "setns",
	// the host's identity, clock, swap, power, accounting, quotas and log
	"sethostname", "setdomainname", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"swapon", "swapoff", "reboot", "acct", "quotactl", "quotactl_fd", "syslog", "vhangup",
	"nfsservctl", "uselib", "ustat", "sysfs", "_sysctl", "lookup_dcookie",
	// other processes and their memory
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
	// NUMA memory policies, which Docker's profile allows only with CAP_SYS_NICE: a
	// process would place its memory against the agent's own policy
	"mbind", "set_mempolicy", "get_mempolicy", "set_mempolicy_home_node",
	// kernel keyrings, BPF, perf, userfaultfd, io_uring
	"add_key", "request_key", "keyctl", "bpf", "perf_event_open", "userfaultfd",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	// files by handle, which skip the path's permissions
	"name_to_handle_at", "open_by_handle_at",
	// x86 I/O ports and segments
	"iopl", "ioperm", "modify_ldt",
}

// syscallTable is an architecture's part of the filter: its AUDIT_ARCH, its numbers for
// the denied calls it has and for clone and clone3, and whether numbers with the x32
// bit set are another ABI.
type syscallTable struct {
	arch          uint32
	x32           bool
	nr            map[string]uint32
	clone, clone3 uint32
}

// The namespace flags of clone(2) (CLONE_NEWNS … CLONE_NEWNET), refused as unshare is.
const cloneNamespaces = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

// Classic BPF and seccomp values (linux/filter.h, linux/seccomp.h).
const (
	bpfLdWAbs       = 0x20 // BPF_LD | BPF_W | BPF_ABS
	bpfJeqK         = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
	bpfJgeK         = 0x35 // BPF_JMP | BPF_JGE | BPF_K
	bpfJsetK        = 0x45 // BPF_JMP | BPF_JSET | BPF_K
	bpfRetK         = 0x06 // BPF_RET | BPF_K
	seccompRetAllow = 0x7fff0000
	seccompRetErrno = 0x00050000
	x32SyscallBit   = 0x40000000
	// offsets in struct seccomp_data: nr, arch, instruction_pointer, args[6]; the low
	// word of args[0] on a little-endian machine
	offNr, offArch, offArg0 = 0, 4, 16
	prSetSeccomp            = 22
	seccompModeFilter       = 2
)

// runtimeDefaultSeccomp says whether this architecture has a RuntimeDefault filter.
func runtimeDefaultSeccomp() bool { return seccompTable != nil }

// installSeccomp installs the RuntimeDefault filter on this thread, which passes it on
// to what it execs.
func installSeccomp() error {
	prog, err := seccompFilter(seccompTable)
	if err != nil {
		return err
	}
	fprog := syscall.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetSeccomp, seccompModeFilter, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if e != 0 {
		return fmt.Errorf("installing the RuntimeDefault seccomp filter: %w", e)
	}
	return nil
}

// seccompFilter is the filter's program for an architecture:
//
//	arch is not native            → ENOSYS
//	nr has the x32 bit (amd64)     → ENOSYS
//	clone with a CLONE_NEW* flag  → EPERM
//	clone3                        → ENOSYS
//	a denied call                 → EPERM
//	anything else                 → allow
func seccompFilter(t *syscallTable) ([]syscall.SockFilter, error) {
	if t == nil {
		return nil, fmt.Errorf("no RuntimeDefault seccomp filter for %s", runtime.GOARCH)
	}
	var a bpfAsm
	a.stmt(bpfLdWAbs, offArch)
	a.jump(bpfJeqK, t.arch, "", "enosys")
	a.stmt(bpfLdWAbs, offNr)
	if t.x32 {
		a.jump(bpfJgeK, x32SyscallBit, "enosys", "")
	}
	a.jump(bpfJeqK, t.clone, "clone", "")
	a.jump(bpfJeqK, t.clone3, "enosys", "")
	var nrs []uint32
	for _, name := range deniedSyscalls {
		if nr, ok := t.nr[name]; ok {
			nrs = append(nrs, nr)
		}
	}
	sort.Slice(nrs, func(i, j int) bool { return nrs[i] < nrs[j] })
	for _, nr := range nrs {
		a.jump(bpfJeqK, nr, "eperm", "")
	}
	a.stmt(bpfRetK, seccompRetAllow)
	a.label("clone")
	a.stmt(bpfLdWAbs, offArg0)
	a.jump(bpfJsetK, cloneNamespaces, "eperm", "")
	a.stmt(bpfRetK, seccompRetAllow)
	a.label("eperm")
	a.stmt(bpfRetK, seccompRetErrno|uint32(syscall.EPERM))
	a.label("enosys")
	a.stmt(bpfRetK, seccompRetErrno|uint32(syscall.ENOSYS))
	return a.assemble()
}

// bpfAsm assembles a classic BPF program with forward jumps to labels ("" is the next
// instruction).
type bpfAsm struct {
	prog   []syscall.SockFilter
	jumps  map[int][2]string
	labels map[string]int
}

func (a *bpfAsm) stmt(code uint16, k uint32) {
	a.prog = append(a.prog, syscall.SockFilter{Code: code, K: k})
}

func (a *bpfAsm) jump(code uint16, k uint32, jt, jf string) {
	if a.jumps == nil {
		a.jumps = map[int][2]string{}
	}
	a.jumps[len(a.prog)] = [2]string{jt, jf}
	a.stmt(code, k)
}

func (a *bpfAsm) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[name] = len(a.prog)
}

func (a *bpfAsm) assemble() ([]syscall.SockFilter, error) {
	offset := func(at int, label string) (uint8, error) {
		if label == "" {
			return 0, nil
		}
		to, ok := a.labels[label]
		if d := to - at - 1; ok && d >= 0 && d <= 255 {
			return uint8(d), nil
		}
		return 0, fmt.Errorf("seccomp filter: no jump from %d to %q", at, label)
	}
	var err error
	for at, j := range a.jumps {
		if a.prog[at].Jt, err = offset(at, j[0]); err != nil {
			return nil, err
		}
		if a.prog[at].Jf, err = offset(at, j[1]); err != nil {
			return nil, err
		}
	}
	return a.prog, nil
}
