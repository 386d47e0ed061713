package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/mesossim"
	"github.com/k8sm/k8sm/internal/testenv"
)

// leaderLease is the manager's leader election Lease, as the bench runs it.
const leaderLease = "k8sm.mesos.k8sm.io"

// failover is how long k8sm took to come back from a fault, each time from the fault.
type failover struct {
	fault string
	// leader is when a standby replica took the Lease (a manager failover only).
	leader time.Duration
	// subscribed is when the master sent the framework SUBSCRIBED again.
	subscribed time.Duration
	// reconciled is when the MesosCluster said Reconciled again: Mesos answered for every
	// task the manager asked about (explicit reconciliation) and the answers were written.
	reconciled time.Duration
	err        error
}

func (f failover) String() string {
	if f.err != nil {
		return fmt.Sprintf("%s: %v", f.fault, f.err)
	}
	s := f.fault + ":"
	if f.leader > 0 {
		s += fmt.Sprintf(" standby leads after %s,", f.leader.Round(10*time.Millisecond))
	}
	return s + fmt.Sprintf(" subscribed after %s, every task reconciled after %s",
		f.subscribed.Round(10*time.Millisecond), f.reconciled.Round(10*time.Millisecond))
}

// subscriptions records when mesos-sim sends a framework SUBSCRIBED.
type subscriptions chan time.Time

// observer is the mesos-sim Observer that feeds it.
func (s subscriptions) observer() *mesossim.Observer {
	return &mesossim.Observer{Subscribed: func(string) {
		select {
		case s <- time.Now():
		default:
		}
	}}
}

// next is the first subscription after since.
func (s subscriptions) next(since time.Time, timeout time.Duration) (time.Time, error) {
	deadline := time.After(timeout)
	for {
		select {
		case t := <-s:
			if t.After(since) {
				return t, nil
			}
		case <-deadline:
			return time.Time{}, errors.New("the framework did not subscribe again")
		}
	}
}

// subscriptionAge is how long the subscription has run when the master fails over.
const subscriptionAge = 3 * time.Second

// measureFailovers kills the leading manager with SIGKILL while a warm standby waits,
// then fails the master over, and times both. It returns the manager that leads after.
func measureFailovers(ctx context.Context, c client.WithWatch, bin, kubeconfig string, sim *mesossim.Master, subs subscriptions, leader *benchManager) ([]failover, *benchManager) {
	standby, err := startManager(bin, kubeconfig, true, failoverProfile != "")
	if err != nil {
		return []failover{{fault: "manager kill -9", err: err}}, leader
	}
	if err := standby.waitReady(2 * time.Minute); err != nil {
		return []failover{{fault: "manager kill -9", err: err}}, standby
	}
	if standby.metricsAddr != "" {
		// With the MesosTasks in memory the standby keeps a copy of the leader's, which
		// it leads with: the kill comes once it holds one of every task.
		start := time.Now()
		if err := standby.waitCopied(ctx, c, 2*time.Minute); err != nil {
			return []failover{{fault: "manager kill -9", err: err}}, standby
		}
		fmt.Printf("bench: the standby holds a copy of the leader's MesosTasks %s after it was ready\n", time.Since(start).Round(10*time.Millisecond))
	}
	var profiled func()
	killed := timeFailover(ctx, c, subs, "manager kill -9 (leader election as deployed)", func() error {
		if err := leader.cmd.Process.Kill(); err != nil {
			return err
		}
		if standby.pprofAddr != "" {
			profiled = takeProfile("the standby's CPU profile from the kill", failoverProfile, func() error {
				return fetchTo(pprofURL(standby.pprofAddr, profileFor), failoverProfile)
			})
		}
		_ = leader.cmd.Wait()
		return nil
	}, true)
	if profiled != nil {
		profiled()
	}
	// The master fails over under a subscription that has run a while, as one does in
	// use, not under the one made a moment ago: the framework subscribes again at once
	// only after a subscription that lasted (framework.stableSubscription, 2 s).
	time.Sleep(subscriptionAge) // pacing, not an assertion
	master := timeFailover(ctx, c, subs, "master failover", func() error { sim.FailoverMaster(); return nil }, false)
	return []failover{killed, master}, standby
}

