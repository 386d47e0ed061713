package scheduler

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/podtask"
)

// taskListingDriver is a fake driver whose master lists the tasks it holds (GET_TASKS).
type taskListingDriver struct {
	*fakeDriver
	tasks []framework.MasterTask
	err   error
	// onList, if set, runs at each GET_TASKS.
	onList func()
	// listed is what the scheduler said of each list (SetTasksListed).
	listed []error
	// agentsErr is what GET_AGENTS fails with; nil: it lists no agent recovered.
	agentsErr error
}

func (l *taskListingDriver) GetAgents(context.Context) ([]framework.MasterAgent, error) {
	if l.agentsErr != nil {
		return nil, l.agentsErr
	}
	return []framework.MasterAgent{{ID: "a-1", Active: true}}, nil
}

// SetTasksListed keeps what the scheduler says of each list.
func (l *taskListingDriver) SetTasksListed(err error) { l.listed = append(l.listed, err) }

func (l *taskListingDriver) GetTasks(context.Context) ([]framework.MasterTask, error) {
	if l.onList != nil {
		l.onList()
	}
	return l.tasks, l.err
}

// masterTask is a task of pod ns/name (uid) as GET_TASKS lists it, on agent a-1.
func masterTask(fw, name, uid string, state mesos.TaskState) framework.MasterTask {
	labels := &mesos.Labels{Labels: []mesos.Label{{Key: podtask.LabelNamespace, Value: ptr.To("ns")},
		{Key: podtask.LabelName, Value: ptr.To(name)}, {Key: podtask.LabelUID, Value: ptr.To(uid)}}}
	return framework.MasterTask{FrameworkID: fw, TaskID: "k8sm." + uid, AgentID: "a-1", ExecutorID: "k8sm-executor",
		State: state, Labels: labels,
		Latest: &mesos.TaskStatus{TaskID: mesos.TaskID{Value: "k8sm." + uid}, State: state.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum()}}
}

