package kubelet

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/k8sm/k8sm/executor/podlogs"
)

// A pod that ends (a Job's, say) leaves the kubelet with its containers and their logs
// once its manifest goes. Before it goes, the follower keeps each container's log in
// the pod's sandbox, where `kubectl logs` of the ended pod reads it (until the executor
// prunes the sandbox, as it keeps the process runtime's logs).

const (
	// savedLogLines bounds what is kept of a container's log: its last lines.
	savedLogLines = 100000
	// saveLogTimeout bounds the copy of one container's log.
	saveLogTimeout = 30 * time.Second
)

// savedLogDir is where a container's log is kept in the pod's sandbox, as the process
// runtime keeps its own; podlogs makes it, its files and the sandbox (register) the
// executor's user's alone.
func savedLogDir(sandbox, container string) string {
	return filepath.Join(sandbox, "containers", container, "logs")
}

// saveLogs keeps the logs of the ended pod kp's containers (init containers included).
func (f *follower) saveLogs(kp *corev1.Pod) {
	if f.sandbox == "" {
		return
	}
	statuses := append(append([]corev1.ContainerStatus(nil), kp.Status.InitContainerStatuses...), kp.Status.ContainerStatuses...)
	for _, cs := range statuses {
		if err := f.saveLog(kp, cs); err != nil {
			f.rt.Log.Info("Could not keep the log of an ended pod's container; kubectl logs will not find it", "podUID", f.uid, "container", cs.Name, "error", err.Error())
		}
	}
}

// saveLog keeps the log of one container. Its name comes from the kubelet's answer,
// and becomes a path in the sandbox: one that is no container name (a DNS label, as the
// API server requires) is refused, whatever answered on the kubelet's port.
func (f *follower) saveLog(kp *corev1.Pod, cs corev1.ContainerStatus) error {
	if errs := validation.IsDNS1123Label(cs.Name); len(errs) > 0 {
		return fmt.Errorf("the kubelet names a container %q, which is no container name: %s", cs.Name, strings.Join(errs, "; "))
	}
	ctx, cancel := context.WithTimeout(context.Background(), saveLogTimeout)
	defer cancel()
	q := url.Values{"timestamps": {"true"}, "tailLines": {strconv.Itoa(savedLogLines)}}
	req, err := f.rt.newRequest(ctx, podPath("/containerLogs", kp, cs.Name), q)
	if err != nil {
		return err
	}
	c := *f.rt.httpClient()
	c.Timeout = 0 // ctx's
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return answerError(resp, kp.Name, kp.Name)
	}
	return podlogs.Import(savedLogDir(f.sandbox, cs.Name), int(cs.RestartCount), io.LimitReader(resp.Body, 64<<20))
}

// savedLogs serves the kept log of a container of an ended pod; found is false when
// none was kept.
func (rec *record) savedLogs(ctx context.Context, container string, opts *corev1.PodLogOptions, w io.Writer) (found bool, err error) {
	if rec.sandbox == "" {
		return false, nil
	}
	rec.mu.Lock()
	restart := -1
	for _, cs := range append(append([]corev1.ContainerStatus(nil), rec.status.InitContainerStatuses...), rec.status.ContainerStatuses...) {
		if cs.Name == container {
			restart = int(cs.RestartCount)
		}
	}
	rec.mu.Unlock()
	dir := savedLogDir(rec.sandbox, container)
	if restart < 0 || !podlogs.Has(dir) {
		return false, nil
	}
	ended := make(chan struct{})
	close(ended)
	return true, podlogs.Read(ctx, podlogs.Source{Dir: dir, Restart: restart, Ended: ended}, opts, w)
}
