package process

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"

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
//
// A container with spec.tty runs on a terminal instead, whose one output is logged as
// stdout, as the kubelet logs it. The copiers also hand the output to the attach
// clients (attach.go), and a container with spec.stdin gets a stdin the runtime keeps
// open for them.
type containerLog struct {
	restart int
	// ended is closed once the instance ended and its log is closed (podlogs.Source).
	ended chan struct{}
	log   *podlogs.Log
	// r are the executor's read ends: stdout's and stderr's pipes, or the terminal's
	// master alone (r[0]). child is what the process gets: the other ends (the
	// terminal's slave thrice), closed here once the process has them.
	r     [2]*os.File
	child stdio
	tty   bool
	// stdin is the container's stdin for attach clients; nil without spec.stdin.
	stdin *containerStdin
	// attached hand stdout and stderr to the attach clients.
	attached [2]*broadcast
	wg       sync.WaitGroup
	once     sync.Once
}

// logDir is where container name's log files are: a directory only the executor's user
// may enter (podlogs makes it so), in the container's directory, which the container
// must be able to pass through (its volumes are reached from its rootfs, beside it).
func logDir(sandbox, name string) string {
	return filepath.Join(sandbox, "containers", name, "logs")
}

// openLog opens the log of c's next instance (its restart count), makes the instance's
// stdio and starts copying its output, and makes it c's latest.
func (p *pod) openLog(c *container) (*containerLog, error) {
	p.mu.Lock()
	restart := int(c.status.RestartCount)
	p.mu.Unlock()
	l, err := podlogs.Open(logDir(p.sandbox, c.spec.Name), restart, podlogs.Options{MaxSize: p.rt.logMaxSize, Log: p.rt.Log})
	if err != nil {
		return nil, err
	}
	cl := &containerLog{restart: restart, ended: make(chan struct{}), log: l, tty: c.spec.TTY,
		attached: [2]*broadcast{{stream: 0}, {stream: 1}}}
	if err := cl.openStdio(c.spec); err != nil {
		cl.started()
		cl.finish()
		return nil, err
	}
	streams := []string{podlogs.Stdout, podlogs.Stderr}
	if cl.tty {
		streams = streams[:1]
	}
	for i, name := range streams {
		var dst io.Writer = l.Stream(name)
		var cr *dropCR
		if cl.tty {
			cr = &dropCR{w: dst}
			dst = cr
		}
		if p.rt.wrapLog != nil {
			dst = p.rt.wrapLog(dst)
		}
		cl.wg.Add(1)
		go func(src *os.File, attached *broadcast) {
			defer cl.wg.Done()
			defer attached.close()
			copyOutput(dst, attached, src, p.rt.Log.WithValues("pod", p.name(), "container", c.spec.Name, "stream", name))
			if cr != nil {
				cr.flush()
			}
		}(cl.r[i], cl.attached[i])
	}
	if cl.tty {
		cl.attached[1].close() // a terminal has no stderr
	}
	p.mu.Lock()
	c.log = cl
	p.mu.Unlock()
	return cl, nil
}

// openStdio makes the instance's stdio: a terminal with spec.tty, else pipes for
// stdout and stderr, and one for stdin with spec.stdin (else the process reads
// /dev/null, as a CRI runtime's does).
func (cl *containerLog) openStdio(spec corev1.Container) error {
	if spec.TTY {
		master, slave, err := openPTY()
		if err != nil {
			return err
		}
		cl.r[0], cl.child = master, stdio{In: slave, Out: slave, Err: slave, TTY: true}
		if spec.Stdin {
			cl.stdin = &containerStdin{f: master}
		}
		return nil
	}
	var err error
	if cl.r[0], cl.child.Out, err = os.Pipe(); err != nil {
		return err
	}
	if cl.r[1], cl.child.Err, err = os.Pipe(); err != nil {
		return err
	}
	if spec.Stdin {
		var w *os.File
		if cl.child.In, w, err = os.Pipe(); err != nil {
			return err
		}
		cl.stdin = &containerStdin{f: w, once: spec.StdinOnce, pipe: true}
	}
	return nil
}

// started closes the executor's copies of the process's ends, once the process has them
// (or could not start): the pipes and the terminal then end when the container's
// processes are gone.
func (cl *containerLog) started() {
	for _, f := range []**os.File{&cl.child.In, &cl.child.Out, &cl.child.Err} {
		if *f != nil {
			_ = (*f).Close() // the terminal's slave a second time: ErrClosed
			*f = nil
		}
	}
}

// finish ends the log once the process is gone: it waits for the output still in the
// pipes (drainTimeout at most), then closes the pipes, the log, and ended. The
// container is reported terminated after, with its log complete. The container's stdin
// is closed first: nothing reads it any more.
func (cl *containerLog) finish() {
	cl.once.Do(func() {
		cl.started()
		if cl.stdin != nil {
			cl.stdin.close()
		}
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
		for _, b := range cl.attached {
			b.close() // when the copiers did not start
		}
		_ = cl.log.Close()
		close(cl.ended)
	})
}

// copyOutput copies a container's stream into its log, and to its attach clients,
// until the stream ends (or is closed). A write that fails does not stop it: the rest is
// read and dropped, so that the container does not block on a full pipe.
func copyOutput(dst io.Writer, attached *broadcast, src io.Reader, log logr.Logger) {
	_, err := io.Copy(&keepReading{w: dst, log: log, attached: attached}, src)
	if err != nil && !errors.Is(err, os.ErrClosed) && !ttyEnded(err) {
		log.Error(err, "Cannot read a container's output")
	}
}

// keepReading is a writer that never fails: after its first error, it drops. What it
// gets goes to the attach clients too, whether the log took it or not, and first: a
// client that attaches once the log shows some output does not get that output again
// (an attach gets what the container writes from then on).
type keepReading struct {
	w        io.Writer
	log      logr.Logger
	attached *broadcast
	failed   bool
}

func (k *keepReading) Write(b []byte) (int, error) {
	if k.attached != nil {
		k.attached.send(b)
	}
	if k.failed {
		return len(b), nil
	}
	if _, err := k.w.Write(b); err != nil {
		k.failed = true
		k.log.Error(err, "Cannot write a container's output to its log: dropping the rest of this instance's")
	}
	return len(b), nil
}

// dropCR drops the "\r" of each "\r\n" a terminal writes (it ends lines so), so that
// the log holds the lines without it, as containerd's CRI logger does (its readLine,
// internal/cri/io/logger.go). A "\r" that ends a write waits for the next; flush writes
// it when the output ended with it.
type dropCR struct {
	w   io.Writer
	cr  bool
	buf []byte
}

func (d *dropCR) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	d.buf = d.buf[:0]
	if d.cr && p[0] != '\n' {
		d.buf = append(d.buf, '\r')
	}
	d.cr = false
	for i, c := range p {
		if c == '\r' && i+1 == len(p) {
			d.cr = true
			break
		}
		if c != '\r' || p[i+1] != '\n' {
			d.buf = append(d.buf, c)
		}
	}
	if len(d.buf) > 0 {
		if _, err := d.w.Write(d.buf); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (d *dropCR) flush() {
	if d.cr {
		d.cr = false
		_, _ = d.w.Write([]byte{'\r'})
	}
}
