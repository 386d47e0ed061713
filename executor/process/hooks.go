package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// Lifecycle hooks and stopping a container, as the kubelet does them.
//
// postStart runs right after the container's process started; the container is
// reported Running once it completed, and one that fails stops the container (preStop
// first, as any stop) with FailedPostStartHook, its restart policy then applying.
// preStop runs before a container that is stopped (the pod killed, a failed liveness or
// startup probe, a failed postStart hook) gets SIGTERM, within the grace period, after
// which SIGKILL comes. Each handler runs as the container: exec as its exec probes do
// (its user, groups, environment, working directory and cgroup), httpGet against the
// host as HTTP probes (probehttp.go: a hook fails only when no answer comes, whatever
// its status, as the kubelet's), sleep for its seconds.

// defaultGrace is the kubelet's terminationGracePeriodSeconds default.
const defaultGrace = 30 * time.Second

// minimumGrace is the least time a container gets between SIGTERM and SIGKILL, however
// little of its grace period is left (its preStop hook took it, a later kill shortened
// it, it was 0): the kubelet's minimumGracePeriodInSeconds, which its killContainer
// applies after the preStop hook's time, "to avoid unnecessary SIGKILLs".
const minimumGrace = 2 * time.Second

func lifecycle(c *corev1.Container) corev1.Lifecycle {
	if c.Lifecycle == nil {
		return corev1.Lifecycle{}
	}
	return *c.Lifecycle
}

// grace is how long a container stopped by the kubelet gets: a liveness or startup
// probe's terminationGracePeriodSeconds, else its pod's, else 30 s.
func (p *pod) grace(pr *corev1.Probe) time.Duration {
	if pr != nil && pr.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pr.TerminationGracePeriodSeconds) * time.Second
	}
	if g := p.pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return defaultGrace
}

// stopContainer stops a running instance within grace: its preStop hook (once per
// instance), then SIGTERM to its process group, then SIGKILL when the grace period is
// over, or earlier when a kill of its pod shortens it (Kill), but never less than
// minimumGrace after SIGTERM; it returns once its process is gone. why, when set, is
// said in its Terminated state.
func (p *pod) stopContainer(in instance, grace time.Duration, why string) {
	p.stopAfter(in, grace, why, nil)
}

// stopAfter is stopContainer that waits, once the preStop hook is over, for each of
// after to be closed (the containers to end before it: stopInOrder) before SIGTERM,
// while the grace period lasts, as the kubelet's killContainer runs the hook before it
// waits for its turn (terminationOrdering.waitForTurn).
func (p *pod) stopAfter(in instance, grace time.Duration, why string, after []<-chan struct{}) {
	deadline := time.Now().Add(grace)
	p.mu.Lock()
	preStop := lifecycle(&in.c.spec).PreStop
	current := in.c.cmd == in.cmd
	if current && why != "" && in.c.stopWhy == "" {
		in.c.stopWhy = why
	}
	if !current || in.c.preStopped {
		preStop = nil
	} else {
		in.c.preStopped = true
	}
	p.mu.Unlock()
	if preStop != nil && grace > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			defer cancel()
			p.awaitUntil(deadline, time.Time{}, in.exited, ctx.Done())
		}()
		if err := p.runHook(ctx, in, preStop); err != nil {
			p.rt.Log.Info("preStop hook failed", "pod", p.name(), "container", in.c.spec.Name, "error", err.Error())
		}
		cancel()
	}
	for _, turn := range after {
		if !p.awaitUntil(deadline, time.Time{}, turn, in.exited) {
			break // the grace period is over
		}
	}
	signal(in.cmd, stopSignal(&in.c.spec))
	if p.awaitUntil(deadline, time.Now().Add(minimumGrace), in.exited, nil) {
		return
	}
	signal(in.cmd, syscall.SIGKILL)
	<-in.exited
}

// stopSignal is the signal that asks a container to end: its lifecycle's stopSignal
// (Kubernetes's ContainerStopSignals), else SIGTERM, as for a kubelet's container
// whose image names none.
func stopSignal(c *corev1.Container) syscall.Signal {
	if c.Lifecycle != nil && c.Lifecycle.StopSignal != nil {
		if s := unix.SignalNum(string(*c.Lifecycle.StopSignal)); s != 0 {
			return s
		}
	}
	return syscall.SIGTERM
}

// untilExit is ctx, ended too once exited is closed.
func untilExit(ctx context.Context, exited <-chan struct{}) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		select {
		case <-exited:
		case <-ctx.Done():
		}
	}()
	return ctx
}

// postStart runs the instance's postStart hook, if any, and reports it Running once the
// hook completed; it says whether it did (false: the hook failed, and the instance was
// stopped, or the process ended or the pod was killed meanwhile).
func (p *pod) postStart(in instance) bool {
	h := lifecycle(&in.c.spec).PostStart
	if h == nil {
		return true
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := p.runHook(untilExit(ctx, in.exited), in, h)
	if err == nil {
		p.mu.Lock()
		if in.c.cmd == in.cmd {
			in.c.runningLocked()
		}
		p.mu.Unlock()
		p.send("")
		return true
	}
	select {
	case <-in.exited:
		return false
	default:
	}
	if !p.isKilled() {
		p.stopContainer(in, p.grace(nil), "FailedPostStartHook: "+err.Error())
	}
	return false
}

// runHook runs a lifecycle handler for the instance until it completes or ctx ends.
func (p *pod) runHook(ctx context.Context, in instance, h *corev1.LifecycleHandler) error {
	c := &in.c.spec
	switch {
	case h.Exec != nil:
		out := &hookOutput{}
		wait, err := execPipes(ctx, in.l.probe(h.Exec.Command), nil, out, out)
		if err == nil {
			err = wait()
		}
		if err != nil {
			return fmt.Errorf("Exec lifecycle hook (%v) for Container %q in Pod %q failed - error: %v, message: %q", h.Exec.Command, c.Name, p.name(), err, out.String()) //nolint:staticcheck // the kubelet's message
		}
		return nil
	case h.HTTPGet != nil:
		err := httpHook(ctx, h.HTTPGet, c, p.ip())
		if err != nil {
			return fmt.Errorf("HTTP lifecycle hook (%s) for Container %q in Pod %q failed - error: %v", h.HTTPGet.Path, c.Name, p.name(), err) //nolint:staticcheck // the kubelet's message
		}
		return nil
	case h.Sleep != nil:
		t := time.NewTimer(time.Duration(h.Sleep.Seconds) * time.Second)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("Sleep lifecycle hook (%d) for Container %q in Pod %q failed - error: container terminated before sleep hook finished", h.Sleep.Seconds, c.Name, p.name()) //nolint:staticcheck // the kubelet's message
		}
	}
	return errors.New("the lifecycle handler names no action")
}

// httpHook makes an httpGet hook's request: it fails when no answer comes.
func httpHook(ctx context.Context, get *corev1.HTTPGetAction, c *corev1.Container, podIP string) error {
	_, err := doGet(ctx, get, c, podIP, "lifecycle")
	return err
}

// hookOutput keeps the first maxProbeBody bytes an exec hook writes, for its message.
type hookOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *hookOutput) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if room := maxProbeBody - o.buf.Len(); room > 0 {
		o.buf.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}

func (o *hookOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}
