//go:build linux

package process

// seccompTable: arm64's numbers (the generic table, include/uapi/asm-generic/unistd.h),
// under AUDIT_ARCH_AARCH64.
var seccompTable = &syscallTable{arch: 0xc00000b7, clone: 220, clone3: 435, nr: map[string]uint32{
	"lookup_dcookie": 18, "umount2": 39, "mount": 40, "pivot_root": 41, "nfsservctl": 42, "vhangup": 58,
	"quotactl": 60, "acct": 89, "unshare": 97, "kexec_load": 104, "init_module": 105, "delete_module": 106,
	"clock_settime": 112, "syslog": 116, "ptrace": 117, "reboot": 142, "sethostname": 161,
	"setdomainname": 162, "settimeofday": 170, "adjtimex": 171, "add_key": 217, "request_key": 218,
	"keyctl": 219, "swapon": 224, "swapoff": 225, "perf_event_open": 241, "name_to_handle_at": 264,
	"open_by_handle_at": 265, "clock_adjtime": 266, "setns": 268, "process_vm_readv": 270,
	"process_vm_writev": 271, "kcmp": 272, "finit_module": 273, "bpf": 280, "userfaultfd": 282,
	"kexec_file_load": 294, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
	"open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
	"pidfd_getfd": 438, "mount_setattr": 442, "quotactl_fd": 443,
	"mbind": 235, "get_mempolicy": 236, "set_mempolicy": 237, "set_mempolicy_home_node": 450,
}}
