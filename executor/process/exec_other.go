//go:build !linux

package process

import (
	"context"
	"io"
	"net/http"

	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/k8sm/k8sm/executor/kubeletapi"
)

// execTTY: terminals are Linux only here.
func execTTY(context.Context, *launch, io.Reader, io.Writer, <-chan remotecommand.TerminalSize) (func() error, error) {
	return nil, kubeletapi.Errorf(http.StatusBadRequest, "tty is not supported by the process runtime on this system")
}
