package process

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/k8sm/k8sm/executor/kubeletapi"
)

// PortForward copies stream to and from port on the agent's loopback: the runtime's
// pods share the agent's network. Any port, declared or not, as the kubelet forwards
// any. It returns once both directions are done: when either side closes, the other is
// closed too.
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
	defer func() { _ = conn.Close() }()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(stream, conn)
		_ = stream.Close()
	}()
	_, err = io.Copy(conn, stream)
	// The client is done sending: tell the port, and wait for its answer to end, as a
	// half-close (the kubelet's forwarder does the same).
	if tc, ok := conn.(*net.TCPConn); ok && err == nil {
		_ = tc.CloseWrite()
	} else {
		_ = conn.Close()
	}
	wg.Wait()
	return err
}
