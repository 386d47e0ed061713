//go:build !linux

package process

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// enforces: outside Linux the runtime cannot drop privileges, so it runs only the
// containers that need none dropped: an executor that is not root running them as
// itself, without allowPrivilegeEscalation: false or a seccomp profile (security.go
// refuses the others).
const enforces = false

func runtimeDefaultSeccomp() bool { return false }

// runHelper: there is no helper outside Linux.
func runHelper() int {
	os.Stderr.WriteString("k8sm: the process runtime's helper runs on Linux only\n")
	return 127
}

// startLaunch starts l's command as it is: its settings are the executor's own.
func startLaunch(ctx context.Context, l *launch, std stdio, group bool) (*exec.Cmd, error) {
	if len(l.Argv) == 0 {
		return nil, errors.New("the container has no command")
	}
	cmd := exec.CommandContext(ctx, l.Argv[0], l.Argv[1:]...)
	cmd.Env, cmd.Dir = l.Env, workingDir(l)
	std.apply(cmd, group)
	if err := startProcess(cmd); err != nil {
		return nil, err
	}
	return cmd, nil
}

// workingDir is the host's workingDir when there is one, else one made under the rootfs.
func workingDir(l *launch) string {
	if l.WorkingDir == "" {
		return l.RootFS
	}
	if st, err := os.Stat(l.WorkingDir); err == nil && st.IsDir() {
		return l.WorkingDir
	}
	dir := filepath.Join(l.RootFS, strings.TrimPrefix(filepath.Clean("/"+l.WorkingDir), "/"))
	_ = os.MkdirAll(dir, 0o755)
	return dir
}
