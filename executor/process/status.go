package process

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/executor"
)

// fail reports the pod Failed with msg.
func (p *pod) fail(msg string) {
	p.removePodCgroup()
	p.mu.Lock()
	p.ended = true
	p.disarmDeadline()
	st := p.statusLocked()
	st.Phase, st.Message = corev1.PodFailed, msg
	p.final = st.DeepCopy()
	deliver := p.enqueueLocked(executor.Report{Status: st, Message: msg})
	p.mu.Unlock()
	p.deliver(deliver)
}

// finish reports the pod's end: Killed, Failed past its active deadline, or Succeeded
// when every container exited 0.
func (p *pod) finish() {
	p.removePodCgroup()
	p.mu.Lock()
	p.ended = true
	p.disarmDeadline()
	st := p.statusLocked()
	rep := executor.Report{Status: st, Killed: p.killed && !p.exceeded}
	switch {
	case p.exceeded:
		rep.Message = pastDeadlineLocked(&rep.Status)
	case !p.killed:
		rep.Status.Phase, rep.Message = endPhase(st.ContainerStatuses)
		rep.Status.Message = rep.Message
	}
	p.final = rep.Status.DeepCopy()
	if rep.Killed {
		p.final.Phase = corev1.PodFailed // its containers were stopped
	}
	deliver := p.enqueueLocked(rep)
	p.mu.Unlock()
	p.deliver(deliver)
}

// endPhase is the phase of a pod whose containers all ended with these statuses:
// Succeeded when every one exited 0, else Failed, saying which did not.
func endPhase(cs []corev1.ContainerStatus) (corev1.PodPhase, string) {
	phase, msg := corev1.PodSucceeded, ""
	for _, c := range cs {
		if t := c.State.Terminated; t == nil || t.ExitCode != 0 {
			phase = corev1.PodFailed
			if t != nil {
				msg = fmt.Sprintf("container %s exited with code %d", c.Name, t.ExitCode)
			}
		}
	}
	return phase, msg
}

// send reports the pod's current status while it runs.
func (p *pod) send(string) {
	p.mu.Lock()
	if p.ended {
		p.mu.Unlock()
		return
	}
	deliver := p.enqueueLocked(executor.Report{Status: p.statusLocked()})
	p.mu.Unlock()
	p.deliver(deliver)
}

// Reports go out one at a time, in the order their statuses were taken: a goroutine
// that takes a status while another is reporting (its update on its way to a slow
// agent) queues it for that one to report next, so that an older status never comes
// last and stays the pod's (Ready with a dead container).

// enqueueLocked queues a report and says whether the caller is to deliver the queue:
// no other goroutine is delivering it. Under p.mu, with the status just taken.
func (p *pod) enqueueLocked(rep executor.Report) (deliver bool) {
	p.queued = append(p.queued, rep)
	if p.delivering {
		return false
	}
	p.delivering = true
	return true
}

// deliver reports the queued reports, in order, until none is left, when told to by
// enqueueLocked.
func (p *pod) deliver(ok bool) {
	if !ok {
		return
	}
	for {
		p.mu.Lock()
		if len(p.queued) == 0 {
			p.delivering = false
			p.mu.Unlock()
			return
		}
		next := p.queued[0]
		p.queued = p.queued[1:]
		p.mu.Unlock()
		p.report(next)
	}
}

// statusLocked builds the PodStatus from the containers.
func (p *pod) statusLocked() corev1.PodStatus {
	st := corev1.PodStatus{Phase: corev1.PodPending, HostIP: p.rt.HostIP, PodIP: p.rt.HostIP, StartTime: &p.started}
	if p.rt.HostIP != "" {
		st.HostIPs = []corev1.HostIP{{IP: p.rt.HostIP}}
		st.PodIPs = []corev1.PodIP{{IP: p.rt.HostIP}}
	}
	initDone, ready := p.initialized, p.initialized
	for _, c := range p.inits {
		st.InitContainerStatuses = append(st.InitContainerStatuses, c.status)
		if isSidecar(&c.spec) && !c.status.Ready {
			ready = false
		}
	}
	anyRunning := false
	for _, c := range p.mains {
		st.ContainerStatuses = append(st.ContainerStatuses, c.status)
		if c.status.State.Running != nil {
			anyRunning = true
		}
		if !c.status.Ready {
			ready = false
		}
	}
	if initDone && (anyRunning || restarting(p.mains) || allStarted(p.mains)) {
		st.Phase = corev1.PodRunning
	}
	cond := func(t corev1.PodConditionType, ok bool) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		return corev1.PodCondition{Type: t, Status: s}
	}
	st.Conditions = []corev1.PodCondition{cond(corev1.PodInitialized, initDone), cond(corev1.ContainersReady, ready), cond(corev1.PodReady, ready)}
	if c, ok := p.limits.condition(); ok {
		st.Conditions = append(st.Conditions, c)
	}
	return st
}

// allStarted says whether every container has started at least once. A pod whose
// containers all started stays Running, as a kubelet has it (getPhase), while they
// stop: killed, or ended before the pod's end is reported. Pending is for a pod with a
// container that never started.
func allStarted(cs []*container) bool {
	for _, c := range cs {
		if c.status.State.Running == nil && c.status.State.Terminated == nil && c.status.LastTerminationState.Terminated == nil {
			return false
		}
	}
	return len(cs) > 0
}

func restarting(cs []*container) bool {
	for _, c := range cs {
		if c.status.State.Waiting != nil && c.status.RestartCount > 0 {
			return true
		}
	}
	return false
}
