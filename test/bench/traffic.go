package main

import (
	"maps"
	"sync"

	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/k8sm/k8sm/internal/mesossim"
)

// mesosTraffic counts the offers mesos-sim sends the framework and the calls it gets
// from it, to show what the framework costs the master per pod.
type mesosTraffic struct {
	mu     sync.Mutex
	counts map[string]float64
}

func newMesosTraffic() *mesosTraffic { return &mesosTraffic{counts: map[string]float64{}} }

// observe adds the counting to an observer.
func (t *mesosTraffic) observe(o *mesossim.Observer) *mesossim.Observer {
	o.Offered = func(_ string, n int) { t.add("offers", float64(n)) }
	o.Called = func(_ string, c scheduler.Call_Type) { t.add(c.String(), 1) }
	o.Connected = func() { t.add("connections", 1) }
	return o
}

func (t *mesosTraffic) add(k string, n float64) {
	t.mu.Lock()
	t.counts[k] += n
	t.mu.Unlock()
}

// snapshot is a copy of the counts so far.
func (t *mesosTraffic) snapshot() map[string]float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.counts)
}
