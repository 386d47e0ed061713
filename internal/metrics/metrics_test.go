package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/k8sm/k8sm/internal/framework"
)

// Cluster is the Observer the operator gives its framework Drivers. The check is here,
// not in metrics.go, so that this package does not depend on the Mesos layer (nor the
// Mesos layer on it).
var _ framework.Observer = Cluster("")

func TestClusterSeries(t *testing.T) {
	c := Cluster("t1")
	t.Cleanup(func() { Forget("t1") })
	c.OffersReceived(3)
	c.OffersDeclined(2)
	c.OfferRescinded()
	c.TasksLaunched(4)
	c.LaunchFailed(1)
	c.StatusUpdate("TASK_RUNNING")
	c.StatusUpdate("TASK_RUNNING")
	c.Subscribed(false)
	c.Disconnected("HeartbeatMissed")
	c.Subscribed(true)
	c.Agents(5)
	c.Tasks(map[string]int{"running": 2, "pending": 1})
	c.Placed(3 * time.Millisecond)
	c.Pending(7)
	c.OutageTolerationsWritten()
	c.NodeWriteFailed()

	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"offers received", testutil.ToFloat64(offersReceived.WithLabelValues("t1")), 3},
		{"offers declined", testutil.ToFloat64(offersDeclined.WithLabelValues("t1")), 2},
		{"offers rescinded", testutil.ToFloat64(offersRescinded.WithLabelValues("t1")), 1},
		{"launched", testutil.ToFloat64(tasksLaunched.WithLabelValues("t1")), 4},
		{"launch failures", testutil.ToFloat64(launchFailures.WithLabelValues("t1")), 1},
		{"updates", testutil.ToFloat64(statusUpdates.WithLabelValues("t1", "TASK_RUNNING")), 2},
		{"subscribed", testutil.ToFloat64(subscribed.WithLabelValues("t1")), 1},
		{"subscriptions", testutil.ToFloat64(subscriptions.WithLabelValues("t1")), 2},
		{"reconnects", testutil.ToFloat64(reconnects.WithLabelValues("t1")), 1},
		{"disconnects", testutil.ToFloat64(disconnects.WithLabelValues("t1", "HeartbeatMissed")), 1},
		{"agents", testutil.ToFloat64(agents.WithLabelValues("t1")), 5},
		{"running tasks", testutil.ToFloat64(tasks.WithLabelValues("t1", "running")), 2},
		{"killing tasks (absent → 0)", testutil.ToFloat64(tasks.WithLabelValues("t1", "killing")), 0},
		{"pending", testutil.ToFloat64(pendingTasks.WithLabelValues("t1")), 7},
		{"outage tolerations written", testutil.ToFloat64(outageTolerationsWritten.WithLabelValues("t1")), 1},
		{"node write failures", testutil.ToFloat64(nodeWriteFailures.WithLabelValues("t1")), 1},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if n := testutil.CollectAndCount(placementDuration, "k8sm_placement_duration_seconds"); n != 1 {
		t.Errorf("placement histogram series = %d, want 1", n)
	}

	c.Stopped()
	if v := testutil.ToFloat64(subscribed.WithLabelValues("t1")); v != 0 {
		t.Errorf("subscribed after stop = %v, want 0", v)
	}
}

func TestForgetDropsOnlyThatCluster(t *testing.T) {
	Cluster("gone").TasksLaunched(1)
	Cluster("gone").StatusUpdate("TASK_FAILED")
	Cluster("kept").TasksLaunched(1)
	Forget("gone")
	if n := testutil.CollectAndCount(tasksLaunched); n != 1 {
		t.Errorf("launched series after Forget = %d, want 1 (only the kept cluster)", n)
	}
	if n := testutil.CollectAndCount(statusUpdates); n != 0 {
		t.Errorf("update series after Forget = %d, want 0", n)
	}
}

// A cluster's series exist, at 0, from Init on: a query over a series that does not
// exist yet finds nothing (`a and rate(b[10m]) == 0` is empty while b is missing), and
// increase() does not count a series' first sample. Only the series labelled by a state
// or by a reason Init was not given wait for their first event. Forget drops what Init
// made.
func TestInitMakesEverySeriesAtZero(t *testing.T) {
	c := Cluster("init")
	t.Cleanup(func() { Forget("init") })
	c.Init("FrameworkRemoved", "FrameworkTakenOver")
	for _, tc := range []struct {
		name string
		v    vec
		want int
	}{
		{"offers received", offersReceived, 1},
		{"offers declined", offersDeclined, 1},
		{"offers rescinded", offersRescinded, 1},
		{"launched", tasksLaunched, 1},
		{"launch failures", launchFailures, 1},
		{"subscribed", subscribed, 1},
		{"subscriptions", subscriptions, 1},
		{"reconnects", reconnects, 1},
		{"agents", agents, 1},
		{"tasks", tasks, len(TaskPhases)},
		{"placement", placementDuration, 1},
		{"offers held", offersHeld, 1},
		{"pending", pendingTasks, 1},
		{"node write failures", nodeWriteFailures, 1},
		{"outage tolerations written", outageTolerationsWritten, 1},
		{"updates (by state: none yet)", statusUpdates, 0},
		{"disconnects (by reason: those asked for)", disconnects, 2},
	} {
		if n := seriesOf(tc.v, "init"); n != tc.want {
			t.Errorf("%s: %d series, want %d", tc.name, n, tc.want)
		}
	}
	if v := testutil.ToFloat64(disconnects.WithLabelValues("init", "FrameworkRemoved")); v != 0 {
		t.Errorf("disconnects of an asked reason = %v, want 0", v)
	}
	if v := testutil.ToFloat64(subscribed.WithLabelValues("init")); v != 0 {
		t.Errorf("subscribed = %v, want 0", v)
	}

	// Init again keeps what was recorded since.
	c.TasksLaunched(2)
	c.Disconnected("FrameworkRemoved")
	c.Subscribed(true)
	c.Init("FrameworkRemoved", "FrameworkTakenOver")
	if v := testutil.ToFloat64(tasksLaunched.WithLabelValues("init")); v != 2 {
		t.Errorf("launched after a second Init = %v, want 2", v)
	}
	if v := testutil.ToFloat64(disconnects.WithLabelValues("init", "FrameworkRemoved")); v != 1 {
		t.Errorf("disconnects after a second Init = %v, want 1", v)
	}
	if v := testutil.ToFloat64(subscribed.WithLabelValues("init")); v != 1 {
		t.Errorf("subscribed after a second Init = %v, want 1", v)
	}

	Forget("init")
	for _, v := range all {
		if n := seriesOf(v, "init"); n != 0 {
			t.Errorf("%d series left after Forget", n)
		}
	}
}

// seriesOf counts the series of v that belong to cluster.
func seriesOf(v vec, cluster string) int {
	ch := make(chan prometheus.Metric, 64)
	go func() {
		v.Collect(ch)
		close(ch)
	}()
	n := 0
	for m := range ch {
		var out dto.Metric
		if err := m.Write(&out); err != nil {
			continue
		}
		for _, l := range out.GetLabel() {
			if l.GetName() == "cluster" && l.GetValue() == cluster {
				n++
			}
		}
	}
	return n
}
