package process

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"

	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/k8sm/k8sm/executor/kubeletapi"
)

// Attach connects a client to a running container's own streams, as a CRI runtime does
// for the kubelet (containerd's ContainerIO.Attach, internal/cri/io/container_io.go):
// the output the container writes from now on (not the log's past) reaches stdout and
// stderr, alongside its log; stdin, when both the client and the container
// (spec.stdin) have one, goes into the container's stdin.
//
// The terminal is the container's, not the client's: the kubelet attaches with the
// container's spec.tty whatever the client asked (k8s.io/kubernetes
// pkg/kubelet/kubelet_pods.go, (*Kubelet).GetAttach), so tty is ignored here: a
// container without a terminal gives stdout and stderr apart, and ignores resize; one
// with a terminal gives its one output on stdout (stderr is left unused, as containerd
// leaves it), and resize sets its size.
//
// A client asking stdin of a container without stdin is not refused: the kubelet passes
// the request on as it is (GetAttach), the CRI streaming server does not check it
// (k8s.io/cri-streaming pkg/streaming/server.go, validateAttachRequest), and containerd
// copies a client's stdin only into a container that has one (ContainerIO.Attach). The
// client gets the output; what it sends is read and dropped.
//
// The session ends as containerd's does: when the container's output ends (the
// instance ended), when the client goes (a write fails, or ctx ends), or when the
// client's stdin ends. When the client's stdin ends, with spec.stdinOnce and no
// terminal, the container's stdin is closed and the output stays attached until the
// container ends it; otherwise the session ends and the container's stdin stays open
// for the next client (containerd closes neither a terminal nor the stdin of a
// container without stdinOnce). With stdinOnce, a client with stdin that goes closes
// the container's stdin too. (Unlike containerd's, the end of one output stream does
// not cut the other: see copyIn.)
func (r *Runtime) Attach(ctx context.Context, namespace, name, container string, stdin io.Reader, stdout, stderr io.WriteCloser, _ bool, resize <-chan remotecommand.TerminalSize) error {
	cl, err := r.attachable(namespace, name, container)
	if err != nil {
		return err
	}
	// Not closed here: the streaming server ends the connection once Attach returns.
	return cl.attach(ctx, stdin, stdout, stderr, resize)
}

// checkAttach answers an attach before the connection is upgraded as the kubelet does:
// a container that is not running is not found (attachable); a container with a
// terminal cannot also give stderr, which a client asks when it wants no terminal:
// the kubelet asks the runtime for the container's tty and the client's stderr, which
// the CRI streaming server refuses (validateAttachRequest, InvalidArgument), and the
// kubelet answers that with a 500 (k8s.io/kubernetes pkg/kubelet/server/server.go,
// getAttach; cri-streaming's WriteError).
func (r *Runtime) checkAttach(req kubeletapi.StreamRequest) error {
	cl, err := r.attachable(req.Namespace, req.Pod, req.Container)
	if err != nil {
		return err
	}
	if cl.tty && req.Stderr {
		return kubeletapi.Errorf(http.StatusInternalServerError, "tty and stderr cannot both be true")
	}
	return nil
}

// attachable returns the streams of a running container's instance. Another container
// is answered as the kubelet answers it: it finds only running containers
// ((*Kubelet).GetAttach through findContainer, the runtime's running pods), and says
// the container is not found in the pod's full name (name_namespace), which reaches the
// client as a 500 (getAttach, WriteError of an error that is no gRPC status).
func (r *Runtime) attachable(namespace, name, container string) (*containerLog, error) {
	p, c, err := r.find(namespace, name, container)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.status.State.Running == nil || c.log == nil {
		return nil, kubeletapi.Errorf(http.StatusInternalServerError, "container %s not found in pod %s_%s", container, name, namespace)
	}
	return c.log, nil
}

// attachBacklog bounds the chunks of output (each one read, at most 32 KiB) waiting for
// one attach client: a client further behind is dropped (errBehind), since neither the
// container nor its log may wait for a client. A variable for tests.
var attachBacklog = 256

var errBehind = errors.New("the client fell too far behind the container's output, and was dropped")

