//go:build linux

package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// enforces: on Linux the helper applies every setting.
const enforces = true

// startLaunch starts l's process through the helper: this program's binary run again
// (/proc/self/exe, which works even if the file was replaced since), which applies the
// settings and execs the command, so the process keeps its pid, and its process group
// when group is set. Go cannot run code between fork and exec, and no_new_privs,
// capability sets and seccomp filters belong to a thread: hence a process of our own
// that does it all on one thread before it execs. startLaunch returns once the command runs,
// or with the reason it could not (what the helper wrote on its error pipe), as
// os/exec returns once a program is exec'd. ctx kills the process (exec probes).
func startLaunch(ctx context.Context, l *launch, std stdio, group bool) (*exec.Cmd, error) {
	if !helpers.Load() {
		return nil, errors.New("the program did not call process.Init, and the process runtime cannot apply securityContext without it")
	}
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		_, _ = cfgR.Close(), cfgW.Close()
		return nil, err
	}
	defer func() { _ = errR.Close() }()
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Args = []string{os.Args[0]}
	// The executor's environment (a test binary comes to Init by it), and the cookie
	// from the start, so that the orphan sweep knows the helper for the container's.
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	for _, kv := range l.Env {
		if strings.HasPrefix(kv, EnvCookie+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.ExtraFiles = []*os.File{cfgR, errW}
	std.apply(cmd, group)
	err = startProcess(cmd)
	_, _ = cfgR.Close(), errW.Close()
	if err != nil {
		_ = cfgW.Close()
		return nil, err
	}
	werr := json.NewEncoder(cfgW).Encode(l)
	_ = cfgW.Close()
	// EOF once the helper execs (the pipe closes on exec) or exits.
	msg, _ := io.ReadAll(io.LimitReader(errR, 4096))
	if len(msg) > 0 || werr != nil {
		err := cmd.Wait()
		if len(msg) == 0 {
			return nil, fmt.Errorf("the helper that starts the container ended before it read its settings: %v", err)
		}
		return nil, errors.New(string(msg))
	}
	return cmd, nil
}
