//go:build linux

package process

import (
	"encoding/binary"
	"slices"
	"syscall"
	"testing"
)

// runBPF runs a seccomp filter on a system call as the kernel would, for the
// instructions the filter uses.
func runBPF(t *testing.T, prog []syscall.SockFilter, arch, nr uint32, arg0 uint64) uint32 {
	t.Helper()
	data := make([]byte, 64) // struct seccomp_data
	binary.LittleEndian.PutUint32(data[offNr:], nr)
	binary.LittleEndian.PutUint32(data[offArch:], arch)
	binary.LittleEndian.PutUint64(data[offArg0:], arg0)
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		jump := func(ok bool) {
			if ok {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		}
		switch in.Code {
		case bpfLdWAbs:
			acc = binary.LittleEndian.Uint32(data[in.K:])
		case bpfJeqK:
			jump(acc == in.K)
		case bpfJgeK:
			jump(acc >= in.K)
		case bpfJsetK:
			jump(acc&in.K != 0)
		case bpfRetK:
			return in.K
		default:
			t.Fatalf("instruction %d: code %#x", pc, in.Code)
		}
	}
	t.Fatal("the filter ran off its end")
	return 0
}

func TestSeccompFilterDecides(t *testing.T) {
	prog, err := seccompFilter(seccompTable)
	if err != nil {
		t.Fatal(err)
	}
	const (
		allow  = seccompRetAllow
		eperm  = seccompRetErrno | uint32(syscall.EPERM)
		enosys = seccompRetErrno | uint32(syscall.ENOSYS)
	)
	native, nr := seccompTable.arch, seccompTable.nr
	for _, tc := range []struct {
		name string
		arch uint32
		nr   uint32
		arg0 uint64
		want uint32
	}{
		{"getpid", native, uint32(syscall.SYS_GETPID), 0, allow},
		{"keyctl", native, nr["keyctl"], 0, eperm},
		{"unshare", native, nr["unshare"], 0, eperm},
		{"mount", native, nr["mount"], 0, eperm},
		{"bpf", native, nr["bpf"], 0, eperm},
		{"ptrace", native, nr["ptrace"], 0, eperm},
		{"clone for a thread", native, seccompTable.clone, 0x3d0f00, allow},
		{"clone into a new user namespace", native, seccompTable.clone, 0x10000000 | 17, eperm},
		{"clone into a new mount namespace", native, seccompTable.clone, 0x00020000, eperm},
		{"clone3, whose flags the filter cannot read", native, seccompTable.clone3, 0, enosys},
		{"getpid from another ABI (i386, arm32)", 0x40000003, 20, 0, enosys},
		{"keyctl's native number from another ABI", 0x40000028, nr["keyctl"], 0, enosys},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := runBPF(t, prog, tc.arch, tc.nr, tc.arg0); got != tc.want {
				t.Fatalf("action %#x, want %#x", got, tc.want)
			}
		})
	}
	if seccompTable.x32 {
		if got := runBPF(t, prog, native, x32SyscallBit|39, 0); got != enosys {
			t.Fatalf("getpid through the x32 ABI: action %#x, want ENOSYS", got)
		}
	}
}

// The filter denies at least what the brief of the RuntimeDefault profile names, on
// every architecture that has the call, and its tables name nothing the list does not.
func TestSeccompDenyList(t *testing.T) {
	for _, name := range []string{"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
		"mount", "umount2", "pivot_root", "swapon", "swapoff", "reboot", "bpf", "perf_event_open", "ptrace",
		"process_vm_readv", "process_vm_writev", "keyctl", "add_key", "request_key", "clock_settime",
		"clock_adjtime", "settimeofday", "adjtimex", "acct", "quotactl", "open_by_handle_at", "name_to_handle_at",
		"userfaultfd", "unshare", "setns", "lookup_dcookie", "vhangup", "syslog",
		"mbind", "set_mempolicy", "get_mempolicy", "set_mempolicy_home_node"} {
		if _, ok := seccompTable.nr[name]; !ok || !slices.Contains(deniedSyscalls, name) {
			t.Errorf("%s is not denied", name)
		}
	}
	for name := range seccompTable.nr {
		if !slices.Contains(deniedSyscalls, name) {
			t.Errorf("%s has a number but is not in deniedSyscalls", name)
		}
	}
}
