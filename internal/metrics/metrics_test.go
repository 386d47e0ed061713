package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

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
