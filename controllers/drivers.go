package controllers

import (
	"context"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
)

// Drivers holds the running framework drivers, one per MesosCluster, and wakes the
// controllers that listen when a driver's status changes.
type Drivers struct {
	mu         sync.Mutex
	m          map[string]runningDriver
	schedulers map[string]*PodScheduler
	listeners  []chan event.GenericEvent
}

// Scheduler returns the pod scheduler of a cluster, or nil before the cluster first
// started a driver.
func (d *Drivers) Scheduler(name string) *PodScheduler {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.schedulers[name]
}

// ensureScheduler returns the cluster's scheduler, making it with mk the first time. A
// scheduler outlives driver restarts: its queue is kept.
func (d *Drivers) ensureScheduler(name string, mk func() *PodScheduler) *PodScheduler {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.schedulers[name]; ok {
		return s
	}
	if d.schedulers == nil {
		d.schedulers = map[string]*PodScheduler{}
	}
	s := mk()
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.Start(ctx)
	d.schedulers[name] = s
	return s
}

// dropScheduler stops and forgets a deleted cluster's scheduler.
func (d *Drivers) dropScheduler(name string) {
	d.mu.Lock()
	s := d.schedulers[name]
	delete(d.schedulers, name)
	d.mu.Unlock()
	if s != nil && s.stop != nil {
		s.stop()
	}
}

type runningDriver struct {
	*framework.Driver
	hash string
}

// Get returns the running driver of a cluster, or nil.
func (d *Drivers) Get(name string) *framework.Driver {
	drv, _ := d.get(name)
	return drv
}

func (d *Drivers) get(name string) (*framework.Driver, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.m[name]
	if !ok {
		return nil, ""
	}
	return r.Driver, r.hash
}

func (d *Drivers) put(name string, drv *framework.Driver, hash string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]runningDriver{}
	}
	d.m[name] = runningDriver{Driver: drv, hash: hash}
}

func (d *Drivers) remove(name string) *framework.Driver {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.m[name]
	if !ok {
		return nil
	}
	delete(d.m, name)
	return r.Driver
}

// Listen returns a channel of wake-ups: one event naming a cluster whenever its driver's
// status changes. Call it before the manager starts.
func (d *Drivers) Listen() <-chan event.GenericEvent {
	d.mu.Lock()
	defer d.mu.Unlock()
	ch := make(chan event.GenericEvent, 1024)
	d.listeners = append(d.listeners, ch)
	return ch
}

// wake tells every listener that the named cluster's driver changed, without blocking:
// when a listener's queue is full its periodic resync catches up.
func (d *Drivers) wake(name string) {
	d.mu.Lock()
	listeners := d.listeners
	d.mu.Unlock()
	for _, ch := range listeners {
		ev := event.GenericEvent{Object: &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: name}}}
		select {
		case ch <- ev:
		default:
		}
	}
}

// StopAll stops every driver and scheduler, leaving the frameworks to fail over (for
// manager shutdown).
func (d *Drivers) StopAll() {
	d.mu.Lock()
	all, scheds := d.m, d.schedulers
	d.m, d.schedulers = nil, nil
	d.mu.Unlock()
	for _, r := range all {
		r.Stop()
	}
	for _, s := range scheds {
		if s.stop != nil {
			s.stop()
		}
	}
}
