// Package metrics holds the operator's Prometheus metrics. They are registered with
// controller-runtime's registry, so the manager's metrics endpoint serves them beside
// the controller and client metrics. Every series carries the MesosCluster's name in
// the "cluster" label; Forget drops a cluster's series when it goes away.
//
// docs/metrics.md describes each metric for the people who scrape them.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

const namespace = "k8sm"

var (
	offersReceived = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "offers_received_total",
		Help: "Resource offers received from Mesos.",
	}, []string{"cluster"})
	offersDeclined = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "offers_declined_total",
		Help: "Resource offers declined, because nothing pending fitted them or the operator was busy.",
	}, []string{"cluster"})
	offersRescinded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "offers_rescinded_total",
		Help: "Resource offers Mesos withdrew before they were used.",
	}, []string{"cluster"})
	tasksLaunched = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "tasks_launched_total",
		Help: "Pod tasks handed to Mesos in an ACCEPT with LAUNCH.",
	}, []string{"cluster"})
	launchFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "launch_failures_total",
		Help: "Pod tasks whose ACCEPT call failed; they wait for another offer.",
	}, []string{"cluster"})
	statusUpdates = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "task_status_updates_total",
		Help: "Task status updates received from Mesos, by task state (TASK_RUNNING, ...).",
	}, []string{"cluster", "state"})
	subscribed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "framework_subscribed",
		Help: "1 while the cluster's framework holds a subscription with the leading master, else 0.",
	}, []string{"cluster"})
	subscriptions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "framework_subscriptions_total",
		Help: "Subscriptions the master accepted, the first one included.",
	}, []string{"cluster"})
	reconnects = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "framework_reconnects_total",
		Help: "Subscriptions made again after one was lost or an attempt failed.",
	}, []string{"cluster"})
	disconnects = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "framework_disconnects_total",
		Help: "Subscriptions lost and attempts failed, by reason (MasterUnreachable, HeartbeatMissed, ...).",
	}, []string{"cluster", "reason"})
	agents = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "agents",
		Help: "Mesos agents the framework knows of.",
	}, []string{"cluster"})
	tasks = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "tasks",
		Help: "MesosTasks by phase group: pending, launching, running, killing, unreachable, terminated.",
	}, []string{"cluster", "phase"})
	placementDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "placement_duration_seconds",
		Help:    "Time to place the pending tasks on one batch of offers.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10), // 100µs .. 26s
	}, []string{"cluster"})
	offersHeld = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "offers_held",
		Help: "Offers held, while no pod waits, for the pods that come next (placement.offerHoldSeconds).",
	}, []string{"cluster"})
	pendingTasks = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "pending_tasks",
		Help: "Tasks waiting in the scheduler's queue for an offer that fits them.",
	}, []string{"cluster"})
	nodeWriteFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "agent_node_write_failures_total",
		Help: "Writes of an agent's Node or its Lease that failed; the next pass of the cluster's Nodes tries again.",
	}, []string{"cluster"})
	outageTolerationsWritten = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "outage_tolerations_written_total",
		Help: "Pods whose outage tolerations the manager wrote, because the API server had not given them as they were created (no outage tolerations admission policy, or it failed).",
	}, []string{"cluster"})
)

// mesosTasksCopied is a replica's, not a cluster's: it carries no cluster label.
var mesosTasksCopied = prometheus.NewGauge(prometheus.GaugeOpts{
	Namespace: namespace, Name: "mesostasks_copied",
	Help: "With the MesosTasks in memory, on a replica that does not lead: the MesosTasks of its copy of the leader's, which it starts from once it leads; -1 while it holds no whole copy (none taken yet, or it leads).",
})

// MesosTasksCopied sets how many MesosTasks this replica's copy of the leader's holds,
// -1 for none.
func MesosTasksCopied(n int) { mesosTasksCopied.Set(float64(n)) }

// vec is what every series family here is: a collector with per-cluster label values.
type vec interface {
	prometheus.Collector
	DeletePartialMatch(prometheus.Labels) int
}

var all = []vec{
	offersReceived, offersDeclined, offersRescinded, tasksLaunched, launchFailures,
	statusUpdates, subscribed, subscriptions, reconnects, disconnects, agents, tasks,
	placementDuration, pendingTasks, offersHeld, outageTolerationsWritten, nodeWriteFailures,
}

// perCluster are the families whose only label is the cluster's (Init).
var perCluster = []*prometheus.MetricVec{
	offersReceived.MetricVec, offersDeclined.MetricVec, offersRescinded.MetricVec, tasksLaunched.MetricVec,
	launchFailures.MetricVec, subscribed.MetricVec, subscriptions.MetricVec, reconnects.MetricVec, agents.MetricVec,
	placementDuration.MetricVec, pendingTasks.MetricVec, offersHeld.MetricVec, outageTolerationsWritten.MetricVec,
	nodeWriteFailures.MetricVec,
}

