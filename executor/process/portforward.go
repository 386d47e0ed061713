package process

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/k8sm/k8sm/executor/kubeletapi"
)

// PortForward copies stream to and from port on the agent's loopback: the runtime's
// pods share the agent's network. Any port, declared or not, as the kubelet forwards
// any. It returns once both directions are done (forward): when either side closes, the
// other is closed too, at most halfCloseWait after the client's.
func (r *Runtime) PortForward(ctx context.Context, namespace, name string, port int32, stream io.ReadWriteCloser) error {
	defer func() { _ = stream.Close() }()
	if r.lookup(namespace, name) == nil {
		return kubeletapi.Errorf(http.StatusNotFound, "pod %q does not exist", name)
	}
	if port <= 0 || port > 65535 {
		return kubeletapi.Errorf(http.StatusBadRequest, "invalid port %d", port)
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		return err
	}
	return forward(conn, stream, halfCloseWait)
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
