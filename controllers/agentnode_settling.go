package controllers

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/internal/framework"
)

// outageGrace is how long a framework that had subscribed may be without a subscription
// before its Nodes say that the master is unreachable (outage). A manager that has just
// begun to lead subscribes within a moment, as a framework does again after the master
// failed over to a standby: marked, each of 1,000 Nodes was written twice (unreachable,
// then reachable again) while the new subscription's tasks were being reconciled. Their
// Leases are renewed meanwhile (outage, brief).
const outageGrace = 5 * time.Second

// unsubscribedSince is when a pass first found the cluster's framework without a
// subscription, this one included; forgotten once it is subscribed, or the cluster gone
// (subscribedAgain).
func (r *AgentNodeReconciler) unsubscribedSince(cluster string, now time.Time) time.Time {
	since, _ := r.unsubscribed.LoadOrStore(cluster, now)
	return since.(time.Time)
}

func (r *AgentNodeReconciler) subscribedAgain(cluster string) {
	r.unsubscribed.Delete(cluster)
}

// renewAge is how old a pass lets a Node Lease get before it renews it: a quarter of its
// duration, as a kubelet renews its own, or three eighths (15 s of 40 s) while the
// framework is settling: subscribed again with its tasks not all reconciled yet, or in
// the outageGrace. A new leader, or a master failover, otherwise renewed most of 1,000
// Leases while Mesos's answers for the tasks were being written, and the round took
// twice as long. A pass comes within a quarter of the duration after the last one and
// lasts an eighth of it (nodePace), so a Lease is at most three quarters of its duration
// old when it is renewed.
func (r *AgentNodeReconciler) renewAge(status framework.Status) time.Duration {
	if !status.Subscribed || !status.Reconciled {
		return r.settlingAge()
	}
	return r.leaseDuration() / 4
}

// settlingAge is the age at which a pass renews a Node Lease while the framework is
// settling (renewAge).
func (r *AgentNodeReconciler) settlingAge() time.Duration {
	return r.leaseDuration() * 3 / 8
}

func nodeNames(nodes []corev1.Node) []string {
	names := make([]string, len(nodes))
	for i := range nodes {
		names[i] = nodes[i].Name
	}
	return names
}
