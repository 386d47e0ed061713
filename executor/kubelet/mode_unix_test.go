//go:build unix

package kubelet

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/executor/podlogs"
	"github.com/k8sm/k8sm/internal/testio"
)

// The logs kept of an ended pod hold whatever its containers printed: the pod's
// sandbox, where they are kept, is the executor's alone, as the process runtime's logs
// are, so that no other user of the agent lists or reads them without pods/log.
func TestTheKeptLogsOfAnEndedPodArePrivate(t *testing.T) {
	testio.Umask0(t)
	_, k, sandbox := startAPIPod(t)
	done := kubeletPods(corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}, false)
	done[0].Status.Phase = corev1.PodSucceeded
	done[0].Status.ContainerStatuses = done[0].Status.ContainerStatuses[:1]
	k.mu.Lock()
	k.pods = done
	k.mu.Unlock()
	poll(t, 10*time.Second, "the kept log", func() bool { return podlogs.Has(savedLogDir(sandbox, "c")) }, func() string { return "" })
	testio.PrivateTree(t, sandbox)
}
