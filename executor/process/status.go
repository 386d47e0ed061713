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
	st := p.statusLocked()
	st.Phase, st.Message = corev1.PodFailed, msg
	p.final = st.DeepCopy()
	p.mu.Unlock()
	p.report(executor.Report{Status: st, Message: msg})
}

// finish reports the pod's end: Killed, or Succeeded when every container exited 0.
func (p *pod) finish() {
	p.removePodCgroup()
	p.mu.Lock()
	p.ended = true
	st := p.statusLocked()
	killed := p.killed
	p.mu.Unlock()
	if killed {
		p.mu.Lock()
		p.final = st.DeepCopy()
		p.final.Phase = corev1.PodFailed // its containers were stopped
		p.mu.Unlock()
		p.report(executor.Report{Status: st, Killed: true})
		return
	}
	st.Phase = corev1.PodSucceeded
	msg := ""
	for _, c := range st.ContainerStatuses {
		if t := c.State.Terminated; t == nil || t.ExitCode != 0 {
			st.Phase = corev1.PodFailed
			if t != nil {
				msg = fmt.Sprintf("container %s exited with code %d", c.Name, t.ExitCode)
			}
		}
	}
	st.Message = msg
	p.mu.Lock()
	p.final = st.DeepCopy()
	p.mu.Unlock()
	p.report(executor.Report{Status: st, Message: msg})
}

// send reports the pod's current status while it runs.
func (p *pod) send(string) {
	p.mu.Lock()
	if p.ended {
		p.mu.Unlock()
		return
	}
	st := p.statusLocked()
	p.mu.Unlock()
	p.report(executor.Report{Status: st})
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
	if initDone && (anyRunning || restarting(p.mains)) {
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

func restarting(cs []*container) bool {
	for _, c := range cs {
		if c.status.State.Waiting != nil && c.status.RestartCount > 0 {
			return true
		}
	}
	return false
}
