package process

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probe runs an instance's probes while it runs, as the kubelet: its startup probe
// first, when it has one, during which the others do not run and it is not Started;
// once that succeeded, it is Started and its readiness and liveness probes run:
// readiness sets its Ready, a failed liveness probe stops it (its restart policy then
// applies), as does a startup probe that failed failureThreshold times. Each probe's
// initialDelaySeconds counts from the container's start, as the kubelet's prober
// counts it (worker.go: from the container's Running startedAt): its postStart hook and
// startup probe hold the probes back while they last, and do not add to the delay. Exec
// probes run as the container. The returned func stops them.
func (p *pod) probe(in instance) func() {
	ctx, cancel := context.WithCancel(context.Background())
	c := in.c
	p.mu.Lock()
	from := c.startedAt.Time // the instance's: the next starts once its probes stopped
	p.mu.Unlock()
	go func() {
		if pr := c.spec.StartupProbe; pr != nil && !p.startup(ctx, in, pr, from) {
			return
		}
		if pr := c.spec.ReadinessProbe; pr != nil {
			go p.loop(ctx, c, in.l, pr, from, func(err error) bool {
				p.setReady(in, err == nil)
				return false
			})
		}
		if pr := c.spec.LivenessProbe; pr != nil {
			go p.loop(ctx, c, in.l, pr, from, func(err error) bool {
				if err == nil {
					return false
				}
				p.probeStop(in, pr, "liveness", err)
				return true
			})
		}
	}()
	return cancel
}

// startup runs the instance's startup probe until it succeeds, and says whether it did:
// the container is Started then (and Ready without a readiness probe). After
// failureThreshold failures in a row it stops the container instead. from is when the
// container started.
func (p *pod) startup(ctx context.Context, in instance, pr *corev1.Probe, from time.Time) bool {
	started := false
	p.loop(ctx, in.c, in.l, pr, from, func(err error) bool {
		if err != nil {
			p.probeStop(in, pr, "startup", err)
			return true
		}
		started = true
		p.mu.Lock()
		if in.c.cmd == in.cmd && in.c.status.State.Running != nil {
			in.c.markStarted()
			in.c.status.Ready = in.c.spec.ReadinessProbe == nil
		}
		p.mu.Unlock()
		p.send("")
		return true
	})
	return started
}

// probeStop stops an instance whose liveness or startup probe pr failed, with the
// probe's grace period, marked so that its pod restarts it unless its restartPolicy is
// Never (restarts), and saying why. A container being stopped already (its pod killed,
// or a sidecar as its pod's other containers ended) is left to that stop, as the
// kubelet stops a terminating pod's liveness and startup probes: a program that stops
// serving once it is asked to end would otherwise fail its probe, and get a second
// SIGTERM, and perhaps its SIGKILL early, and a probe's failure as its end.
func (p *pod) probeStop(in instance, pr *corev1.Probe, kind string, err error) {
	if p.isKilled() || (isSidecar(&in.c.spec) && p.sidecarsStopping()) {
		return
	}
	p.mu.Lock()
	if in.c.cmd == in.cmd {
		in.c.probeStopped = true
	}
	p.mu.Unlock()
	restart := p.pod.Spec.RestartPolicy != corev1.RestartPolicyNever || isSidecar(&in.c.spec)
	p.stopContainer(in, p.grace(pr), probeFailed(in.c, kind, err, restart))
}

// probeFailed is why a probe stopped a container, in the kubelet's words: ", will be
// restarted" when it will.
func probeFailed(c *container, kind string, err error, restart bool) string {
	will := ""
	if restart {
		will = ", will be restarted"
	}
	return fmt.Sprintf("Container %s failed %s probe%s: %v", c.spec.Name, kind, will, err)
}

func (p *pod) setReady(in instance, ok bool) {
	p.mu.Lock()
	changed := in.c.cmd == in.cmd && in.c.status.Ready != ok && in.c.status.State.Running != nil
	if changed {
		in.c.status.Ready = ok
	}
	p.mu.Unlock()
	if changed {
		p.send("")
	}
}

// loop probes every period, the first time initialDelaySeconds after from (the
// container's start) or at once if that has passed, and calls result once the
// thresholds are met (nil: success, else the last failure), until result says to stop
// or ctx ends.
func (p *pod) loop(ctx context.Context, c *container, l *launch, pr *corev1.Probe, from time.Time, result func(error) (stop bool)) {
	period := time.Duration(max(pr.PeriodSeconds, 1)) * time.Second
	if pr.PeriodSeconds == 0 {
		period = 10 * time.Second
	}
	failures, successes := int32(0), int32(0)
	failThreshold, successThreshold := max(pr.FailureThreshold, 1), max(pr.SuccessThreshold, 1)
	if pr.FailureThreshold == 0 {
		failThreshold = 3
	}
	select {
	case <-time.After(time.Until(from.Add(time.Duration(pr.InitialDelaySeconds) * time.Second))):
	case <-ctx.Done():
		return
	}
	for {
		err := p.check(ctx, c, l, pr)
		if err == nil {
			successes, failures = successes+1, 0
			if successes >= successThreshold && result(nil) {
				return
			}
		} else {
			failures, successes = failures+1, 0
			if failures >= failThreshold && (ctx.Err() != nil || result(err)) {
				return
			}
		}
		select {
		case <-time.After(period):
		case <-ctx.Done():
			return
		}
	}
}

// check runs one probe: exec (as the container, with its environment, cookie included,
// so that the probe dies with it), HTTP GET or TCP, against the pod's IP where it names
// no host (probeHost).
func (p *pod) check(ctx context.Context, c *container, l *launch, pr *corev1.Probe) error {
	timeout := time.Duration(max(pr.TimeoutSeconds, 1)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case pr.Exec != nil && len(pr.Exec.Command) > 0:
		cmd, err := startLaunch(ctx, l.probe(pr.Exec.Command), stdio{}, false)
		if err != nil {
			return err
		}
		return cmd.Wait()
	case pr.HTTPGet != nil:
		return httpGet(ctx, pr.HTTPGet, &c.spec, p.ip(), "probe")
	case pr.TCPSocket != nil:
		port, err := portOf(pr.TCPSocket.Port, &c.spec)
		if err != nil {
			return err
		}
		host := probeHost(pr.TCPSocket.Host, p.ip())
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	}
	return fmt.Errorf("probe has no handler")
}

func portOf(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("container %s has no port named %s", c.Name, p.StrVal)
}

// checkProbes refuses a pod with a gRPC probe, which the runtime does not run (it would
// fail every time, and stop its container), naming the field.
func checkProbes(p *corev1.Pod) error {
	for _, cs := range []struct {
		field string
		ctrs  []corev1.Container
	}{{"spec.initContainers", p.Spec.InitContainers}, {"spec.containers", p.Spec.Containers}} {
		for i, c := range cs.ctrs {
			for _, pr := range []struct {
				name  string
				probe *corev1.Probe
			}{{"startupProbe", c.StartupProbe}, {"readinessProbe", c.ReadinessProbe}, {"livenessProbe", c.LivenessProbe}} {
				if pr.probe != nil && pr.probe.GRPC != nil {
					return fmt.Errorf("%s[%d].%s.grpc: the process runtime runs exec, httpGet and tcpSocket probes, not gRPC ones", cs.field, i, pr.name)
				}
			}
		}
	}
	return nil
}