// After a subscription, a task Mesos holds whose pod is gone and which nothing records (a
// pod removed while no manager led, its MesosTask held in memory and lost with the last
// leader) is recorded as the MesosTask of a pod deleted: written and deleted, its
// finalizer kept, so that it is killed and a pod made again under its name waits for
// it. Every other task is left as it is.
func TestANewLeaderRecordsTheTasksOfPodsGone(t *testing.T) {
	newPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0", UID: "u2"},
		Spec: corev1.PodSpec{SchedulerName: "mesos"}}
	samePod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0", UID: "u1"},
		Spec: corev1.PodSpec{SchedulerName: "mesos", NodeName: "mesos-c-agent-1"}}
	record := &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0"},
		Spec: mesosv1alpha1.MesosTaskSpec{ClusterRef: "c", PodUID: "u1", TaskID: "k8sm.u1"}}
	newRecord := &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0"},
		Spec: mesosv1alpha1.MesosTaskSpec{ClusterRef: "c", PodUID: "u2", TaskID: "k8sm.u2"}}
	unlabelled := masterTask("fw-1", "web-0", "u1", mesos.TASK_RUNNING)
	unlabelled.Labels = nil
	for _, tc := range []struct {
		name      string
		objs      []client.Object
		task      framework.MasterTask
		listErr   error
		wantPhase mesosv1alpha1.TaskPhase // of the record written; "" for none
	}{
		{name: "running, its pod gone", task: masterTask("fw-1", "web-0", "u1", mesos.TASK_RUNNING), wantPhase: mesosv1alpha1.TaskPhaseRunning},
		{name: "running, a new pod of its name queued", objs: []client.Object{newPod},
			task: masterTask("fw-1", "web-0", "u1", mesos.TASK_RUNNING), wantPhase: mesosv1alpha1.TaskPhaseRunning},
		{name: "staging, its pod gone", task: masterTask("fw-1", "web-0", "u1", mesos.TASK_STAGING), wantPhase: mesosv1alpha1.TaskPhaseStaging},
		{name: "unreachable, its pod gone", task: masterTask("fw-1", "web-0", "u1", mesos.TASK_UNREACHABLE), wantPhase: mesosv1alpha1.TaskPhaseUnreachable},
		{name: "its pod there", objs: []client.Object{samePod}, task: masterTask("fw-1", "web-0", "u1", mesos.TASK_RUNNING)},
		{name: "its MesosTask there", objs: []client.Object{record}, task: masterTask("fw-1", "web-0", "u1", mesos.TASK_RUNNING)},
		{name: "ended, the end not acknowledged", task: masterTask("fw-1", "web-0", "u1", mesos.TASK_FINISHED)},
		{name: "another framework's", task: masterTask("fw-2", "web-0", "u1", mesos.TASK_RUNNING)},
		{name: "not k8sm's", task: unlabelled},
		{name: "the name held by a new pod's MesosTask", objs: []client.Object{newPod, newRecord},
			task: masterTask("fw-1", "web-0", "u1", mesos.TASK_RUNNING)},
		{name: "the master cannot tell", listErr: errBroken, task: masterTask("fw-1", "web-0", "u1", mesos.TASK_RUNNING)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeAPI(t, tc.objs...)
			s, _ := newTestScheduler(c, newFakeDriver())
			d := &taskListingDriver{fakeDriver: newFakeDriver(), tasks: []framework.MasterTask{tc.task}, err: tc.listErr}
			ctx := context.Background()
			s.learnEarlierTasks(ctx, d)

			list := &mesosv1alpha1.MesosTaskList{}
			if err := c.List(ctx, list); err != nil {
				t.Fatal(err)
			}
			var earlier *mesosv1alpha1.MesosTask
			for i := range list.Items {
				if list.Items[i].Spec.TaskID == "k8sm.u1" && !slices.ContainsFunc(tc.objs, func(o client.Object) bool { return o == record }) {
					earlier = &list.Items[i]
				}
			}
			if tc.wantPhase == "" {
				if earlier != nil {
					t.Fatalf("recorded %+v, want nothing written", earlier)
				}
				if n := len(list.Items); n != countTasks(tc.objs) {
					t.Errorf("%d MesosTasks, want the %d there before", n, countTasks(tc.objs))
				}
				return
			}
			if earlier == nil {
				t.Fatalf("MesosTasks %+v, want the earlier task recorded", list.Items)
			}
			if earlier.Name != "web-0" || earlier.Namespace != "ns" || earlier.Spec.PodUID != "u1" || earlier.Spec.ClusterRef != "c" ||
				earlier.Spec.ExecutorID != "k8sm-executor" || len(earlier.OwnerReferences) != 0 {
				t.Errorf("record %+v, want web-0's task of uid u1 in cluster c, its executor, no owner", earlier.ObjectMeta)
			}
			if earlier.Status.Phase != tc.wantPhase || earlier.Status.AgentID != "a-1" || !podtask.MayRun(earlier, nil) {
				t.Errorf("status %+v, want %s on agent a-1, a task that may run", earlier.Status, tc.wantPhase)
			}
			if earlier.DeletionTimestamp.IsZero() || !slices.Contains(earlier.Finalizers, podtask.TaskFinalizer) {
				t.Errorf("record deleted at %v with finalizers %v, want it deleted and its finalizer kept until the task is killed",
					earlier.DeletionTimestamp, earlier.Finalizers)
			}
		})
	}
}

func countTasks(objs []client.Object) int {
	n := 0
	for _, o := range objs {
		if _, ok := o.(*mesosv1alpha1.MesosTask); ok {
			n++
		}
	}
	return n
}

