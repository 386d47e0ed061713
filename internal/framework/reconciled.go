package framework

// SetReconciled records that the tasks were reconciled after a subscription; nothing
// when another subscription came since, or the framework is not subscribed.
func (d *Driver) SetReconciled(subscription uint64) {
	d.update(func(s *Status) {
		if s.Subscribed && s.Subscription == subscription {
			s.Reconciled = true
		}
	})
}

// Reconciled says whether the framework is subscribed and Mesos answered for its tasks
// since (Status.Reconciled), without the copy of the agents Status makes.
func (d *Driver) Reconciled() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status.Subscribed && d.status.Reconciled
}
