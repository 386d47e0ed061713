package scheduler

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
)

// Registry holds what runs for each MesosCluster: its framework driver (with the hash
// of the config it runs with) and its scheduler. The MesosCluster reconciler starts and
// stops them; the other reconcilers read them. It wakes the reconcilers that listen when
// a driver's status changes. Make one with NewRegistry and hand it to every reconciler.
type Registry struct {
	// AnswerSettle is how long after the reconciliation counts as answered the
	// MesosTasks are taken to say it (AnsweredFor): an answer that a task ended is held
	// back up to the workers' starting grace before it is written (worker.holdAnswer),
	// for the agent's own update. Zero: twice DefaultStartingGrace; negative: none.
	AnswerSettle time.Duration

	mu         sync.Mutex
	drivers    map[string]runningDriver
	schedulers map[string]*Scheduler
	listeners  []listener
}

// listener is a channel of wake-ups; drivers: of its drivers' changes only (ListenDrivers).
type listener struct {
	ch      chan event.GenericEvent
	drivers bool
}

type runningDriver struct {
	*framework.Driver
	hash string
}

// NewRegistry makes an empty registry.
func NewRegistry() *Registry {
	return &Registry{drivers: map[string]runningDriver{}, schedulers: map[string]*Scheduler{}}
}

// Scheduler returns the scheduler of a cluster, or nil before the cluster first started
// a driver.
func (r *Registry) Scheduler(cluster string) *Scheduler {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.schedulers[cluster]
}

// EnsureScheduler returns the cluster's scheduler, making and starting it with mk the
// first time. A scheduler outlives driver restarts: its queue is kept.
func (r *Registry) EnsureScheduler(cluster string, mk func() *Scheduler) *Scheduler {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.schedulers[cluster]; ok {
		return s
	}
	s := mk()
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.Start(ctx)
	r.schedulers[cluster] = s
	return s
}

// PodGone tells every cluster's scheduler that a pod is gone (Scheduler.PodGone).
func (r *Registry) PodGone(ctx context.Context, pod types.NamespacedName) {
	r.mu.Lock()
	schedulers := make([]*Scheduler, 0, len(r.schedulers))
	for _, s := range r.schedulers {
		schedulers = append(schedulers, s)
	}
	r.mu.Unlock()
	for _, s := range schedulers {
		s.PodGone(ctx, pod)
	}
}

// DropScheduler stops and forgets a deleted cluster's scheduler.
func (r *Registry) DropScheduler(cluster string) {
	r.mu.Lock()
	s := r.schedulers[cluster]
	delete(r.schedulers, cluster)
	r.mu.Unlock()
	if s != nil && s.stop != nil {
		s.stop()
	}
}

// Driver returns the running driver of a cluster, or nil.
func (r *Registry) Driver(cluster string) *framework.Driver {
	d, _ := r.DriverAndHash(cluster)
	return d
}

// AnsweredFor is how long a cluster's MesosTasks have said what Mesos answered for its
// tasks since the framework last subscribed: since the reconciliation was answered
// (framework.Driver.ReconciledSince), less AnswerSettle; ok is false while it was not,
// or no framework is subscribed.
func (r *Registry) AnsweredFor(cluster string) (time.Duration, bool) {
	d := r.Driver(cluster)
	if d == nil {
		return 0, false
	}
	at, ok := d.ReconciledSince()
	settle := r.AnswerSettle
	switch {
	case settle == 0:
		settle = 2 * DefaultStartingGrace
	case settle < 0:
		settle = 0
	}
	return time.Since(at) - settle, ok
}

// DriverAndHash returns the running driver of a cluster and the hash of its config.
func (r *Registry) DriverAndHash(cluster string) (*framework.Driver, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.drivers[cluster]
	if !ok {
		return nil, ""
	}
	return d.Driver, d.hash
}

// PutDriver records the running driver of a cluster and the hash of its config.
func (r *Registry) PutDriver(cluster string, d *framework.Driver, hash string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drivers[cluster] = runningDriver{Driver: d, hash: hash}
}

// StopDriver stops and forgets a cluster's driver, if it runs, and wakes the listeners.
func (r *Registry) StopDriver(cluster string) {
	r.mu.Lock()
	d, ok := r.drivers[cluster]
	delete(r.drivers, cluster)
	r.mu.Unlock()
	if ok {
		d.Stop()
		r.WakeDriver(cluster)
	}
}

// Listen returns a channel of wake-ups: one event naming a cluster whenever its driver's
// status changes (WakeDriver), or what its scheduler tells of its agents (Wake: an
// executor's Hello, its end). Call it before the manager starts.
func (r *Registry) Listen() <-chan event.GenericEvent {
	return r.listen(false)
}

// ListenDrivers is Listen of the drivers' changes alone (WakeDriver): for the reconcilers
// that walk a cluster's pods or tasks at each wake-up, which an agent's news changes
// nothing for. After a failover every executor says Hello to the new leader, one wake-up
// each: at 1,000 agents, a thousand walks over 10,000 pods and as many over the tasks.
func (r *Registry) ListenDrivers() <-chan event.GenericEvent {
	return r.listen(true)
}

func (r *Registry) listen(drivers bool) <-chan event.GenericEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan event.GenericEvent, 1024)
	r.listeners = append(r.listeners, listener{ch: ch, drivers: drivers})
	return ch
}

// WakeDriver tells every listener that the named cluster's driver changed (subscribed,
// disconnected, reconciled, stopped).
func (r *Registry) WakeDriver(cluster string) { r.wake(cluster, true) }

// Wake tells the listeners of all wake-ups (Listen) that the named cluster's scheduler
// has news of its agents.
func (r *Registry) Wake(cluster string) { r.wake(cluster, false) }

// wake sends a wake-up to the listeners it is for, without blocking: when a listener's
// queue is full its periodic resync catches up.
func (r *Registry) wake(cluster string, driver bool) {
	r.mu.Lock()
	listeners := r.listeners
	r.mu.Unlock()
	for _, l := range listeners {
		if l.drivers && !driver {
			continue
		}
		ev := event.GenericEvent{Object: &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: cluster}}}
		select {
		case l.ch <- ev:
		default:
		}
	}
}

// Start waits for the manager to stop (or lose leadership), then stops every driver and
// scheduler, leaving the frameworks to fail over. Add the registry to the manager.
func (r *Registry) Start(ctx context.Context) error {
	<-ctx.Done()
	r.StopAll()
	return nil
}

// StopAll stops every driver and scheduler, leaving the frameworks to fail over.
func (r *Registry) StopAll() {
	r.mu.Lock()
	drivers, scheds := r.drivers, r.schedulers
	r.drivers, r.schedulers = map[string]runningDriver{}, map[string]*Scheduler{}
	r.mu.Unlock()
	for _, d := range drivers {
		d.Stop()
	}
	for _, s := range scheds {
		if s.stop != nil {
			s.stop()
		}
	}
}
