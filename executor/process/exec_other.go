//go:build !linux

package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/k8sm/k8sm/executor/kubeletapi"
)

// execTTY: terminals are Linux only here.
func execTTY(context.Context, *launch, io.Reader, io.Writer, <-chan remotecommand.TerminalSize) (func() error, error) {
	return nil, kubeletapi.Errorf(http.StatusBadRequest, "tty is not supported by the process runtime on this system")
}

// checkTTY refuses a pod with a container on a terminal (spec.tty), which the runtime
// runs on Linux only, before it starts rather than leave the container waiting.
func checkTTY(p *corev1.Pod) error {
	for i, c := range p.Spec.InitContainers {
		if c.TTY {
			return fmt.Errorf("spec.initContainers[%d].tty: the process runtime runs containers on a terminal on Linux only", i)
		}
	}
	for i, c := range p.Spec.Containers {
		if c.TTY {
			return fmt.Errorf("spec.containers[%d].tty: the process runtime runs containers on a terminal on Linux only", i)
		}
	}
	return nil
}

func ttyEnded(error) bool { return false }

func openPTY() (master, slave *os.File, err error) {
	return nil, nil, errors.New("terminals are supported on Linux only")
}

// resizeTTY: no container has a terminal here (checkTTY).
func resizeTTY(_ *os.File, resize <-chan remotecommand.TerminalSize) {
	for range resize {
	}
}
