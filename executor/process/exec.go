package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/k8sm/k8sm/executor/kubeletapi"
)

// Exec runs cmd as the container runs (its launch: user, groups, capabilities,
// no_new_privs, seccomp, cgroup, environment, working directory), through the helper,
// with the streams attached: pipes, or a terminal with tty. A command that exits
// non-zero returns a utilexec.CodeExitError, which the client gets as its exit code.
func (r *Runtime) Exec(ctx context.Context, namespace, name, container string, cmd []string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	_, l, err := r.running(namespace, name, container)
	if err != nil {
		return err
	}
	if len(cmd) == 0 {
		return kubeletapi.Errorf(http.StatusBadRequest, "no command to run")
	}
	var wait func() error
	if tty {
		wait, err = execTTY(ctx, l.probe(cmd), stdin, stdout, resize)
	} else {
		wait, err = execPipes(ctx, l.probe(cmd), stdin, stdout, stderr)
	}
	if err != nil {
		return err
	}
	if code := exitCode(wait()); code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command '%s' exited with %d", strings.Join(cmd, " "), code), Code: int(code)}
	}
	return nil
}

// streams are an exec's copiers: stdin into the process, its output out of it.
type streams struct {
	out   sync.WaitGroup
	files []*os.File // the executor's ends, closed once the process is gone
}

// pipe makes a pipe and returns the process's end; the executor's end copies from in
// or to out.
func (s *streams) pipe(in io.Reader, out io.Writer) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	if in != nil {
		s.files = append(s.files, w)
		go func() {
			_, _ = io.Copy(w, in)
			_ = w.Close() // EOF: the client closed stdin
		}()
		return r, nil
	}
	s.files = append(s.files, r)
	s.copyOut(out, r)
	return w, nil
}

func (s *streams) copyOut(out io.Writer, r io.Reader) {
	s.out.Add(1)
	go func() {
		defer s.out.Done()
		_, _ = io.Copy(out, r)
	}()
}

// end waits for the output (drainTimeout at most, once the process is gone: one of its
// descendants may hold the pipes) and closes the executor's ends.
func (s *streams) end() {
	done := make(chan struct{})
	go func() { s.out.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drainTimeout):
	}
	for _, f := range s.files {
		_ = f.Close()
	}
	<-done
}

// waiter waits for a started process and ends its streams.
func waiter(cmd *exec.Cmd, s *streams) func() error {
	return func() error {
		err := cmd.Wait()
		s.end()
		return err
	}
}

// execPipes starts l with pipes for the streams asked for.
func execPipes(ctx context.Context, l *launch, stdin io.Reader, stdout, stderr io.Writer) (wait func() error, err error) {
	s := &streams{}
	var std stdio
	var child []*os.File
	for _, p := range []struct {
		in  io.Reader
		out io.Writer
		to  **os.File
	}{{in: stdin, to: &std.In}, {out: stdout, to: &std.Out}, {out: stderr, to: &std.Err}} {
		if p.in == nil && p.out == nil {
			continue
		}
		f, err := s.pipe(p.in, p.out)
		if err != nil {
			closeAll(child)
			s.end()
			return nil, err
		}
		*p.to = f
		child = append(child, f)
	}
	cmd, err := startLaunch(ctx, l, std, true)
	closeAll(child)
	if err != nil {
		s.end()
		return nil, err
	}
	return waiter(cmd, s), nil
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		_ = f.Close()
	}
}

// exitCode is the exit code of a process Wait returned err for. A process killed by a
// signal exits with 128 + the signal, as a shell and the kubelet say.
func exitCode(err error) int32 {
	code := int32(0)
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = int32(exitErr.ExitCode())
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int32(ws.Signal())
		}
	}
	return code
}
