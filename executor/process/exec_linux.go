//go:build linux

package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// execTTY starts l on a new terminal, its controlling one: the client's stdin goes to
// it, what it shows to stdout (a terminal has one output), and resize sets its size.
func execTTY(ctx context.Context, l *launch, stdin io.Reader, stdout io.Writer, resize <-chan remotecommand.TerminalSize) (func() error, error) {
	master, slave, err := openPTY()
	if err != nil {
		return nil, err
	}
	s := &streams{files: []*os.File{master}}
	if stdin != nil {
		go func() { _, _ = io.Copy(master, stdin) }()
	}
	if stdout == nil {
		stdout = io.Discard
	}
	// Once every process holding the terminal is gone, reading it fails (EIO): the end.
	s.copyOut(stdout, master)
	if resize != nil {
		go resizeTTY(master, resize)
	}
	cmd, err := startLaunch(ctx, l, stdio{In: slave, Out: slave, Err: slave, TTY: true}, true)
	_ = slave.Close()
	if err != nil {
		s.end()
		return nil, err
	}
	return waiter(cmd, s), nil
}

// checkTTY: containers run on terminals (spec.tty) on Linux.
func checkTTY(*corev1.Pod) error { return nil }

// ttyEnded says whether err is how reading a terminal's master ends: EIO once no
// process holds its slave.
func ttyEnded(err error) bool { return errors.Is(err, unix.EIO) }

// openPTY opens a new terminal's master (non-blocking, so that closing it ends a read)
// and its slave, for the process.
func openPTY() (master, slave *os.File, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening a terminal: %w", err)
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err == nil {
		err = unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0)
	}
	if err == nil {
		slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	}
	if err != nil {
		_ = master.Close()
		return nil, nil, fmt.Errorf("opening a terminal: %w", err)
	}
	return master, slave, nil
}

// resizeTTY applies the client's sizes to the terminal (through SyscallConn: Fd would
// make the master blocking, and a read of it could not be ended).
func resizeTTY(master *os.File, resize <-chan remotecommand.TerminalSize) {
	rc, err := master.SyscallConn()
	if err != nil {
		return
	}
	for size := range resize {
		_ = rc.Control(func(fd uintptr) {
			_ = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: size.Height, Col: size.Width})
		})
	}
}
