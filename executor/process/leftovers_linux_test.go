package process

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/executor/process/cgroup"
)

// Without pod cgroups, nothing that a container started outlives it, not even a child
// that left its process group for a session of its own (a daemon): the container's
// cookie finds it once the container ended, before its end is reported.
func TestNoProcessOfAContainerOutlivesItWithoutCgroups(t *testing.T) {
	pidFile := filepath.Join(sharedDir(t), "daemon")
	rt := &Runtime{detect: func() (*cgroup.Manager, error) { return nil, errors.New("no cgroups here") }}
	// The daemon writes its own pid ($! may be a setsid that forked it; $$$$ is its
	// shell's $$, as Kubernetes expands a command), and the container ends once it has.
	p := shPod(corev1.RestartPolicyNever, `echo "$`+EnvCookie+`"; setsid sh -c 'echo $$$$ > "$0.tmp" && mv "$0.tmp" "$0"; exec sleep 300' "$0" &
		until [ -s "$0" ]; do sleep 0.01; done`)
	p.Spec.Containers[0].Args = []string{pidFile}
	_, rec, dir := startWith(t, rt, p)
	if rep := rec.until(t, "the pod ended", ended); rep.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("the pod ended %s: %s", rep.Status.Phase, rep.Message)
	}
	b, _ := os.ReadFile(pidFile)
	daemon := atoi(strings.TrimSpace(string(b)))
	t.Cleanup(func() { killIfSleep(daemon) })
	cookie := strings.TrimSpace(output(dir, "c0", corev1.LogStreamStdout))
	if daemon == 0 || cookie == "" {
		t.Fatalf("the container wrote no daemon pid (%q) or cookie (%q)", b, cookie)
	}
	var left []int
	for _, pr := range processes() {
		if carriesCookie(pr.pid, map[string]bool{cookie: true}) {
			left = append(left, pr.pid)
		}
	}
	if len(left) > 0 || alive(daemon) {
		t.Fatalf("processes of the ended container still run: %v (its daemon %d alive: %v)", left, daemon, alive(daemon))
	}
}