// timeFailover runs a fault and times what follows it: the Lease changing hands (when
// lease is set), the subscription, and the MesosCluster's Reconciled condition.
func timeFailover(ctx context.Context, c client.WithWatch, subs subscriptions, fault string, do func() error, lease bool) failover {
	f := failover{fault: fault}
	mc := &mesosv1alpha1.MesosCluster{}
	if f.err = c.Get(ctx, client.ObjectKey{Name: "bench"}, mc); f.err != nil {
		return f
	}
	holder := ""
	if lease {
		if holder, f.err = leaseHolder(ctx, c); f.err != nil {
			return f
		}
	}
	w, err := c.Watch(ctx, &mesosv1alpha1.MesosClusterList{}, client.MatchingFields{"metadata.name": "bench"},
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: mc.ResourceVersion}})
	if err != nil {
		f.err = err
		return f
	}
	defer w.Stop()
	reconciled := make(chan time.Time, 64)
	go func() {
		for ev := range w.ResultChan() {
			if m, ok := ev.Object.(*mesosv1alpha1.MesosCluster); ok && ev.Type == watch.Modified &&
				meta.IsStatusConditionTrue(m.Status.Conditions, mesosv1alpha1.ConditionReconciled) {
				reconciled <- time.Now()
			}
		}
	}()

	start := time.Now()
	if f.err = do(); f.err != nil {
		return f
	}
	if lease {
		led, err := leaseTaken(ctx, c, holder, 2*time.Minute)
		if err != nil {
			f.err = err
			return f
		}
		f.leader = led.Sub(start)
	}
	subAt, err := subs.next(start, 2*time.Minute)
	if err != nil {
		f.err = err
		return f
	}
	f.subscribed = subAt.Sub(start)
	deadline := time.After(5 * time.Minute)
	for {
		select {
		case t := <-reconciled:
			if t.After(subAt) {
				f.reconciled = t.Sub(start)
				return f
			}
		case <-deadline:
			f.err = errors.New("the cluster did not say Reconciled within 5 minutes")
			return f
		}
	}
}

// leaseHolder is who holds the manager's leader Lease.
func leaseHolder(ctx context.Context, c client.Client) (string, error) {
	l := &coordinationv1.Lease{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: testenv.ManagerNamespace, Name: leaderLease}, l); err != nil {
		return "", fmt.Errorf("reading the leader Lease: %w", err)
	}
	if l.Spec.HolderIdentity == nil {
		return "", nil
	}
	return *l.Spec.HolderIdentity, nil
}

// leaseTaken waits until another than holder holds the Lease, and says when it saw so.
func leaseTaken(ctx context.Context, c client.Client, holder string, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if h, err := leaseHolder(ctx, c); err == nil && h != "" && h != holder {
			return time.Now(), nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Time{}, errors.New("no standby took the leader Lease")
}

// waitReady waits for the manager's readiness probe, which passes once its caches
// synced.
func (m *benchManager) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + m.probeAddr + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the standby manager was not ready within %s (log: %s)", timeout, m.log.Name())
}

// waitCopied waits until the standby's copy of the leader's MesosTasks (its metric
// k8sm_mesostasks_copied) holds as many as the MesosCluster counts.
func (m *benchManager) waitCopied(ctx context.Context, c client.Client, timeout time.Duration) error {
	mc := &mesosv1alpha1.MesosCluster{}
	if err := c.Get(ctx, client.ObjectKey{Name: "bench"}, mc); err != nil {
		return err
	}
	want := mc.Status.Tasks.Running
	deadline := time.Now().Add(timeout)
	copied := -1.0
	for time.Now().Before(deadline) {
		copied = m.gauge("k8sm_mesostasks_copied")
		if copied >= float64(want) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the standby's copy holds %.0f MesosTasks after %s, not the %d running (log: %s)", copied, timeout, want, m.log.Name())
}

// gauge reads one unlabelled gauge from the manager's metrics, -1 if it cannot.
func (m *benchManager) gauge(name string) float64 {
	resp, err := http.Get("http://" + m.metricsAddr + "/metrics")
	if err != nil {
		return -1
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}
