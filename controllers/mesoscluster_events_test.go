package controllers

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
)

// A cluster's warnings are events too, as README says: each time Degraded turns True or
// changes its reason, once, not at every pass while it stays. A Degraded that says what
// Subscribed says (the framework cannot subscribe) is the Subscribed event's, and not
// told twice. Before, only Subscribed's changes were events, and a cluster Degraded
// while subscribed (a failover timeout that Mesos kills every task after at the next
// manager restart, credentials sent in the clear) had none.
func TestDegradedWarningsAreEvents(t *testing.T) {
	type cond struct {
		ok          bool
		reason, msg string
	}
	subscribed := cond{true, ReasonSubscribed, "Subscribed to m as framework fw-1"}
	healthy := cond{false, ReasonAsExpected, "The framework is subscribed"}
	ctx := context.Background()
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c", Generation: 1}}
	c := clusterAPI(t, mc)
	rec := events.NewFakeRecorder(10)
	r := &MesosClusterReconciler{Client: c, Recorder: rec}
	for i, step := range []struct {
		subscribed, degraded cond
		want                 []string
	}{
		{subscribed, healthy, []string{"Normal Subscribed Subscribed to m as framework fw-1"}},
		{subscribed, cond{true, ReasonShortFailoverTimeout, "failoverTimeout is 30s"}, []string{"Warning ShortFailoverTimeout failoverTimeout is 30s"}},
		// The same warning again, in other words: no new event.
		{subscribed, cond{true, ReasonShortFailoverTimeout, "failoverTimeout is 20s"}, nil},
		{subscribed, cond{true, ReasonPlaintextCredentials, "credentials in the clear"}, []string{"Warning PlaintextCredentials credentials in the clear"}},
		// Told by the Subscribed event alone.
		{cond{false, framework.ReasonMasterUnreachable, "no master"}, cond{true, framework.ReasonMasterUnreachable, "no master"},
			[]string{"Warning MasterUnreachable no master"}},
		{cond{false, ReasonConnecting, "Connecting"}, cond{true, ReasonTeardownPending, "Waiting to reach the master"},
			[]string{"Warning TeardownPending Waiting to reach the master"}},
		// A recovery is the Subscribed event's; Degraded False is no warning.
		{subscribed, healthy, []string{"Normal Subscribed Subscribed to m as framework fw-1"}},
	} {
		if err := c.Get(ctx, client.ObjectKeyFromObject(mc), mc); err != nil {
			t.Fatal(err)
		}
		st := mc.Status.DeepCopy()
		setCondition(st, 1, mesosv1alpha1.ConditionSubscribed, step.subscribed.ok, step.subscribed.reason, step.subscribed.msg)
		setCondition(st, 1, mesosv1alpha1.ConditionDegraded, step.degraded.ok, step.degraded.reason, step.degraded.msg)
		if err := r.writeStatus(ctx, mc, st); err != nil {
			t.Fatal(err)
		}
		if got := drain(rec); fmt.Sprint(got) != fmt.Sprint(step.want) {
			t.Errorf("step %d (Subscribed %s, Degraded %s): events %q, want %q", i, step.subscribed.reason, step.degraded.reason, got, step.want)
		}
	}
}

// drain takes the events recorded so far.
func drain(rec *events.FakeRecorder) []string {
	var got []string
	for {
		select {
		case e := <-rec.Events:
			got = append(got, e)
		default:
			return got
		}
	}
}
