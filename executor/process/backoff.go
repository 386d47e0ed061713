package process

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// backoff is a container's restart back-off, as the kubelet keeps it for each
// container (its crashLoopBackOff, a flowcontrol.Backoff): the wait its next exit
// gets, 0 before it first exited, and when it was last restarted.
type backoff struct {
	delay   time.Duration
	updated time.Time
}

// restartDelay is how long a container that exited at exited waits, from now, before
// it starts again, and moves its back-off on, as the kubelet's doBackOff does
// (kuberuntime_manager.go, with kubelet.go's crashLoopBackOff): its first exit restarts
// it at once, each later one after twice the wait of the one before, from BackoffBase
// (10s) up to BackoffMax (5m, the kubelet's MaxContainerRestartPeriod default), the
// wait counted from its exit. An exit more than BackoffReset (10m: the kubelet's
// HasExpiredFunc, and its GC of the back-offs) after its last restart counts as a
// first one again: a container that ran that long is restarted at once, and its next
// exit waits BackoffBase, rather than the 5 minutes it had come to.
func (r *Runtime) restartDelay(b *backoff, exited, now time.Time) time.Duration {
	base, most, reset := r.BackoffBase, r.BackoffMax, r.BackoffReset
	if base <= 0 {
		base = 10 * time.Second
	}
	if most <= 0 {
		most = 5 * time.Minute
	}
	if reset <= 0 {
		reset = 10 * time.Minute
	}
	base = min(base, most)
	if b.delay == 0 || exited.Sub(b.updated) > reset {
		b.delay, b.updated = base, now
		return 0
	}
	wait := max(exited.Add(b.delay).Sub(now), 0)
	b.delay, b.updated = min(2*b.delay, most), now.Add(wait)
	return wait
}

// wait sleeps the restart back-off (CrashLoopBackOff, restartDelay); false when the pod
// is killed. The restart count goes up as the container starts again, not before: in
// back-off it counts the restarts done, as the kubelet's (the attempt number of the
// container that exited), and its log is the one `kubectl logs` reads, the last run's.
func (p *pod) wait(c *container) bool {
	p.mu.Lock()
	last := c.status.State.Terminated
	c.status.LastTerminationState = corev1.ContainerState{Terminated: last}
	now := time.Now()
	exited := now
	if last != nil {
		exited = last.FinishedAt.Time
	}
	d := p.rt.restartDelay(&c.backoff, exited, now)
	if d > 0 {
		c.status.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off restarting failed container %s", c.spec.Name)}}
	}
	p.mu.Unlock()
	if d <= 0 {
		// Restarted at once, as the kubelet restarts it: no back-off to report, its
		// next state is its next run's.
		select {
		case <-p.kill:
			return false
		case <-p.stopping:
			return false
		default:
			return p.restarting(c)
		}
	}
	p.send("")
	select {
	case <-time.After(d):
		return p.restarting(c)
	case <-p.kill:
		return false
	case <-p.stopping: // a sidecar, once the pod stops them
		return false
	}
}

// restarting counts the container's restart as it starts again.
func (p *pod) restarting(c *container) bool {
	p.mu.Lock()
	c.status.RestartCount++
	p.mu.Unlock()
	return true
}