// attach runs one attach session on the instance's streams (see Attach).
func (cl *containerLog) attach(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, resize <-chan remotecommand.TerminalSize) error {
	if cl.tty {
		stderr = nil // a terminal has one output, stdout's
	}
	s := &session{cl: cl, stopIn: make(chan struct{}), quit: make(chan struct{})}
	defer close(s.quit)
	// Listening first: whatever the container writes from here on reaches the client.
	for i, w := range []io.Writer{stdout, stderr} {
		if w != nil {
			s.outs = append(s.outs, clientOut{w: w, l: cl.attached[i].listen()})
		}
	}
	var wg sync.WaitGroup
	for _, o := range s.outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.copyOut(o)
		}()
	}
	if stdin != nil {
		if in := cl.stdin; in != nil && in.open() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.copyIn(in, stdin)
			}()
		} else {
			// Read and dropped, so that the client's stream does not back up.
			go func() { _, _ = io.Copy(io.Discard, stdin) }()
		}
	}
	switch {
	case resize == nil:
	case cl.tty:
		go resizeTTY(cl.r[0], resize)
	default:
		go func() {
			for range resize { // sizes mean nothing without a terminal
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.detach() // the client is gone: as when its streams fail
		<-done
	}
	return s.err()
}

// session is one attach client's.
type session struct {
	cl   *containerLog
	outs []clientOut
	// stopIn ends the copy of the client's stdin (the client is gone, or an output
	// ended with the instance); quit, the reader of it, once attach returned.
	stopIn, quit chan struct{}
	stopOnce     sync.Once
}

// clientOut is a client's stream and what it listens to.
type clientOut struct {
	w io.Writer
	l *listener
}

// copyOut copies what l gets to the client until the container's output ends, the
// session drops it, or the client cannot take it or keep up. The client is gone or
// dropped then: its session ends. Otherwise its stdin stops, and its other output ends
// on its own: ending it here would cut what the container wrote last to it (the
// streams end one after the other).
func (s *session) copyOut(o clientOut) {
	for b := range o.l.ch {
		if _, err := o.w.Write(b); err != nil {
			s.detach()
			return
		}
	}
	if o.l.behind {
		s.detach()
		return
	}
	s.stop()
}

// copyIn copies the client's stdin into the container's until either ends or the
// session stops it. Then stdinOnce closes the container's stdin (the first session with
// stdin is over), and otherwise the end of the client's stdin ends the session, as
// containerd's does. (containerd also ends it when the copy ends otherwise, which can
// cut the last output of a container that just ended; here the output ends on its
// own then.)
func (s *session) copyIn(in *containerStdin, stdin io.Reader) {
	chunks := make(chan []byte)
	go func() {
		// Reads block until the client sends or its stream closes (once the
		// connection is closed, after attach returns): they cannot be stopped, so
		// this reader is left to end on its own.
		defer close(chunks)
		buf := make([]byte, 32<<10)
		for {
			n, err := stdin.Read(buf)
			if n > 0 {
				select {
				case chunks <- bytes.Clone(buf[:n]):
				case <-s.quit:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	clientEnded := false
loop:
	for {
		select {
		case b, ok := <-chunks:
			if !ok {
				clientEnded = true
				break loop
			}
			if _, err := in.Write(b); err != nil {
				break loop // the container's stdin is closed: its instance ended, or stdinOnce
			}
		case <-s.stopIn:
			break loop
		}
	}
	switch {
	case in.once:
		in.close()
	case clientEnded:
		s.detach()
	}
}

// stop ends the copy of the client's stdin.
func (s *session) stop() { s.stopOnce.Do(func() { close(s.stopIn) }) }

// detach ends the session: its outputs and its stdin.
func (s *session) detach() {
	for _, o := range s.outs {
		s.cl.attached[o.l.stream].remove(o.l)
	}
	s.stop()
}

// err is why the session ended, when it is not the client's or the container's doing.
func (s *session) err() error {
	for _, o := range s.outs {
		if o.l.behind {
			return errBehind
		}
	}
	return nil
}

// containerStdin is a container instance's stdin, which the runtime keeps open for
// attach clients: a pipe's write end, or the terminal's master with tty.
type containerStdin struct {
	f *os.File
	// once is spec.stdinOnce without a terminal: the first session with stdin closes it.
	once bool
	// pipe says f is the stdin's own, to close; a terminal's master is the output
	// copier's.
	pipe bool

	mu     sync.Mutex
	closed bool
}

func (s *containerStdin) open() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed
}

// Write writes to the container's stdin; it fails once the stdin is closed. Writes of
// concurrent clients go in whole, one after the other.
func (s *containerStdin) Write(b []byte) (int, error) {
	if !s.open() {
		return 0, os.ErrClosed
	}
	return s.f.Write(b)
}

// close closes the container's stdin: the container reads EOF. A write blocked on a
// full pipe fails.
func (s *containerStdin) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if s.pipe {
		_ = s.f.Close()
	}
}

// broadcast hands one stream of a container's output to its attach clients as the
// output copier reads it, never waiting for them.
type broadcast struct {
	stream int // 0 stdout, 1 stderr

	mu     sync.Mutex
	ls     map[*listener]struct{}
	closed bool
}

// listener is one client's share of a broadcast: ch closes when the output ends, when
// the session removes it, or when the client is behind.
type listener struct {
	stream int
	ch     chan []byte
	behind bool // set before ch is closed
}

// listen returns a listener of the output to come; one of an output that ended is
// closed already.
func (b *broadcast) listen() *listener {
	l := &listener{stream: b.stream, ch: make(chan []byte, attachBacklog)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(l.ch)
		return l
	}
	if b.ls == nil {
		b.ls = map[*listener]struct{}{}
	}
	b.ls[l] = struct{}{}
	return l
}

// send gives a copy of p to every listener; one whose backlog is full is dropped.
func (b *broadcast) send(p []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ls) == 0 {
		return
	}
	chunk := bytes.Clone(p)
	for l := range b.ls {
		select {
		case l.ch <- chunk:
		default:
			l.behind = true
			delete(b.ls, l)
			close(l.ch)
		}
	}
}

// remove drops a listener, whose session is over.
func (b *broadcast) remove(l *listener) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.ls[l]; ok {
		delete(b.ls, l)
		close(l.ch)
	}
}

// close ends the output: the listeners get what they have, then the end.
func (b *broadcast) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for l := range b.ls {
		close(l.ch)
	}
	b.ls = nil
}
