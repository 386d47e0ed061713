package framework

import "time"

// SetReconciled records that the tasks were reconciled after a subscription; nothing
// when another subscription came since, or the framework is not subscribed.
func (d *Driver) SetReconciled(subscription uint64) {
	d.update(func(s *Status) {
		if s.Subscribed && s.Subscription == subscription && !s.Reconciled {
			s.Reconciled, s.ReconciledAt = true, time.Now()
		}
	})
}

// ReconciledSince is when Mesos had answered for the framework's tasks since it last
// subscribed (Status.ReconciledAt), without the copy of the agents Status makes; ok is
// false while it has not, or the framework is not subscribed.
func (d *Driver) ReconciledSince() (at time.Time, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status.ReconciledAt, d.status.Subscribed && d.status.Reconciled
}
