package process

import (
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Init containers and native sidecars, as the kubelet runs them.
//
// Init containers run in order. A sidecar (an init container with restartPolicy
// Always) is started in its turn, and the next one starts once it is Started: running,
// and past its startup probe if it has one. It is restarted whenever it ends, whatever
// the pod's restartPolicy, and runs beside the main containers; once they all ended (a
// pod that does not restart them) or the pod is killed, the sidecars are stopped in
// reverse order: each one's preStop hook runs at once, as the main containers' do, and
// its SIGTERM comes once the main containers and the sidecars after it ended (or its
// grace period is over), as the kubelet orders them (terminationOrdering). The pod's
// phase does not count them.

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// checkRestartPolicies refuses the containers' own restart rules that the runtime does
// not follow (ContainerRestartRules, on by default since Kubernetes 1.35): it restarts a
// container as the pod's restartPolicy says (an init container on failure unless that
// is Never), a sidecar always, and by no restartPolicyRules. A container's
// restartPolicy that says the same as the pod's is no different, and is taken; one that
// says otherwise would be ignored, as would every rule. podtask.CheckRuntime refuses
// the same.
func checkRestartPolicies(p *corev1.Pod) error {
	for _, cs := range []struct {
		field string
		ctrs  []corev1.Container
		init  bool
	}{{"spec.initContainers", p.Spec.InitContainers, true}, {"spec.containers", p.Spec.Containers, false}} {
		for i, c := range cs.ctrs {
			if len(c.RestartPolicyRules) > 0 {
				return fmt.Errorf("%s[%d].restartPolicyRules: the process runtime does not restart containers by rules", cs.field, i)
			}
			if c.RestartPolicy == nil || (cs.init && isSidecar(&c)) {
				continue
			}
			if own, pod := *c.RestartPolicy, podRestartPolicy(p, cs.init); own != pod {
				return fmt.Errorf("%s[%d].restartPolicy: the process runtime restarts the container as the pod's restartPolicy says (%s), not as its own (%s)",
					cs.field, i, pod, own)
			}
		}
	}
	return nil
}

// podRestartPolicy is how the pod's restartPolicy has a container restarted, as a
// container's own restartPolicy would say it: an init container is restarted until it
// succeeds (OnFailure) unless the pod's is Never.
func podRestartPolicy(p *corev1.Pod, init bool) corev1.ContainerRestartPolicy {
	switch policy := p.Spec.RestartPolicy; {
	case policy == corev1.RestartPolicyNever:
		return corev1.ContainerRestartPolicyNever
	case init, policy == corev1.RestartPolicyOnFailure:
		return corev1.ContainerRestartPolicyOnFailure
	}
	return corev1.ContainerRestartPolicyAlways
}

// sidecar is a sidecar's supervisor: done once it no longer restarts it.
type sidecar struct {
	c    *container
	done chan struct{}
}

// runInits runs the init containers and starts the sidecars, in order; ok is false
// when the pod ended meanwhile (killed, or an init container failed), which it reported.
func (p *pod) runInits() (sidecars []sidecar, ok bool) {
	for _, c := range p.inits {
		if isSidecar(&c.spec) {
			s := sidecar{c: c, done: make(chan struct{})}
			sidecars = append(sidecars, s)
			go func() {
				defer close(s.done)
				p.superviseSidecar(c)
			}()
			select {
			case <-c.firstStarted:
				continue
			case <-p.kill:
				p.stopSidecars(sidecars, 0)
				p.finish()
				return nil, false
			}
		}
		if msg, ended := p.runInit(c); ended {
			p.stopSidecars(sidecars, p.grace(nil))
			if msg != "" {
				p.fail(msg)
			} else {
				p.finish()
			}
			return nil, false
		}
	}
	return sidecars, true
}

// runInit runs an init container to its success, restarting it unless the pod's
// restartPolicy is Never; ended says the pod ended instead, with msg when it failed.
func (p *pod) runInit(c *container) (msg string, ended bool) {
	for {
		code, err := p.runOnce(c)
		if p.isKilled() {
			return "", true
		}
		if err == nil && code == 0 {
			return "", false
		}
		if p.pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
			return fmt.Sprintf("init container %s failed (exit code %d)", c.spec.Name, code), true
		}
		if !p.wait(c) {
			return "", true
		}
	}
}

// superviseSidecar runs a sidecar until it is stopped, restarting it whenever it ends.
func (p *pod) superviseSidecar(c *container) {
	for {
		_, _ = p.runOnce(c)
		if p.isKilled() || p.sidecarsStopping() {
			return
		}
		if !p.wait(c) {
			return
		}
	}
}

func (p *pod) sidecarsStopping() bool {
	select {
	case <-p.stopping:
		return true
	default:
		return false
	}
}

// stopSidecars stops the sidecars in reverse order (stopInOrder), within grace, and
// returns once none runs or restarts. In a killed pod, Kill stops them.
func (p *pod) stopSidecars(sidecars []sidecar, grace time.Duration) {
	p.mu.Lock()
	select {
	case <-p.stopping:
	default:
		close(p.stopping) // no sidecar starts again
	}
	var running []instance
	if !p.killed {
		for _, s := range sidecars {
			if s.c.isRunning() {
				running = append(running, s.c.current())
			}
		}
	}
	p.mu.Unlock()
	p.stopInOrder(running, grace)
	for i := len(sidecars) - 1; i >= 0; i-- {
		<-sidecars[i].done
	}
}

// markStarted records that the container is Started; under p.mu.
func (c *container) markStarted() {
	yes := true
	c.status.Started = &yes
	c.startedOnce.Do(func() { close(c.firstStarted) })
}

// isRunning says whether the container's latest instance runs; under p.mu.
func (c *container) isRunning() bool {
	if c.cmd == nil || c.done == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// stopInOrder stops the running instances (those of the init containers first, in
// order) as the kubelet stops a pod (killContainersWithSyncResult): all at once, each
// within grace, its preStop hook first, but a sidecar's SIGTERM waits until the other
// containers (the main ones, and a regular init container) and the sidecars after it
// ended (stopAfter), so that the sidecars end last, in reverse order; it returns once
// all ended.
func (p *pod) stopInOrder(running []instance, grace time.Duration) {
	var wg sync.WaitGroup
	stop := func(in instance, after []<-chan struct{}) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.stopAfter(in, grace, "", after)
		}()
	}
	var after []<-chan struct{} // the sidecars wait for these to end
	var sidecars []instance
	for _, in := range running {
		if isSidecar(&in.c.spec) {
			sidecars = append(sidecars, in)
			continue
		}
		stop(in, nil)
		after = append(after, in.exited)
	}
	for i := len(sidecars) - 1; i >= 0; i-- {
		stop(sidecars[i], slices.Clip(after))
		after = append(slices.Clip(after), sidecars[i].exited)
	}
	wg.Wait()
}
