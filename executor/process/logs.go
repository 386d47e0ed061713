package process

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/k8sm/k8sm/executor/podlogs"
)

// drainTimeout is how long, once a container's process is gone, its log waits for the
// rest of its output: a descendant that left its process group and cgroup (or a
// runtime without cgroups) may hold the pipes open for ever.
var drainTimeout = 2 * time.Second

// containerLog is the log of one container instance: its output comes through pipes
// the executor reads (copiers), into a podlogs log in the container's directory of the
// sandbox, which stays the executor's. Pipes rather than files the container writes
// itself: the CRI format stamps and tags every line, which only a reader can do. The
// copiers never stop reading while the executor lives, so a container is never blocked
// by a log that cannot be written (its output is dropped then, and logged); its
// processes die with the executor (orphans.go), so no output is lost to them.
type containerLog struct {
	restart int
	// ended is closed once the instance ended and its log is closed (podlogs.Source).
	ended chan struct{}
	log   *podlogs.Log
	r, w  [2]*os.File // stdout, stderr: the executor's read ends, the process's write ends
	wg    sync.WaitGroup
	once  sync.Once
}

// logDir is where container name's log files are.
func logDir(sandbox, name string) string {
	return filepath.Join(sandbox, "containers", name, "logs")
}

// openLog opens the log of c's next instance (its restart count) and starts copying its
// output, and makes it c's latest.
func (p *pod) openLog(c *container) (*containerLog, error) {
	p.mu.Lock()
	restart := int(c.status.RestartCount)
	p.mu.Unlock()
	l, err := podlogs.Open(logDir(p.sandbox, c.spec.Name), restart, podlogs.Options{MaxSize: p.rt.logMaxSize, Log: p.rt.Log})
	if err != nil {
		return nil, err
	}
	cl := &containerLog{restart: restart, ended: make(chan struct{}), log: l}
	for i, name := range []string{podlogs.Stdout, podlogs.Stderr} {
		if cl.r[i], cl.w[i], err = os.Pipe(); err != nil {
			cl.started()
			cl.finish()
			return nil, err
		}
		var dst io.Writer = l.Stream(name)
		if p.rt.wrapLog != nil {
			dst = p.rt.wrapLog(dst)
		}
		cl.wg.Add(1)
		go func(src *os.File) {
			defer cl.wg.Done()
			copyOutput(dst, src, p.rt.Log.WithValues("pod", p.name(), "container", c.spec.Name, "stream", name))
		}(cl.r[i])
	}
	p.mu.Lock()
	c.log = cl
	p.mu.Unlock()
	return cl, nil
}

// started closes the executor's copies of the write ends, once the process has them
// (or could not start): the pipes then end when the container's processes are gone.
func (cl *containerLog) started() {
	for i, w := range cl.w {
		if w != nil {
			_ = w.Close()
			cl.w[i] = nil
		}
	}
}

// finish ends the log once the process is gone: it waits for the output still in the
// pipes (drainTimeout at most), then closes the pipes, the log, and ended. The
// container is reported terminated after, with its log complete.
func (cl *containerLog) finish() {
	cl.once.Do(func() {
		cl.started()
		done := make(chan struct{})
		go func() { cl.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(drainTimeout):
		}
		for _, r := range cl.r {
			if r != nil {
				_ = r.Close() // ends a copier still reading
			}
		}
		<-done
		_ = cl.log.Close()
		close(cl.ended)
	})
}

// copyOutput copies a container's stream into its log until the stream ends (or is
// closed). A write that fails does not stop it: the rest is read and dropped, so that
// the container does not block on a full pipe.
func copyOutput(dst io.Writer, src io.Reader, log logr.Logger) {
	_, err := io.Copy(&keepReading{w: dst, log: log}, src)
	if err != nil && !errors.Is(err, os.ErrClosed) {
		log.Error(err, "Cannot read a container's output")
	}
}

// keepReading is a writer that never fails: after its first error, it drops.
type keepReading struct {
	w      io.Writer
	log    logr.Logger
	failed bool
}

func (k *keepReading) Write(b []byte) (int, error) {
	if k.failed {
		return len(b), nil
	}
	if _, err := k.w.Write(b); err != nil {
		k.failed = true
		k.log.Error(err, "Cannot write a container's output to its log: dropping the rest of this instance's")
	}
	return len(b), nil
}
