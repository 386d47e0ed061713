package process

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/k8sm/k8sm/executor/kubeletapi"
)

// PortForward copies stream to and from port of the pod: a port one of its processes
// listens on (ports.go), at the address it listens on, the agent's loopback for a
// wildcard; its pods share the agent's network, so any other port is refused, which a
// kubelet, whose pods have a network of their own, need not do. It returns once both
// directions are done (forward): when either side closes, the other is closed too, at
// most halfCloseWait after the client's.
func (r *Runtime) PortForward(ctx context.Context, namespace, name string, port int32, stream io.ReadWriteCloser) error {
	defer func() { _ = stream.Close() }()
	p := r.lookup(namespace, name)
	if p == nil {
		return kubeletapi.Errorf(http.StatusNotFound, "pod %q does not exist", name)
	}
	if port <= 0 || port > 65535 {
		return kubeletapi.Errorf(http.StatusBadRequest, "invalid port %d", port)
	}
	addrs, err := p.listening(uint16(port))
	if err != nil {
		return err
	}
	conn, err := dialFirst(ctx, addrs, int(port))
	if err != nil {
		return err
	}
	return forward(conn, stream, halfCloseWait)
}

// dialFirst connects to port at the first of addrs that answers. Between the check and
// the connection the pod's listener could close and another process take the port: a
// window of a few system calls, in which nothing but the pod chose to close it.
func dialFirst(ctx context.Context, addrs []net.IP, port int) (net.Conn, error) {
	var errs []error
	for _, ip := range addrs {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(ip.String(), strconv.Itoa(port)))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// halfCloseWait is how long a forward whose client is done sending waits for the port's
// answer to end, as containerd's forwarder waits (socat's default -t).
const halfCloseWait = time.Second

// forward copies stream to conn and back, and closes conn. When the client is done
// sending (its stream's EOF), it tells the port with a half-close and waits at most
// linger for the port's answer to end: a port that neither writes nor closes would
// otherwise hold the forward, its goroutine and its socket, for ever. A stream that
// fails closes the connection at once.
func forward(conn net.Conn, stream io.ReadWriteCloser, linger time.Duration) error {
	back := make(chan struct{})
	go func() {
		defer close(back)
		_, _ = io.Copy(stream, conn)
		_ = stream.Close()
	}()
	_, err := io.Copy(conn, stream)
	if tc, ok := conn.(*net.TCPConn); ok && err == nil {
		_ = tc.CloseWrite()
		timer := time.NewTimer(linger)
		select {
		case <-back:
		case <-timer.C:
		}
		timer.Stop()
	}
	_ = conn.Close()
	<-back
	return err
}
