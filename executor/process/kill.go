package process

import (
	"os/exec"
	"syscall"
	"time"
)

// Kill stops every process group: SIGTERM, then SIGKILL after grace. A later Kill
// whose grace ends sooner brings SIGKILL forward (the user's `kubectl delete
// --grace-period=1` after a delete with a long one); a longer one changes nothing, as
// the kubelet lets a pod's grace period only decrease. Each Kill's grace counts from
// the first Kill, as the API server counts a later delete's from the first delete and
// Mesos's command executor a later KILL's from the first: an hour's delete followed
// 50 minutes later by one of 10 minutes is due at once.
func (p *pod) Kill(grace time.Duration) { p.stop(grace, false) }

// stop kills the pod (Kill), or, pastDeadline, stops a pod that ran past its
// activeDeadlineSeconds, unless it ended or was killed already. A stop past the
// deadline is no delete: a Kill after it counts its grace from itself.
func (p *pod) stop(grace time.Duration, pastDeadline bool) {
	p.mu.Lock()
	if pastDeadline && (p.ended || p.killed) {
		p.mu.Unlock()
		return
	}
	from := time.Now()
	if !pastDeadline {
		if p.firstKill.IsZero() {
			p.firstKill = from
		}
		from = p.firstKill
	}
	p.killByLocked(from.Add(grace))
	if p.killed {
		p.mu.Unlock()
		return
	}
	p.killed, p.exceeded = true, pastDeadline
	close(p.kill)
	running := p.running()
	p.mu.Unlock()
	p.stopInOrder(running, grace)
}

// killByLocked brings the pod's kill deadline forward to by, if that is earlier, and
// tells the containers being stopped; under p.mu.
func (p *pod) killByLocked(by time.Time) {
	if !p.killBy.IsZero() && !by.Before(p.killBy) {
		return
	}
	p.killBy = by
	if p.shortened != nil {
		close(p.shortened)
	}
	p.shortened = make(chan struct{})
}

// stopBy is when a container stopped with deadline gets SIGKILL: that, or the pod's
// kill deadline if earlier; shortened is closed when the latter comes earlier.
func (p *pod) stopBy(deadline time.Time) (by time.Time, shortened <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shortened == nil {
		p.shortened = make(chan struct{})
	}
	if !p.killBy.IsZero() && p.killBy.Before(deadline) {
		deadline = p.killBy
	}
	return deadline, p.shortened
}

// awaitUntil waits until a or b is closed (true), or until deadline, or the pod's kill
// deadline if that comes earlier meanwhile, has passed, but not before notBefore
// (false).
func (p *pod) awaitUntil(deadline, notBefore time.Time, a, b <-chan struct{}) bool {
	for {
		by, shortened := p.stopBy(deadline)
		if by.Before(notBefore) {
			by = notBefore
		}
		t := time.NewTimer(time.Until(by))
		select {
		case <-a:
		case <-b:
		case <-t.C:
			return false
		case <-shortened:
			t.Stop()
			continue
		}
		t.Stop()
		return true
	}
}

// running are the instances of the containers that run; under p.mu.
func (p *pod) running() []instance {
	var out []instance
	for _, c := range append(append([]*container{}, p.inits...), p.mains...) {
		if c.isRunning() {
			out = append(out, c.current())
		}
	}
	return out
}

func signal(cmd *exec.Cmd, s syscall.Signal) {
	if cmd != nil && cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, s) // the whole process group
	}
}

func (p *pod) isKilled() bool {
	select {
	case <-p.kill:
		return true
	default:
		return false
	}
}
