package process

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probe runs a container's readiness and liveness probes while it runs: readiness sets
// the container's Ready, a failed liveness probe kills the container (its restart policy
// then applies). Exec probes run as the container (l). The returned func stops them.
func (p *pod) probe(c *container, l *launch) func() {
	ctx, cancel := context.WithCancel(context.Background())
	if pr := c.spec.ReadinessProbe; pr != nil {
		go p.loop(ctx, c, l, pr, func(ok bool) {
			p.mu.Lock()
			changed := c.status.Ready != ok && c.status.State.Running != nil
			if changed {
				c.status.Ready = ok
			}
			p.mu.Unlock()
			if changed {
				p.send("")
			}
		})
	}
	if pr := c.spec.LivenessProbe; pr != nil {
		go p.loop(ctx, c, l, pr, func(ok bool) {
			if !ok {
				signal(c.cmd, syscall.SIGKILL)
			}
		})
	}
	return cancel
}

// loop probes every period and reports a result once the thresholds are met.
func (p *pod) loop(ctx context.Context, c *container, l *launch, pr *corev1.Probe, result func(bool)) {
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
	case <-time.After(time.Duration(pr.InitialDelaySeconds) * time.Second):
	case <-ctx.Done():
		return
	}
	for {
		err := p.check(ctx, c, l, pr)
		if err == nil {
			successes, failures = successes+1, 0
			if successes >= successThreshold {
				result(true)
			}
		} else {
			failures, successes = failures+1, 0
			if failures >= failThreshold {
				result(false)
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
// so that the probe dies with it), HTTP GET or TCP, against the host (processes share
// its network).
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
		return httpGet(ctx, pr.HTTPGet, &c.spec, "probe")
	case pr.TCPSocket != nil:
		port, err := portOf(pr.TCPSocket.Port, &c.spec)
		if err != nil {
			return err
		}
		host := pr.TCPSocket.Host
		if host == "" {
			host = "127.0.0.1"
		}
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