func init() {
	for _, v := range all {
		crmetrics.Registry.MustRegister(v)
	}
	mesosTasksCopied.Set(-1)
	crmetrics.Registry.MustRegister(mesosTasksCopied)
}

// TaskPhases are the values of the "phase" label of k8sm_tasks.
var TaskPhases = []string{"pending", "launching", "running", "killing", "unreachable", "terminated"}

// Cluster records the metrics of one MesosCluster.
type Cluster string

// Init makes the cluster's series, at 0: all but those labelled by a task state, and
// the disconnects of reasons other than disconnectReasons (those alerted on), which
// come with their first event. To PromQL a series that does not exist is no 0:
// `a > 0 and rate(b[10m]) == 0` finds nothing while b is missing, and increase() does
// not count a series' first sample, so an alert on the first launch failure, toleration
// write or takeover after a manager's start would miss it. Series that exist keep their
// values.
func (c Cluster) Init(disconnectReasons ...string) {
	for _, v := range perCluster {
		_, _ = v.GetMetricWithLabelValues(string(c))
	}
	for _, p := range TaskPhases {
		tasks.WithLabelValues(string(c), p)
	}
	for _, r := range disconnectReasons {
		disconnects.WithLabelValues(string(c), r)
	}
}

// OffersReceived counts offers that arrived.
func (c Cluster) OffersReceived(n int) { offersReceived.WithLabelValues(string(c)).Add(float64(n)) }

// OffersDeclined counts offers declined.
func (c Cluster) OffersDeclined(n int) { offersDeclined.WithLabelValues(string(c)).Add(float64(n)) }

// OfferRescinded counts an offer Mesos withdrew.
func (c Cluster) OfferRescinded() { offersRescinded.WithLabelValues(string(c)).Inc() }

// TasksLaunched counts tasks launched.
func (c Cluster) TasksLaunched(n int) { tasksLaunched.WithLabelValues(string(c)).Add(float64(n)) }

// LaunchFailed counts tasks whose launch call failed.
func (c Cluster) LaunchFailed(n int) { launchFailures.WithLabelValues(string(c)).Add(float64(n)) }

// StatusUpdate counts one task status update of the given state.
func (c Cluster) StatusUpdate(state string) { statusUpdates.WithLabelValues(string(c), state).Inc() }

// Subscribed records an accepted subscription; reconnect says one was held or tried before.
func (c Cluster) Subscribed(reconnect bool) {
	subscribed.WithLabelValues(string(c)).Set(1)
	subscriptions.WithLabelValues(string(c)).Inc()
	if reconnect {
		reconnects.WithLabelValues(string(c)).Inc()
	}
}

// Disconnected records a lost subscription or failed attempt.
func (c Cluster) Disconnected(reason string) {
	subscribed.WithLabelValues(string(c)).Set(0)
	if reason == "" {
		reason = "Unknown"
	}
	disconnects.WithLabelValues(string(c), reason).Inc()
}

// Stopped records that the connection was stopped on purpose.
func (c Cluster) Stopped() { c.NotSubscribed() }

// NotSubscribed records that the framework holds no subscription: its driver was just
// made, or none can run.
func (c Cluster) NotSubscribed() { subscribed.WithLabelValues(string(c)).Set(0) }

// Agents records how many agents the framework knows.
func (c Cluster) Agents(n int) { agents.WithLabelValues(string(c)).Set(float64(n)) }

// Tasks records the MesosTasks by phase group (keys from TaskPhases).
func (c Cluster) Tasks(byPhase map[string]int) {
	for _, p := range TaskPhases {
		tasks.WithLabelValues(string(c), p).Set(float64(byPhase[p]))
	}
}

// Placed records how long one placement pass took.
func (c Cluster) Placed(d time.Duration) {
	placementDuration.WithLabelValues(string(c)).Observe(d.Seconds())
}

// Pending records the length of the scheduler's queue.
func (c Cluster) Pending(n int) { pendingTasks.WithLabelValues(string(c)).Set(float64(n)) }

// OffersHeld records how many offers are held.
func (c Cluster) OffersHeld(n int) { offersHeld.WithLabelValues(string(c)).Set(float64(n)) }

// OutageTolerationsWritten counts a pod whose outage tolerations the manager wrote.
func (c Cluster) OutageTolerationsWritten() {
	outageTolerationsWritten.WithLabelValues(string(c)).Inc()
}

// NodeWriteFailed counts a write of an agent's Node or Lease that failed.
func (c Cluster) NodeWriteFailed() { nodeWriteFailures.WithLabelValues(string(c)).Inc() }

// Forget drops every series of the cluster, when it is deleted.
func Forget(cluster string) {
	for _, v := range all {
		v.DeletePartialMatch(prometheus.Labels{"cluster": cluster})
	}
}
