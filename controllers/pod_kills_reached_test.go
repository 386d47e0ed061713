package controllers

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/mesossim"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// A pod deleted while Mesos cannot reach its task's agent has its task killed once the
// agent is back. Mesos answers a KILL of an unreachable task with TASK_UNREACHABLE and
// forgets it (Master::kill finds no such task: it reconciles; and the KILL it keeps for
// a disconnected agent goes with the agent once it is found unreachable), and an agent
// that registers again runs the task on (TASK_RUNNING, REASON_AGENT_REREGISTERED): the
// KILL goes again shortly, not only once the pod's grace period and killResend have
// passed since the KILL that reached nothing (an hour and more for a pod of a long grace
// period, its task running on meanwhile, not even told to stop). So it does when the
// KILL went while the MesosTask did not say yet that the agent was lost.
func TestAKillOfAnUnreachableTaskGoesAgainWhenItsAgentIsBack(t *testing.T) {
	for _, tc := range []struct {
		name string
		// phases are the MesosTask's at each pass before the agent is back.
		phases []mesosv1alpha1.TaskPhase
	}{
		{name: "deleted while its agent is unreachable", phases: []mesosv1alpha1.TaskPhase{mesosv1alpha1.TaskPhaseUnreachable}},
		{name: "deleted as its agent was lost, its MesosTask not told yet",
			phases: []mesosv1alpha1.TaskPhase{mesosv1alpha1.TaskPhaseRunning, mesosv1alpha1.TaskPhaseUnreachable}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim, d, fw := simTask(t, false)
			fw.await(t, mesos.TASK_RUNNING)
			if err := sim.PartitionAgent("agent-1"); err != nil {
				t.Fatal(err)
			}
			fw.await(t, mesos.TASK_UNREACHABLE)

			now := metav1.Now()
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1", DeletionTimestamp: &now,
				DeletionGracePeriodSeconds: ptr.To[int64](3600), Finalizers: []string{"example.com/hold"}},
				Spec:   corev1.PodSpec{SchedulerName: "mesos", NodeName: "mesos-c-agent-1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning}}
			mt := &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"},
				Spec: mesosv1alpha1.MesosTaskSpec{ClusterRef: "c", PodUID: "u1", TaskID: fw.id}, Status: mesosv1alpha1.MesosTaskStatus{AgentID: fw.agentID()}}
			c := podAPI(t, interceptor.Funcs{}, pod, mt, readyCluster(),
				&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "mesos-c-agent-1", Labels: map[string]string{agentnode.LabelCluster: "c"}}})
			reg := scheduler.NewRegistry()
			reg.PutDriver("c", d, "")
			r := &PodReconciler{Client: c, Registry: reg}
			req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pod)}
			// The MesosTask says phase (as the scheduler writes it); a pass over the pod follows.
			pass := func(phase mesosv1alpha1.TaskPhase) ctrl.Result {
				t.Helper()
				if err := c.Get(context.Background(), req.NamespacedName, mt); err != nil {
					t.Fatal(err)
				}
				mt.Status.Phase, mt.Status.MesosState = phase, "TASK_"+strings.ToUpper(string(phase))
				if err := c.Update(context.Background(), mt); err != nil {
					t.Fatal(err)
				}
				res, err := r.Reconcile(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			var res ctrl.Result
			for _, phase := range tc.phases {
				res = pass(phase)
			}
			if res.RequeueAfter <= 0 || res.RequeueAfter > killResend {
				t.Errorf("the pod is looked at again in %s while its task is unreachable, want %s at most", res.RequeueAfter, killResend)
			}

			// The agent is back, its task running.
			if err := sim.HealAgent("agent-1"); err != nil {
				t.Fatal(err)
			}
			fw.await(t, mesos.TASK_RUNNING)
			res = pass(mesosv1alpha1.TaskPhaseRunning)
			if !fw.awaitSoon(mesos.TASK_KILLING, mesos.TASK_KILLED) {
				t.Errorf("the task runs on after its agent came back (%s; looked at again in %s): no KILL reached it", fw.state(), res.RequeueAfter)
			}
		})
	}
}

// A pod deleted while its launch is under way (bound, its ACCEPT waiting for the round's
// other bindings) has its task killed, though the KILL overtook the ACCEPT: Mesos answered
// it as a reconciliation (TASK_GONE: the scheduler does not take that for the launch's
// end while it may be in flight) and forgot it, and the task then ran. The KILL goes
// again once Mesos reports the task (its MesosTask written), not only once the pod's
// grace period and killResend have passed since the KILL that reached nothing, the task
// running meanwhile.
func TestAKillThatOvertookItsTasksLaunchGoesAgain(t *testing.T) {
	_, d, fw := simTask(t, true)
	fw.awaitOffer(t)

	now := metav1.Now()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1", DeletionTimestamp: &now,
		DeletionGracePeriodSeconds: ptr.To[int64](3600), Finalizers: []string{"example.com/hold"}},
		Spec:   corev1.PodSpec{SchedulerName: "mesos", NodeName: "mesos-c-agent-1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}}}
	c := podAPI(t, interceptor.Funcs{}, pod, readyCluster(),
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "mesos-c-agent-1", Labels: map[string]string{agentnode.LabelCluster: "c"},
			Annotations: map[string]string{agentnode.AnnotationAgentID: fw.offeredAgent()}}})
	reg := scheduler.NewRegistry()
	reg.PutDriver("c", d, "")
	r := &PodReconciler{Client: c, Registry: reg}
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pod)}
	if _, err := r.Reconcile(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	fw.await(t, mesos.TASK_GONE) // Mesos's answer: it does not know the task

	fw.launch(context.Background())
	fw.await(t, mesos.TASK_RUNNING)
	// Its first update writes its MesosTask (the scheduler's), which brings the pod here.
	mt := &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"},
		Spec:   mesosv1alpha1.MesosTaskSpec{ClusterRef: "c", PodUID: "u1", TaskID: fw.id},
		Status: mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, MesosState: "TASK_RUNNING", AgentID: fw.offeredAgent()}}
	if err := c.Create(context.Background(), mt); err != nil {
		t.Fatal(err)
	}
	res, err := r.Reconcile(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !fw.awaitSoon(mesos.TASK_KILLING, mesos.TASK_KILLED) {
		t.Errorf("the task of the deleted pod runs (%s; looked at again in %s): no KILL reached it", fw.state(), res.RequeueAfter)
	}
}

