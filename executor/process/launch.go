package process

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
)

// helperEnv makes the executor's binary the helper that starts a container's process
// (Init, helper_linux.go): it reads a launch on fd 3, applies its settings, and execs
// its command, or writes why it cannot on fd 4 and exits 127.
const helperEnv = "K8SM_PROCESS_HELPER"

// helpers says whether this program can start containers through its own binary: Init
// was called. Without it no container starts, rather than one that ignores its
// securityContext.
var helpers atomic.Bool

// launch is one process to start in a container: its command, or an exec probe's.
type launch struct {
	Settings settings `json:"settings"`
	Argv     []string `json:"argv"`
	Env      []string `json:"env"`
	// RootFS is the container's own directory in the sandbox, owned by its user: where
	// it starts without a workingDir, and where a workingDir that is not on the host is
	// made. The helper enters it before it drops privileges, so that it need not reach
	// it through the sandbox's parents.
	RootFS string `json:"rootfs"`
	// WorkingDir is the container's workingDir: a directory of the host the container's
	// user can enter, else a directory made under RootFS (the helper does both as that
	// user).
	WorkingDir string `json:"workingDir,omitempty"`
	// Parent is the executor's pid: a helper whose parent is no longer the executor (it
	// died as the helper started) does not start the command.
	Parent int `json:"parent"`
	// Cgroup are the cgroup.procs files of the container's cgroup (ctrCgroup), which
	// the helper joins first, as root; none where the container has no cgroup.
	Cgroup []string `json:"cgroup,omitempty"`
}

// stdio is what a process startLaunch starts reads and writes; nil is /dev/null. Files
// only, so that os/exec copies nothing itself: the runtime's copiers decide when to
// stop (an exec's Wait must not wait for a descendant that holds a pipe).
type stdio struct {
	In, Out, Err *os.File
	// TTY says In, Out and Err are a terminal, which becomes the process's controlling
	// terminal: it leads a session of its own (so a process group too).
	TTY bool
}

func (s stdio) apply(cmd *exec.Cmd, group bool) {
	if s.In != nil {
		cmd.Stdin = s.In
	}
	if s.Out != nil {
		cmd.Stdout = s.Out
	}
	if s.Err != nil {
		cmd.Stderr = s.Err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: group && !s.TTY, Setsid: s.TTY, Setctty: s.TTY}
}

// probe is the launch of an exec probe's command, as the container.
func (l *launch) probe(argv []string) *launch {
	p := *l
	p.Argv = argv
	return &p
}

// makeRootFS makes the container's rootfs directory in dir, owned by its user, who may
// write there; dir, which holds the logs, stays the executor's. Each start gets an empty
// one, as a kubelet's container gets a fresh writable layer each time it starts: what an
// earlier instance left there (a pid file, a lock) does not keep the next from starting.
// (RemoveAll removes a symbolic link, not what it points to.)
func makeRootFS(dir string, s settings) (string, error) {
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.RemoveAll(rootfs); err != nil {
		return "", err
	}
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return "", err
	}
	if st, err := os.Lstat(rootfs); err != nil || !st.IsDir() {
		return "", fmt.Errorf("%s is not a directory", rootfs)
	}
	if err := os.Lchown(rootfs, int(s.UID), int(s.GID)); err != nil {
		return "", err
	}
	return rootfs, os.Chmod(rootfs, 0o755)
}

// mkdirs makes each directory of dirs in turn (a parent before its children), each with
// mode whatever the executor's umask: an agent may leave it 077, which would keep the
// containers' users from the directories they pass through (their rootfs's parents,
// their volumes').
func mkdirs(mode os.FileMode, dirs ...string) error {
	for _, d := range dirs {
		if err := os.Mkdir(d, mode); err != nil && !os.IsExist(err) {
			return err
		}
		if err := os.Chmod(d, mode); err != nil {
			return err
		}
	}
	return nil
}

// makeVolume makes an emptyDir volume's directory as the kubelet does: writable by
// every user (0777) without an fsGroup, else owned by the fsGroup, group-writable and
// setgid (2775), so that what the containers make in it belongs to that group.
func makeVolume(dir string, fsGroup *int64) error {
	if err := mkdirs(0o755, filepath.Dir(dir), dir); err != nil {
		return err
	}
	if fsGroup == nil {
		return os.Chmod(dir, 0o777)
	}
	if err := os.Lchown(dir, -1, int(*fsGroup)); err != nil {
		return err
	}
	return os.Chmod(dir, 0o775|os.ModeSetgid)
}