// A pod made again under the name of a pod whose task Mesos still holds, queued before
// the new leader learned of that task, is not launched: the first round waits until the
// earlier task is recorded, and the record holds the name.
func TestAPodMadeAgainIsNotLaunchedBesideAnEarlierTaskAfterASubscription(t *testing.T) {
	pod, mt := podWithTask("web-0", "500m")
	c := fakeAPI(t, pod)
	s, _ := newTestScheduler(c, newFakeDriver())
	d := &taskListingDriver{fakeDriver: newFakeDriver(), tasks: []framework.MasterTask{masterTask("fw-1", "web-0", "u-old", mesos.TASK_RUNNING)}}
	ctx := context.Background()
	s.Enqueue(ctx, mt, pod)
	s.subscribed(ctx, d)

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 4)})

	if len(d.accepted) != 0 {
		t.Fatalf("ACCEPTs %v, want none while the earlier task of web-0 may run", d.accepted)
	}
	if s.Pending(mt.Spec.TaskID) {
		t.Error("the pod is still queued; want it out of the queue until the earlier task ended")
	}
	earlier := &mesosv1alpha1.MesosTask{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(pod), earlier); err != nil || earlier.Spec.TaskID != "k8sm.u-old" {
		t.Fatalf("the MesosTask of web-0 is %+v (%v), want the earlier task's", earlier.Spec, err)
	}
}

// recoveringDriver is a fake driver whose master failed over: it lists agent a-2 as
// recovered from its registry, and neither it nor its tasks, until back is set.
type recoveringDriver struct {
	*fakeDriver
	mu   sync.Mutex
	back bool
}

func (r *recoveringDriver) isBack() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.back
}

func (r *recoveringDriver) GetAgents(context.Context) ([]framework.MasterAgent, error) {
	return []framework.MasterAgent{{ID: "a-1", Active: true}, {ID: "a-2", Active: r.isBack(), Recovered: !r.isBack()}}, nil
}

func (r *recoveringDriver) GetTasks(context.Context) ([]framework.MasterTask, error) {
	if !r.isBack() {
		return nil, nil
	}
	t := masterTask("fw-1", "web-0", "u1", mesos.TASK_RUNNING)
	t.AgentID = "a-2"
	return []framework.MasterTask{t}, nil
}

// After a master failover, the master knows no task of an agent that has not registered
// with it again, and tells the framework nothing of them when it does: the scheduler
// asks again once the agent is back, and records the task of a pod gone then.
func TestTheTasksOfRecoveredAgentsAreLookedAtOnceTheyAreBack(t *testing.T) {
	c := fakeAPI(t)
	s, _ := newTestScheduler(c, newFakeDriver())
	s.recoveredAgentsPoll = 10 * time.Millisecond
	d := &recoveringDriver{fakeDriver: newFakeDriver()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if s.learnEarlierTasks(ctx, d) {
		t.Error("the look at the tasks Mesos holds is done while agent a-2 is not back; want it looked at again after the next subscription, should this one end first")
	}
	key := client.ObjectKey{Namespace: "ns", Name: "web-0"}
	if err := c.Get(ctx, key, &mesosv1alpha1.MesosTask{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a MesosTask of web-0 before its agent is back: %v", err)
	}

	d.mu.Lock()
	d.back = true
	d.mu.Unlock()
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		mt := &mesosv1alpha1.MesosTask{}
		return c.Get(ctx, key, mt) == nil && mt.Spec.TaskID == "k8sm.u1" && mt.Status.AgentID == "a-2", nil
	}); err != nil {
		t.Fatal("the task of web-0 on agent a-2, back, is not recorded")
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.earlierScanned, nil
	}); err != nil {
		t.Error("the look is not done once every agent is back")
	}
}

// The tasks Mesos holds are looked at after this process's first subscription, once its
// reconciliation is over (side by side, the two shared the CPU a failover waits on), and
// not after later ones (a master failover), which find the records this process keeps.
func TestTheTasksMesosHoldsAreLookedAtOnceAfterTheFirstReconciliation(t *testing.T) {
	c := fakeAPI(t)
	s, _ := newTestScheduler(c, newFakeDriver())
	var mu sync.Mutex
	var lists int
	var reconciledFirst []bool
	d := &taskListingDriver{fakeDriver: newFakeDriver()}
	d.onList = func() {
		mu.Lock()
		defer mu.Unlock()
		lists++
		reconciledFirst = append(reconciledFirst, d.isReconciled())
	}
	ctx := context.Background()
	known := func() chan struct{} {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.executorsKnown
	}
	s.subscribed(ctx, d)
	select {
	case <-known():
	case <-time.After(10 * time.Second):
		t.Fatal("the first subscription's lists never came")
	}
	d.endSubscription(true)
	s.subscribed(ctx, d)
	select {
	case <-known():
	case <-time.After(10 * time.Second):
		t.Fatal("the second subscription's lists never came")
	}
	mu.Lock()
	defer mu.Unlock()
	if lists != 1 || !reconciledFirst[0] {
		t.Errorf("GET_TASKS sent %d times (after the reconciliation: %v), want once, after the first subscription's reconciliation", lists, reconciledFirst)
	}
}

