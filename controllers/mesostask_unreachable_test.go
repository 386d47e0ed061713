package controllers

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// An unreachable task's pod is Failed with reason NodeLost UnreachableTimeout after
// Mesos marked its agent unreachable (status.unreachableSince), even when the MesosTask
// says it later: a record made again from a reconciliation's answer after a restart, or
// written again for another reason. Where Mesos did not say when, the timeout runs from
// the update that said so. Only once Mesos answered for the cluster's tasks since the
// framework subscribed: until then the MesosTask may be older than an outage its agent
// came back during (heard of from the reconciliation alone), and the pod waits.
func TestTheUnreachableTimeoutRunsFromMesossMarking(t *testing.T) {
	for _, tc := range []struct {
		name       string
		since      time.Duration // ago; 0: not said
		lastUpdate time.Duration // ago
		mesos      answered
		nodeLost   bool
	}{
		{"marked 10 minutes ago, recorded just now", 10 * time.Minute, time.Second, answeredSince, true},
		{"marked a minute ago, recorded just now", time.Minute, time.Second, answeredSince, false},
		{"marked a minute ago, recorded 10 minutes ago", time.Minute, 10 * time.Minute, answeredSince, false},
		{"not said when, recorded 10 minutes ago", 0, 10 * time.Minute, answeredSince, true},
		{"not said when, recorded just now", 0, time.Second, answeredSince, false},
		{"marked 10 minutes ago, Mesos not asked since the framework subscribed", 10 * time.Minute, 10 * time.Minute, notAnswered, false},
		{"marked 10 minutes ago, no framework subscribed", 10 * time.Minute, 10 * time.Minute, noFramework, false},
		// An answer that the task ended may be held back a few seconds, unwritten.
		{"marked 10 minutes ago, Mesos answered just now", 10 * time.Minute, 10 * time.Minute, answeredJustNow, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			mt := earlierTask(mesosv1alpha1.TaskPhaseUnreachable)
			mt.Spec.PodUID = "p"
			mt.Status.MesosState = "TASK_UNREACHABLE"
			mt.Status.LastUpdateTime = &metav1.Time{Time: now.Add(-tc.lastUpdate)}
			if tc.since > 0 {
				mt.Status.UnreachableSince = &metav1.Time{Time: now.Add(-tc.since)}
			}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0", UID: "p"},
				Spec:   corev1.PodSpec{SchedulerName: "mesos", NodeName: "mesos-c-agent-1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning}}
			c := podAPI(t, interceptor.Funcs{}, mt, pod, readyCluster())
			r := &MesosTaskReconciler{Client: c, Registry: registryOf(t, tc.mesos), Recorder: events.NewFakeRecorder(10)}

			res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(mt)})
			if err != nil {
				t.Fatal(err)
			}
			got := &corev1.Pod{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), got); err != nil {
				t.Fatal(err)
			}
			if lost := got.Status.Phase == corev1.PodFailed && got.Status.Reason == podtask.ReasonNodeLost; lost != tc.nodeLost {
				t.Fatalf("pod %s/%s, want NodeLost: %v", got.Status.Phase, got.Status.Reason, tc.nodeLost)
			}
			if !tc.nodeLost && (res.RequeueAfter <= 0 || res.RequeueAfter > 5*time.Minute) {
				t.Errorf("looked at again after %s, want within the 5 minutes' timeout", res.RequeueAfter)
			}
			if tc.mesos != answeredSince && res.RequeueAfter > unansweredRecheck {
				t.Errorf("looked at again after %s, want within %s while Mesos has not answered", res.RequeueAfter, unansweredRecheck)
			}
			if tc.mesos == answeredJustNow && res.RequeueAfter > justNowSettle+answerMargin {
				t.Errorf("looked at again after %s, want once the answers held back are written, within %s", res.RequeueAfter, justNowSettle)
			}
		})
	}
}

// answered is what Mesos said of a cluster's tasks since its framework subscribed.
type answered int

const (
	noFramework     answered = iota // no framework subscribed
	notAnswered                     // subscribed, the reconciliation not answered yet
	answeredJustNow                 // answered, its answers maybe held back yet
	answeredSince                   // subscribed, and Mesos answered for every task since
)

// justNowSettle is how long answers are held back for answeredJustNow.
const justNowSettle = 2 * time.Second

// registryOf is a Registry whose cluster c's framework (to a mesos-sim of one agent) is
// as a says.
func registryOf(t *testing.T, a answered) *scheduler.Registry {
	t.Helper()
	reg := scheduler.NewRegistry()
	if a == noFramework {
		return reg
	}
	_, d, fw := simTask(t, true)
	fw.awaitOffer(t) // subscribed
	if a >= answeredJustNow {
		d.SetReconciled(d.Subscription())
	}
	switch a {
	case answeredSince:
		reg.AnswerSettle = -1 // the answers held back written
	case answeredJustNow:
		reg.AnswerSettle = justNowSettle
	}
	reg.PutDriver("c", d, "")
	return reg
}
