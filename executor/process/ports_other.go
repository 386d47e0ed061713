//go:build !linux

package process

import (
	"net/http"

	"github.com/k8sm/k8sm/executor/kubeletapi"
)

// tcpListeners: without /proc the runtime cannot tell the pod's listeners from the
// host's, and forwards to none.
func tcpListeners(uint16) ([]tcpSocket, error) {
	return nil, kubeletapi.Errorf(http.StatusNotImplemented,
		"the process runtime's port-forward needs Linux's /proc, to tell the ports a pod listens on from the host's")
}

func (p *pod) ownedSockets(map[uint64]bool) map[uint64]bool { return nil }