// Whether the master listed the tasks it holds is shown on the MesosCluster
// (framework.Driver.SetTasksListed): a call that fails, and a list that names none of the
// framework's while its records say Mesos runs some (the master's ACLs hide a task from a
// principal without VIEW_TASK, and refuse nothing), are not lists to go by.
func TestWhetherTheMasterListedItsTasksIsShown(t *testing.T) {
	longAgo, now := metav1.NewTime(time.Now().Add(-time.Hour)), metav1.Now()
	running := func(launched metav1.Time, state mesos.TaskState) *mesosv1alpha1.MesosTask {
		return &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-1"},
			Spec:   mesosv1alpha1.MesosTaskSpec{ClusterRef: "c", PodUID: "u9", TaskID: "k8sm.u9"},
			Status: mesosv1alpha1.MesosTaskStatus{MesosState: state.String(), AgentID: "a-1", LaunchedAt: &launched}}
	}
	for _, tc := range []struct {
		name     string
		objs     []client.Object
		tasks    []framework.MasterTask
		err      error
		agents   error // GET_AGENTS's
		hidden   bool  // a list is reported not whole
		reported bool  // anything is reported
	}{
		{name: "listed, the framework's task in it", objs: []client.Object{running(longAgo, mesos.TASK_RUNNING)},
			tasks: []framework.MasterTask{masterTask("fw-1", "web-1", "u9", mesos.TASK_RUNNING)}, reported: true},
		{name: "listed, none of the framework's while it runs one", objs: []client.Object{running(longAgo, mesos.TASK_RUNNING)},
			tasks: []framework.MasterTask{masterTask("fw-2", "web-1", "u9", mesos.TASK_RUNNING)}, hidden: true, reported: true},
		{name: "listed empty while it runs one", objs: []client.Object{running(longAgo, mesos.TASK_RUNNING)}, hidden: true, reported: true},
		// Its agent may be one a master that failed over recovered and has not seen again.
		{name: "listed empty while it runs one, the agents not listed", objs: []client.Object{running(longAgo, mesos.TASK_RUNNING)},
			agents: errBroken, reported: true},
		{name: "listed empty, its one task just launched", objs: []client.Object{running(now, mesos.TASK_RUNNING)}, reported: true},
		{name: "listed empty, its one task staging", objs: []client.Object{running(longAgo, mesos.TASK_STAGING)}, reported: true},
		{name: "listed empty, no task", reported: true},
		{name: "refused", err: errBroken, hidden: true, reported: true},
		{name: "not subscribed", err: framework.ErrNotSubscribed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeAPI(t, tc.objs...)
			s, _ := newTestScheduler(c, newFakeDriver())
			d := &taskListingDriver{fakeDriver: newFakeDriver(), tasks: tc.tasks, err: tc.err, agentsErr: tc.agents}
			s.learnEarlierTasks(context.Background(), d)
			switch {
			case !tc.reported && len(d.listed) != 0:
				t.Errorf("reported %v, want nothing", d.listed)
			case !tc.reported:
			case len(d.listed) != 1:
				t.Errorf("reported %v, want one report", d.listed)
			case tc.hidden && d.listed[0] == nil:
				t.Error("reported the list whole, want it not")
			case !tc.hidden && d.listed[0] != nil:
				t.Errorf("reported %v, want the list whole", d.listed[0])
			case tc.err == nil && tc.hidden && !strings.Contains(d.listed[0].Error(), "VIEW_TASK"):
				t.Errorf("reported %v, want it to name the ACL", d.listed[0])
			}
		})
	}
}