// simTask is a mesos-sim of one agent (agent-1) and a framework subscribed to it
// (partition-aware, TASK_KILLING_STATE, as k8sm's), which launches one task (oneTask):
// on its first offer, or, held, when told to.
func simTask(t *testing.T, held bool) (*mesossim.Master, *framework.Driver, *oneTask) {
	t.Helper()
	sim, err := mesossim.New(mesossim.Config{Agents: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	fw := &oneTask{id: "k8sm.u1", held: held}
	d, err := framework.NewDriver(framework.Config{Master: sim.URL(), AgentPollInterval: -1, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm", Capabilities: []mesos.FrameworkInfo_Capability{
			{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE}, {Type: mesos.FrameworkInfo_Capability_TASK_KILLING_STATE}}}}, fw, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	t.Cleanup(d.Stop)
	return sim, d, fw
}

// oneTask is a framework that launches one simulated task on its first offer (or, held,
// keeps that offer until launch), declines the others, and acknowledges every update,
// keeping its task's last state.
type oneTask struct {
	id   string
	held bool

	mu       sync.Mutex
	offer    *mesos.Offer
	d        *framework.Driver
	sub      uint64
	launched bool
	last     mesos.TaskState
	agent    string
	changed  chan struct{}
}

func (o *oneTask) Offers(ctx context.Context, d *framework.Driver, offers []mesos.Offer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	sub := d.Subscription()
	decline := make([]mesos.OfferID, 0, len(offers))
	for i := range offers {
		if o.offer != nil || o.launched {
			decline = append(decline, offers[i].ID)
			continue
		}
		o.offer, o.d, o.sub = &offers[i], d, sub
		o.notifyLocked()
		if !o.held {
			o.launchLocked(ctx)
		}
	}
	_ = d.Decline(ctx, sub, decline, time.Hour)
}

// launch launches the task on the offer held.
func (o *oneTask) launch(ctx context.Context) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.launchLocked(ctx)
}

func (o *oneTask) launchLocked(ctx context.Context) {
	if o.offer == nil || o.launched {
		return
	}
	o.launched = true
	scalar := func(name string, v float64) mesos.Resource {
		return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
	}
	ti := mesos.TaskInfo{Name: "p", TaskID: mesos.TaskID{Value: o.id}, AgentID: o.offer.AgentID,
		Resources: []mesos.Resource{scalar("cpus", 0.1), scalar("mem", 32)},
		Executor:  &mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: "e"}, Command: &mesos.CommandInfo{Value: ptr.To("true")}}}
	_ = o.d.Launch(ctx, o.sub, []mesos.OfferID{o.offer.ID}, []mesos.TaskInfo{ti}, 0)
}

// offeredAgent is the agent of the offer taken, "" before one came.
func (o *oneTask) offeredAgent() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.offer == nil {
		return ""
	}
	return o.offer.AgentID.Value
}

// awaitOffer waits for the offer to launch on.
func (o *oneTask) awaitOffer(t *testing.T) {
	t.Helper()
	if !o.awaitUntil(func() bool { return o.offer != nil }) {
		t.Fatal("no offer came")
	}
}

func (o *oneTask) Rescind(context.Context, mesos.OfferID) {}

func (o *oneTask) Update(ctx context.Context, st mesos.TaskStatus, ack func(context.Context) error) {
	_ = ack(ctx)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.last = st.GetState()
	if st.AgentID != nil {
		o.agent = st.AgentID.Value
	}
	o.notifyLocked()
}

// notifyLocked wakes those waiting for a change; under o.mu.
func (o *oneTask) notifyLocked() {
	if o.changed != nil {
		close(o.changed)
	}
	o.changed = make(chan struct{})
}

func (o *oneTask) Subscribed(context.Context, *framework.Driver) {}

func (o *oneTask) state() mesos.TaskState {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last
}

func (o *oneTask) agentID() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.agent
}

// awaitSoon says whether the task's last update is of one of the states within a few
// seconds.
func (o *oneTask) awaitSoon(states ...mesos.TaskState) bool {
	return o.awaitUntil(func() bool { return slices.Contains(states, o.last) })
}

// awaitUntil says whether ok, called under o.mu, says true within a few seconds.
func (o *oneTask) awaitUntil(ok func() bool) bool {
	deadline := time.After(5 * time.Second)
	for {
		o.mu.Lock()
		done, changed := ok(), o.changed
		if changed == nil {
			o.changed = make(chan struct{})
			changed = o.changed
		}
		o.mu.Unlock()
		if done {
			return true
		}
		select {
		case <-changed:
		case <-deadline:
			return false
		}
	}
}

func (o *oneTask) await(t *testing.T, state mesos.TaskState) {
	t.Helper()
	if !o.awaitSoon(state) {
		t.Fatalf("the task is %s, not %s", o.state(), state)
	}
}
