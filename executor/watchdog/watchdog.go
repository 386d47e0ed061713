// Package watchdog keeps, beside an executor, a process that cleans up after it once its
// process has ended, however it ends (a crash, an OOM kill, SIGKILL).
//
// What a runtime starts can outlive the executor: nothing in the kernel ties it to the
// executor's life. So a runtime runs the executor's own binary again as its watchdog
// (Init): a small process that waits for EOF on a pipe whose write end only the executor
// holds, which the kernel closes as the executor's process ends; it then does the
// runtime's cleanup and exits. It outlives the executor by design, but stays in the
// executor's process group and session, so the agent's destroy of the executor's
// container ends it too (what it then leaves, the next executor's sweep clears). A
// watchdog that dies while the executor lives is started again.
package watchdog

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	ossignal "os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
)

// restartDelay is how long after a watchdog died another is started.
const restartDelay = time.Second

// Watchdog is one runtime's watchdog. Its fields are set before Init and not changed.
type Watchdog struct {
	// Env makes a copy of the program this watchdog; its value, given to Start, names
	// what the watchdog watches.
	Env string
	// Watch readies the watchdog of a value: it returns what to do once the executor is
	// gone, which returns the watchdog's exit code, or an error when the value names
	// nothing to watch (the watchdog then exits at once).
	Watch func(value string) (gone func() int, err error)
	// Leaves says what a dead executor may leave when the watchdog cannot be started
	// ("static pods"), for the log.
	Leaves string

	// enabled says whether Start starts watchdogs: Init was called where they can run.
	enabled atomic.Bool
}

// Init must be called by the runtime's own Init, before anything else in a program that
// runs it (before flags are parsed: the watchdog is the program run again without them).
// In the copy of the program started as this watchdog it is the watchdog, and never
// returns; anywhere else it returns at once and lets Start start watchdogs if can (the
// platform has what the watchdog needs), which it does not without Init.
func (w *Watchdog) Init(can bool) {
	value := os.Getenv(w.Env)
	if value == "" {
		w.enabled.Store(can)
		return
	}
	// Signals sent to the executor's process group (a terminal's ^C) are ignored: the
	// executor stops its pods itself then.
	ossignal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	os.Exit(w.Run(value, os.NewFile(3, "executor-alive")))
}

// Disable has Start start no watchdog, as without Init.
func (w *Watchdog) Disable() { w.enabled.Store(false) }

// Run is the watchdog of value: it waits until alive, the read end of a pipe only the
// executor writes to, reads EOF, which comes when the executor's process has ended; then
// it does what Watch gave. It returns the watchdog's exit code.
func (w *Watchdog) Run(value string, alive io.Reader) int {
	gone, err := w.Watch(value)
	if err != nil {
		fmt.Fprintf(os.Stderr, "k8sm-executor watchdog: %v\n", err)
		return 2
	}
	_, _ = io.Copy(io.Discard, alive)
	return gone()
}

// Start starts the watchdog of value and keeps one running while the executor lives. It
// returns the write end of the watchdog's pipe, nil when none was started (Init was not
// called, or the start failed, which is logged). The caller keeps it for as long as the
// process lives, never writing to it nor closing it: the kernel closes it as the process
// ends, which is the watchdog's signal; dropped, its finalizer would close it at once.
func (w *Watchdog) Start(value string, log logr.Logger) *os.File {
	if !w.enabled.Load() {
		return nil
	}
	alive, keep, err := os.Pipe()
	if err != nil {
		log.Info("Cannot start the watchdog: a dead executor may leave "+w.Leaves, "error", err.Error())
		return nil
	}
	cmd, err := w.start(value, alive)
	if err != nil {
		log.Info("Cannot start the watchdog: a dead executor may leave "+w.Leaves, "error", err.Error())
		return nil
	}
	go w.supervise(cmd, value, alive, log)
	return keep
}

// start runs this program as the watchdog of value. It runs /proc/self/exe where there
// is one, which works even if the program's file was replaced or removed since it
// started.
func (w *Watchdog) start(value string, alive *os.File) (*exec.Cmd, error) {
	exe := "/proc/self/exe"
	if _, err := os.Stat(exe); err != nil {
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(exe)
	cmd.Args = []string{os.Args[0]}
	cmd.Env = append(os.Environ(), w.Env+"="+value)
	cmd.ExtraFiles = []*os.File{alive}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// No parent-death signal, and the executor's process group and session: the agent's
	// container destroy reaches it, and it outlives the executor by design.
	return cmd, cmd.Start()
}

// supervise starts the watchdog again whenever it dies while the executor lives.
func (w *Watchdog) supervise(cmd *exec.Cmd, value string, alive *os.File, log logr.Logger) {
	for {
		err := cmd.Wait()
		log.Info("The watchdog ended; starting another", "error", fmt.Sprint(err))
		time.Sleep(restartDelay)
		if cmd, err = w.start(value, alive); err != nil {
			log.Info("Cannot start the watchdog: a dead executor may leave "+w.Leaves, "error", err.Error())
			return
		}
	}
}
