package controllers

import (
	"cmp"
	"context"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/metrics"
	"github.com/k8sm/k8sm/internal/placement"
	"github.com/k8sm/k8sm/internal/podtask"
)

const (
	// TaskIDIndex indexes MesosTasks by spec.taskID.
	TaskIDIndex = "spec.taskID"
	// ClusterRefIndex indexes MesosTasks by spec.clusterRef.
	ClusterRefIndex = "spec.clusterRef"

	// updateShards is how many workers persist status updates; updates of one task
	// always go to the same worker, so their order holds.
	updateShards = 16

	// launchWorkers bounds the launches prepared (recorded and bound) at once.
	launchWorkers = 32
)

// pendingTask is a MesosTask waiting for an offer.
type pendingTask struct {
	key     types.NamespacedName
	request placement.Request
	// priority and created (the pod's) give the queue its order, as kube-scheduler's:
	// higher priority first, then the oldest pod; queued (when this process first queued
	// it) orders pods created in the same second.
	priority int32
	created  time.Time
	queued   time.Time
	// unschedulable is the explanation last written for the task, so that it is
	// written again only when it changes.
	unschedulable string
}

// statusUpdate is one Mesos update waiting to be persisted and acknowledged, or, with
// launched set, the news that a task was launched (status names the task).
type statusUpdate struct {
	status   mesos.TaskStatus
	ack      func(context.Context) error
	launched bool
}

// launchInfo is where and when a task was launched.
type launchInfo struct {
	agentID, hostname string
	at                metav1.Time
}

// PodScheduler is the framework.Scheduler of one MesosCluster: it keeps the queue of
// pending MesosTasks, places them on offers, binds their pods and launches them, and
// persists every status update before acknowledging it.
type PodScheduler struct {
	Client client.Client
	// APIReader reads from the API server itself, for the retry after a write lost to a
	// newer version than the cache holds. Optional: the cache is read again without it.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Log       logr.Logger
	// Cluster is the MesosCluster, as of the driver's start.
	Cluster *mesosv1alpha1.MesosCluster
	// ReconcileInterval is how often tasks are reconciled besides after each
	// subscription. Default 15m.
	ReconcileInterval time.Duration
	// StartingGrace is how long an acknowledged TASK_STARTING may wait to be written
	// (see updateLoop). Default DefaultStartingGrace; negative writes it at once.
	StartingGrace time.Duration

	mu      sync.Mutex
	pending map[string]pendingTask // by task id
	// launches are the tasks this process launched whose MesosTask says nothing of it
	// yet: the first status write records where and when (see prepareLaunch).
	launches   map[string]launchInfo // by task id
	suppressed bool
	offerCalls sync.Mutex // orders SUPPRESS and REVIVE
	driver     *framework.Driver
	offers     chan []mesos.Offer
	updates    [updateShards]chan statusUpdate
	started    bool
	stop       context.CancelFunc
	metrics    metrics.Cluster
}

// NewPodScheduler makes the scheduler of a cluster; Start runs it.
func NewPodScheduler(c client.Client, rec events.EventRecorder, log logr.Logger, mc *mesosv1alpha1.MesosCluster) *PodScheduler {
	s := &PodScheduler{Client: c, Recorder: rec, Log: log, Cluster: mc.DeepCopy(),
		pending: map[string]pendingTask{}, launches: map[string]launchInfo{}, offers: make(chan []mesos.Offer, 64), metrics: metrics.Cluster(mc.Name)}
	for i := range s.updates {
		s.updates[i] = make(chan statusUpdate, 256)
	}
	return s
}

// Start runs the offer and update workers until ctx ends.
func (s *PodScheduler) Start(ctx context.Context) {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return
	}
	s.started = true
	s.mu.Unlock()
	go s.offerLoop(ctx)
	go s.reconcileLoop(ctx)
	for i := range s.updates {
		go s.updateLoop(ctx, s.updates[i])
	}
}

// SetCluster records a newer version of the cluster (placement settings).
func (s *PodScheduler) SetCluster(mc *mesosv1alpha1.MesosCluster) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Cluster = mc.DeepCopy()
}

// clusterName is the name of the scheduler's MesosCluster.
func (s *PodScheduler) clusterName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Cluster.Name
}

// Enqueue adds a MesosTask to the queue (again), reviving offers if they were suppressed.
func (s *PodScheduler) Enqueue(ctx context.Context, mt *mesosv1alpha1.MesosTask, pod *corev1.Pod) {
	req := podtask.RequestFor(pod, mt)
	s.mu.Lock()
	before, known := s.pending[mt.Spec.TaskID]
	p := pendingTask{key: client.ObjectKeyFromObject(mt), request: req, created: pod.CreationTimestamp.Time,
		queued: before.queued, unschedulable: before.unschedulable}
	if !known {
		p.queued = time.Now()
	}
	if pod.Spec.Priority != nil {
		p.priority = *pod.Spec.Priority
	}
	s.pending[mt.Spec.TaskID] = p
	revive := !known && s.suppressed
	s.metrics.Pending(len(s.pending))
	s.mu.Unlock()
	if revive {
		s.setSuppressed(ctx, false)
	}
}

// setSuppressed suppresses offers (when nothing is pending) or revives them. Calls are
// made one at a time and the decision is taken again under that order, so a SUPPRESS
// can never overtake the REVIVE that new work asked for.
func (s *PodScheduler) setSuppressed(ctx context.Context, want bool) {
	s.offerCalls.Lock()
	defer s.offerCalls.Unlock()
	s.mu.Lock()
	d, current, idle := s.driver, s.suppressed, len(s.pending) == 0
	s.mu.Unlock()
	if d == nil || current == want || (want && !idle) {
		return
	}
	var err error
	if want {
		err = d.Suppress(ctx)
	} else {
		err = d.Revive(ctx)
	}
	if err != nil {
		s.Log.V(1).Info("Could not change offer suppression", "suppress", want, "error", err.Error())
		return
	}
	s.mu.Lock()
	s.suppressed = want
	s.mu.Unlock()
}

// Dequeue removes a task from the queue.
func (s *PodScheduler) Dequeue(taskID string) {
	s.mu.Lock()
	delete(s.pending, taskID)
	s.metrics.Pending(len(s.pending))
	s.mu.Unlock()
}

// Pending says whether a task waits in the queue.
func (s *PodScheduler) Pending(taskID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pending[taskID]
	return ok
}

// Subscribed reconciles the cluster's tasks with Mesos after each subscription: every
// launched, non-terminal task explicitly, then all of them implicitly.
func (s *PodScheduler) Subscribed(ctx context.Context, d *framework.Driver) {
	s.mu.Lock()
	s.driver = d
	s.suppressed = false
	s.mu.Unlock()
	go s.reconcileTasks(ctx, d)
}

// reconcileTasks asks Mesos for the state of every launched, non-terminal task, then
// for all of the framework's tasks; the answers come as updates.
func (s *PodScheduler) reconcileTasks(ctx context.Context, d *framework.Driver) {
	var list mesosv1alpha1.MesosTaskList
	if err := s.Client.List(ctx, &list, client.MatchingFields{ClusterRefIndex: s.clusterName()}); err != nil {
		s.Log.Error(err, "Listing tasks to reconcile")
		return
	}
	explicit := map[string]string{}
	var skipped []string
	for i := range list.Items {
		mt := &list.Items[i]
		if info, ok := s.launchOf(mt.Spec.TaskID); ok && time.Since(info.at.Time) < launchInFlight {
			// Just launched: the question could overtake the launch, and Mesos would say
			// it does not know the task. Asked again in a moment.
			skipped = append(skipped, mt.Spec.TaskID)
			continue
		}
		if agent, ask := s.toReconcile(ctx, mt); ask {
			explicit[mt.Spec.TaskID] = agent
		}
	}
	if len(explicit) > 0 {
		if err := d.Reconcile(ctx, explicit); err != nil {
			s.Log.Info("Explicit reconciliation failed; it is retried on the next subscription", "error", err.Error())
			return
		}
	}
	if err := d.Reconcile(ctx, nil); err != nil {
		s.Log.Info("Implicit reconciliation failed", "error", err.Error())
		return
	}
	d.SetReconciled()
	if len(skipped) > 0 {
		s.askLater(ctx, d, skipped)
	}
}

// askLater asks Mesos, launchInFlight from now, about those of the tasks that had no
// update written since their launch. It asks about those tasks only: a full
// reconciliation each time would, under a steady stream of launches, ask about every
// task every few seconds.
func (s *PodScheduler) askLater(ctx context.Context, d *framework.Driver, taskIDs []string) {
	time.AfterFunc(launchInFlight, func() {
		if ctx.Err() != nil || !d.Subscribed() {
			return // the reconciliation after the next subscription asks
		}
		ask := map[string]string{}
		for _, id := range taskIDs {
			mt, err := s.taskByID(ctx, id)
			if err != nil || mt == nil || mt.Status.MesosState != "" {
				continue // gone, or an update was written
			}
			if agent, ok := s.toReconcile(ctx, mt); ok {
				ask[id] = agent
			}
		}
		if len(ask) == 0 {
			return
		}
		if err := d.Reconcile(ctx, ask); err != nil {
			s.Log.Info("Could not ask Mesos about tasks without a written update; the next reconciliation does", "tasks", len(ask), "error", err.Error())
		}
	})
}

// launchInFlight is how long after its launch a task is left out of reconciliation.
const launchInFlight = 10 * time.Second

// toReconcile says whether to ask Mesos about a MesosTask's task, and with which agent
// id: a launched task that has not ended, or one whose pod is bound while the MesosTask
// says nothing yet (launched by a manager that stopped, or not at all: Mesos says which,
// and a task it never saw goes back to the queue).
func (s *PodScheduler) toReconcile(ctx context.Context, mt *mesosv1alpha1.MesosTask) (agentID string, ask bool) {
	if launched(mt.Status.Phase) {
		return mt.Status.AgentID, !podtask.IsTerminalPhase(mt.Status.Phase)
	}
	pod := &corev1.Pod{}
	if mt.Status.Phase != "" || s.Client.Get(ctx, client.ObjectKeyFromObject(mt), pod) != nil || !boundUnrecorded(mt, pod) {
		return "", false
	}
	agentID, _ = s.agentOfNode(ctx, pod.Spec.NodeName)
	return agentID, true
}

// agentOfNode is the Mesos agent id and hostname of an agent's Node, empty where not known.
func (s *PodScheduler) agentOfNode(ctx context.Context, node string) (agentID, hostname string) {
	n := &corev1.Node{}
	if err := s.Client.Get(ctx, client.ObjectKey{Name: node}, n); err != nil {
		return "", ""
	}
	return n.Annotations[agentnode.AnnotationAgentID], n.Labels[corev1.LabelHostname]
}

// reconcileLoop reconciles again every ReconcileInterval, as Mesos advises.
func (s *PodScheduler) reconcileLoop(ctx context.Context) {
	every := s.ReconcileInterval
	if every <= 0 {
		every = 15 * time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.mu.Lock()
			d := s.driver
			s.mu.Unlock()
			if d != nil && d.Subscribed() {
				s.reconcileTasks(ctx, d)
			}
		}
	}
}

// launched says whether a task of that phase was handed to Mesos.
func launched(p mesosv1alpha1.TaskPhase) bool {
	return p != "" && p != mesosv1alpha1.TaskPhasePending
}

// Offers hands offers to the offer loop without blocking the event stream.
func (s *PodScheduler) Offers(ctx context.Context, d *framework.Driver, offers []mesos.Offer) {
	s.mu.Lock()
	s.driver = d
	s.mu.Unlock()
	s.metrics.OffersReceived(len(offers))
	select {
	case s.offers <- offers:
	default:
		ids := make([]mesos.OfferID, len(offers))
		for i, o := range offers {
			ids[i] = o.ID
		}
		s.metrics.OffersDeclined(len(ids))
		_ = d.Decline(ctx, ids, time.Second)
	}
}

// Rescind: offers are used within one pass of the offer loop, so a rescinded offer at
// worst makes one ACCEPT fail, whose tasks then wait for the next offer.
func (s *PodScheduler) Rescind(context.Context, mesos.OfferID) { s.metrics.OfferRescinded() }

// Update hands a status update to the worker of its task.
func (s *PodScheduler) Update(ctx context.Context, status mesos.TaskStatus, ack func(context.Context) error) {
	s.metrics.StatusUpdate(status.GetState().String())
	s.toWorker(ctx, statusUpdate{status: status, ack: ack})
}

// toWorker queues an update for the worker of its task.
func (s *PodScheduler) toWorker(ctx context.Context, u statusUpdate) {
	select {
	case s.updates[shardOf(u.status.TaskID.Value)] <- u:
	case <-ctx.Done():
	}
}

// launched tells the worker of a task that it was launched, so that the launch is
// written if no update comes soon. It never waits: a worker that is behind has the
// task's first update coming anyway, and that write records the launch.
func (s *PodScheduler) launched(t mesos.TaskInfo) {
	select {
	case s.updates[shardOf(t.TaskID.Value)] <- statusUpdate{status: mesos.TaskStatus{TaskID: t.TaskID, AgentID: &t.AgentID}, launched: true}:
	default:
	}
}

// shardOf is the worker of a task.
func shardOf(taskID string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(taskID))
	return h.Sum32() % updateShards
}

func (s *PodScheduler) offerLoop(ctx context.Context) {
	// A safety net: work that waits while offers are suppressed revives them.
	check := time.NewTicker(5 * time.Second)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case offers := <-s.offers:
			s.handleOffers(ctx, offers)
		case <-check.C:
			s.mu.Lock()
			stuck := s.suppressed && len(s.pending) > 0
			s.mu.Unlock()
			if stuck {
				s.setSuppressed(ctx, false)
			}
		}
	}
}

// handleOffers places pending tasks on offers, launches what fits and declines the rest.
func (s *PodScheduler) handleOffers(ctx context.Context, offers []mesos.Offer) {
	s.mu.Lock()
	d, mc := s.driver, s.Cluster
	queue := make([]pendingTask, 0, len(s.pending))
	keys := make(map[string]types.NamespacedName, len(s.pending))
	for id, p := range s.pending {
		queue = append(queue, p)
		keys[id] = p.key
	}
	s.mu.Unlock()
	sortQueue(queue)
	reqs := make([]placement.Request, len(queue))
	for i := range queue {
		reqs[i] = queue[i].request
	}

	refuse := 5 * time.Second
	if r := mc.Spec.Placement.RefuseSeconds; r != nil {
		refuse = time.Duration(*r) * time.Second
	}
	strategy := placement.Strategy(mc.Spec.Placement.Strategy)
	if strategy == "" {
		strategy = placement.Strategy(mesosv1alpha1.PlacementSpread)
	}
	start := time.Now()
	res := placement.Place(placement.Input{
		Requests: reqs, Offers: offers, Strategy: strategy, Cluster: mc.Name,
		ExecutorID: ExecutorID(mc.Name), ExecutorResources: executorRequest(mc),
	})
	s.metrics.Placed(time.Since(start))

	byOffer := map[string][]placement.Assignment{}
	for _, a := range res.Assignments {
		byOffer[a.OfferID.Value] = append(byOffer[a.OfferID.Value], a)
	}
	executor := ExecutorInfo(mc, d.FrameworkID())
	var (
		mu      sync.Mutex
		decline []mesos.OfferID
		wg      sync.WaitGroup
		slots   = make(chan struct{}, launchWorkers)
	)
	for _, o := range offers {
		asgs := byOffer[o.ID.Value]
		if len(asgs) == 0 {
			decline = append(decline, o.ID)
			continue
		}
		wg.Add(1)
		go func(o mesos.Offer, asgs []placement.Assignment) {
			defer wg.Done()
			// Record, bind and build every task of the offer in parallel, then ACCEPT once.
			tasks := make([]*preparedLaunch, len(asgs))
			var inner sync.WaitGroup
			for i, a := range asgs {
				inner.Add(1)
				slots <- struct{}{}
				go func(i int, a placement.Assignment) {
					defer inner.Done()
					defer func() { <-slots }()
					tasks[i] = s.prepareLaunch(ctx, keys[a.Request.ID], a, executor)
				}(i, a)
			}
			inner.Wait()
			var launch []mesos.TaskInfo
			var prepared []*preparedLaunch
			for _, t := range tasks {
				if t != nil {
					launch = append(launch, t.info)
					prepared = append(prepared, t)
				}
			}
			if len(launch) == 0 {
				mu.Lock()
				decline = append(decline, o.ID)
				mu.Unlock()
				return
			}
			if err := d.Launch(ctx, o.ID, launch, refuse); err != nil {
				s.launchFailed(ctx, d, o.ID, launch, err)
				return
			}
			s.metrics.TasksLaunched(len(launch))
			for _, t := range prepared {
				s.Dequeue(t.info.TaskID.Value)
				s.launched(t.info)
				s.Recorder.Eventf(t.mt, t.pod, corev1.EventTypeNormal, "Launched", "Launch", "Launched task %s on agent %s", t.info.TaskID.Value, t.hostname)
			}
		}(o, asgs)
	}
	wg.Wait()
	s.metrics.OffersDeclined(len(decline))
	if err := d.Decline(ctx, decline, refuse); err != nil {
		s.Log.V(1).Info("Decline failed", "error", err.Error())
	}
	for id, why := range res.Unplaced {
		s.mu.Lock()
		p, ok := s.pending[id]
		if !ok || p.unschedulable == why {
			s.mu.Unlock()
			continue
		}
		p.unschedulable = why
		s.pending[id] = p
		s.mu.Unlock()
		s.markUnschedulable(ctx, keys[id], why)
	}

	s.setSuppressed(ctx, true)
}

// sortQueue orders pending tasks for placement, which gives earlier ones the first pick:
// higher pod priority first, then older pods, so that a pod that waited for room gets it
// before newer ones.
func sortQueue(q []pendingTask) {
	slices.SortFunc(q, func(a, b pendingTask) int {
		if a.priority != b.priority {
			return cmp.Compare(b.priority, a.priority)
		}
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		if c := a.queued.Compare(b.queued); c != 0 {
			return c
		}
		return strings.Compare(a.request.ID, b.request.ID)
	})
}

// launchFailed handles an ACCEPT that returned an error. The error does not say whether
// the master got the call (a connection that broke after sending it loses only the
// answer), so launching the tasks again could launch them twice. Their pods are bound,
// which records the launch; Mesos is asked about them, and what it never saw goes back
// to the queue (see persist). If asking fails too, it is asked again in launchInFlight,
// or by the reconciliation after the next subscription.
//
// The offer is declined without a filter: a master that did not get the ACCEPT still
// holds it for this framework, and would offer its resources to no one until it expires.
// (Declining an offer that was used is a no-op.)
func (s *PodScheduler) launchFailed(ctx context.Context, d *framework.Driver, offer mesos.OfferID, launch []mesos.TaskInfo, err error) {
	s.Log.Info("Launch failed; asking Mesos whether the tasks run before launching them again", "tasks", len(launch), "error", err.Error())
	s.metrics.LaunchFailed(len(launch))
	if err := d.Decline(ctx, []mesos.OfferID{offer}, 0); err != nil {
		s.Log.V(1).Info("Could not decline the offer of a failed launch", "offer", offer.Value, "error", err.Error())
	}
	ask := make(map[string]string, len(launch))
	ids := make([]string, 0, len(launch))
	for _, t := range launch {
		s.Dequeue(t.TaskID.Value)
		s.forgetLaunch(t.TaskID.Value)
		ask[t.TaskID.Value] = t.AgentID.Value
		ids = append(ids, t.TaskID.Value)
	}
	if err := d.Reconcile(ctx, ask); err != nil {
		s.Log.Info("Could not ask Mesos about the tasks of a failed launch; asking again shortly", "error", err.Error())
		s.askLater(ctx, d, ids)
	}
}

// executorRequest is the executor's own resources, for placement to count once per agent.
func executorRequest(mc *mesosv1alpha1.MesosCluster) placement.Request {
	r := placement.Request{ID: ExecutorID(mc.Name), CPUs: 0.1, MemMB: 64}
	if q := mc.Spec.Executor.Resources.CPUs; q != nil {
		r.CPUs = float64(q.MilliValue()) / 1000
	}
	if q := mc.Spec.Executor.Resources.Memory; q != nil {
		r.MemMB = float64(q.Value()) / (1 << 20)
	}
	return r
}

// preparedLaunch is a task ready to go in an ACCEPT, with what its Launched event names.
type preparedLaunch struct {
	info     mesos.TaskInfo
	mt       *mesosv1alpha1.MesosTask
	pod      *corev1.Pod
	hostname string
}

// prepareLaunch records the launch (see below), binds the pod and returns its TaskInfo,
// or nil for a task whose pod went away, or that could not be bound: it is not launched.
func (s *PodScheduler) prepareLaunch(ctx context.Context, key types.NamespacedName, a placement.Assignment, executor mesos.ExecutorInfo) *preparedLaunch {
	log := s.Log.WithValues("pod", key.String())
	pod := &corev1.Pod{}
	if err := s.Client.Get(ctx, key, pod); err != nil || !pod.DeletionTimestamp.IsZero() {
		s.Dequeue(a.Request.ID)
		return nil
	}
	mt := &mesosv1alpha1.MesosTask{}
	if err := s.Client.Get(ctx, key, mt); err != nil || mt.Spec.TaskID != a.Request.ID || launched(mt.Status.Phase) {
		s.Dequeue(a.Request.ID)
		return nil
	}
	node := NodeNameFor(s.clusterName(), a.Hostname)
	if pod.Spec.NodeName != "" && pod.Spec.NodeName != node {
		// Bound to another Node since it was queued (not by this operator): it runs on
		// that Node's agent, so it waits for an offer from there.
		s.Enqueue(ctx, mt, pod)
		return nil
	}
	info := launchInfo{agentID: a.AgentID.Value, hostname: a.Hostname, at: metav1.Now()}
	// The launch is recorded before it is sent, so that a restarted manager knows the task
	// may run and asks Mesos instead of launching it again. Usually the binding is that
	// record: a bound pod whose MesosTask has no phase yet may run (mayRun), and the first
	// status write fills in the agent and the time, which saves a MesosTask write per
	// pod. A MesosTask that has a phase already (it waited Unschedulable, or Mesos sent it
	// back) says Pending, which means "not launched": it gets the launch written. So does
	// the MesosTask of a pod bound before it was taken, since its binding records nothing.
	recorded := mt.Status.Phase != "" || mt.Spec.NodeName != ""
	if recorded {
		setLaunched(&mt.Status, info, mt.Generation)
		// MesosTask statuses are written with Update: it carries the version read, so a
		// write never lands over a state it did not see, and it costs the API server much
		// less than a merge patch of a custom resource.
		if err := s.Client.Status().Update(ctx, mt); err != nil {
			log.V(1).Info("Could not record the launch; retrying on a later offer", "error", err.Error())
			return nil
		}
	}
	s.mu.Lock()
	s.launches[a.Request.ID] = info
	s.mu.Unlock()
	if pod.Spec.NodeName == "" {
		binding := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
			Target: corev1.ObjectReference{Kind: "Node", Name: node}}
		if err := s.Client.SubResource("binding").Create(ctx, pod, binding); err != nil {
			log.Info("Could not bind the pod; it waits for another offer", "node", node, "error", err.Error())
			s.forgetLaunch(a.Request.ID)
			if recorded {
				s.relaunch(ctx, key)
			}
			return nil
		}
		s.Recorder.Eventf(pod, nil, corev1.EventTypeNormal, "Scheduled", "Binding", "Successfully assigned %s to %s", key, node)
	}
	ti, err := podtask.BuildTaskInfo(pod, a, executor)
	if err != nil {
		s.forgetLaunch(a.Request.ID) // never sent
		s.failTask(ctx, key, err)
		return nil
	}
	return &preparedLaunch{info: ti, mt: mt, pod: pod, hostname: a.Hostname}
}

// setLaunched records a launch in a MesosTask's status: Staging on the agent, since when.
func setLaunched(st *mesosv1alpha1.MesosTaskStatus, info launchInfo, generation int64) {
	st.Phase = mesosv1alpha1.TaskPhaseStaging
	st.PodPhase = corev1.PodPending
	st.Reason, st.Message = "", ""
	st.ObservedGeneration = generation
	fillLaunch(st, info, generation)
}

// fillLaunch fills in where and when a task was launched, where its status does not say.
func fillLaunch(st *mesosv1alpha1.MesosTaskStatus, info launchInfo, generation int64) {
	if st.AgentID == "" {
		st.AgentID = info.agentID
	}
	if st.Hostname == "" {
		st.Hostname = info.hostname
	}
	if st.LaunchedAt == nil {
		at := info.at
		st.LaunchedAt = &at
	}
	if !meta.IsStatusConditionTrue(st.Conditions, mesosv1alpha1.TaskConditionScheduled) && st.Hostname != "" {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: mesosv1alpha1.TaskConditionScheduled, Status: metav1.ConditionTrue,
			Reason: "Launched", Message: "Launched on agent " + st.Hostname, ObservedGeneration: generation})
	}
}

// launchOf is what this process knows of a task's launch.
func (s *PodScheduler) launchOf(taskID string) (launchInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info, ok := s.launches[taskID]
	return info, ok
}

// LaunchUnwritten says whether this process launched a task whose MesosTask does not say so yet.
func (s *PodScheduler) LaunchUnwritten(taskID string) bool {
	_, ok := s.launchOf(taskID)
	return ok
}

// forgetLaunch drops what this process knows of a task's launch (it is written, or did
// not happen).
func (s *PodScheduler) forgetLaunch(taskID string) {
	s.mu.Lock()
	delete(s.launches, taskID)
	s.mu.Unlock()
}

// mayRun says whether a MesosTask's task may be running in Mesos: it was launched and
// has not ended, or its pod is bound and the MesosTask says nothing yet (the binding is
// the launch record; see prepareLaunch).
func mayRun(mt *mesosv1alpha1.MesosTask, pod *corev1.Pod) bool {
	if launched(mt.Status.Phase) {
		return !podtask.IsTerminalPhase(mt.Status.Phase)
	}
	return boundUnrecorded(mt, pod)
}

// boundUnrecorded says whether a MesosTask has no phase yet while this operator bound its
// pod: the task may have been launched by a manager that stopped before writing any
// update. (A pod bound before it was taken has its launch written before it is sent.)
func boundUnrecorded(mt *mesosv1alpha1.MesosTask, pod *corev1.Pod) bool {
	return mt.Status.Phase == "" && mt.Spec.NodeName == "" && pod != nil && pod.UID == types.UID(mt.Spec.PodUID) && pod.Spec.NodeName != ""
}

// reader is where an attempt to write reads the object: the cache first, then, after a
// conflict (the cache was behind the write before), the API server.
func (s *PodScheduler) reader(attempt int) client.Reader {
	if attempt > 0 && s.APIReader != nil {
		return s.APIReader
	}
	return s.Client
}

// relaunch puts a task whose launch did not happen back to Pending.
func (s *PodScheduler) relaunch(ctx context.Context, key types.NamespacedName) {
	attempt := 0
	_ = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		mt := &mesosv1alpha1.MesosTask{}
		if err := s.reader(attempt).Get(ctx, key, mt); err != nil {
			return client.IgnoreNotFound(err)
		}
		attempt++
		mt.Status.Phase = mesosv1alpha1.TaskPhasePending
		mt.Status.LaunchedAt = nil
		return s.Client.Status().Update(ctx, mt)
	})
}

// failTask records a task that cannot be launched at all (its pod cannot be translated).
func (s *PodScheduler) failTask(ctx context.Context, key types.NamespacedName, err error) {
	s.Log.Info("Cannot launch the pod", "pod", key.String(), "error", err.Error())
	mt := &mesosv1alpha1.MesosTask{}
	if getErr := s.Client.Get(ctx, key, mt); getErr != nil {
		return
	}
	s.Dequeue(mt.Spec.TaskID)
	before := mt.DeepCopy()
	mt.Status.Phase, mt.Status.PodPhase = mesosv1alpha1.TaskPhaseFailed, corev1.PodFailed
	mt.Status.Reason, mt.Status.Message = "InvalidPod", err.Error()
	if s.Client.Status().Patch(ctx, mt, client.MergeFrom(before)) == nil {
		_ = s.mirrorToPod(ctx, mt, mesos.TaskStatus{}) // the pod fails with the same words
	}
}

// markUnschedulable tells the MesosTask and the pod why no offer fits, when that changed.
func (s *PodScheduler) markUnschedulable(ctx context.Context, key types.NamespacedName, why string) {
	mt := &mesosv1alpha1.MesosTask{}
	if err := s.Client.Get(ctx, key, mt); err != nil || launched(mt.Status.Phase) {
		return
	}
	c := meta.FindStatusCondition(mt.Status.Conditions, mesosv1alpha1.TaskConditionScheduled)
	if c != nil && c.Reason == mesosv1alpha1.ReasonUnschedulable && c.Message == why && mt.Status.Phase == mesosv1alpha1.TaskPhasePending {
		return
	}
	before := mt.DeepCopy()
	mt.Status.Phase, mt.Status.PodPhase, mt.Status.Message = mesosv1alpha1.TaskPhasePending, corev1.PodPending, why
	meta.SetStatusCondition(&mt.Status.Conditions, metav1.Condition{Type: mesosv1alpha1.TaskConditionScheduled, Status: metav1.ConditionFalse,
		Reason: mesosv1alpha1.ReasonUnschedulable, Message: why, ObservedGeneration: mt.Generation})
	if err := s.Client.Status().Patch(ctx, mt, client.MergeFrom(before)); err != nil {
		return
	}
	pod := &corev1.Pod{}
	if err := s.Client.Get(ctx, key, pod); err != nil {
		return
	}
	if pod.Spec.NodeName != "" {
		// Bound before it was taken: it is scheduled, and waits for its agent's offer.
		s.Recorder.Eventf(pod, nil, corev1.EventTypeWarning, "WaitingForOffer", "Launch", "%s", why)
		return
	}
	podBefore := pod.DeepCopy()
	setPodCondition(&pod.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: corev1.PodReasonUnschedulable, Message: why})
	if !equality.Semantic.DeepEqual(podBefore.Status, pod.Status) {
		if err := s.Client.Status().Patch(ctx, pod, client.MergeFrom(podBefore)); err == nil {
			s.Recorder.Eventf(pod, nil, corev1.EventTypeWarning, "FailedScheduling", "Scheduling", "%s", why)
		}
	}
}

// setPodCondition sets a condition, keeping its transition time when the status stays.
func setPodCondition(st *corev1.PodStatus, c corev1.PodCondition) {
	now := metav1.Now()
	for i := range st.Conditions {
		if st.Conditions[i].Type == c.Type {
			if st.Conditions[i].Status == c.Status {
				c.LastTransitionTime = st.Conditions[i].LastTransitionTime
			} else {
				c.LastTransitionTime = now
			}
			c.LastProbeTime = st.Conditions[i].LastProbeTime
			st.Conditions[i] = c
			return
		}
	}
	c.LastTransitionTime = now
	st.Conditions = append(st.Conditions, c)
}

// DefaultStartingGrace is how long an acknowledged TASK_STARTING waits to be written. Under
// load RUNNING trails STARTING by more than a second (the update workers are busy), and
// every STARTING written then is one more custom resource write per pod; five seconds
// covers that, and a task that takes longer to start still shows Starting.
const DefaultStartingGrace = 5 * time.Second

// startingUpdate is an acknowledged TASK_STARTING not yet written, or (launch) a launch
// no update has written yet.
type startingUpdate struct {
	status mesos.TaskStatus
	launch bool
	due    time.Time
}

// updateLoop persists and acknowledges the updates of its shard's tasks, in order.
//
// Every update is written before it is acknowledged, but for one: a TASK_STARTING from
// the agent is acknowledged at once and written only if no other update of the task came
// within StartingGrace, and only once the worker has caught up with its queue. Usually
// RUNNING follows at once, and one write records both (a MesosTask write is the API
// server's most expensive request here). Nothing is lost when the manager stops in
// between: the task is still Staging in the API, so the reconciliation after the next
// subscription asks Mesos for its state.
func (s *PodScheduler) updateLoop(ctx context.Context, ch chan statusUpdate) {
	grace := s.StartingGrace
	if grace == 0 {
		grace = DefaultStartingGrace
	}
	starting := map[string]startingUpdate{}
	flush := time.NewTicker(max(grace/4, 10*time.Millisecond))
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-ch:
			id := u.status.TaskID.Value
			if u.launched {
				// Written only if no update came first or within the grace: usually
				// RUNNING does, and its write records the launch too.
				if _, waiting := starting[id]; !waiting {
					if grace < 0 {
						s.recordLaunch(ctx, id)
					} else {
						starting[id] = startingUpdate{status: u.status, launch: true, due: time.Now().Add(grace)}
					}
				}
				continue
			}
			delete(starting, id)
			if grace > 0 && deferrable(u.status) {
				if err := u.ack(ctx); err == nil {
					starting[id] = startingUpdate{status: u.status, due: time.Now().Add(grace)}
					continue
				}
			}
			if err := s.persist(ctx, u.status); err != nil {
				s.Log.Info("Could not persist a status update; Mesos sends it again", "task", id, "error", err.Error())
				continue
			}
			if err := u.ack(ctx); err != nil {
				s.Log.V(1).Info("Acknowledgement failed; Mesos sends the update again", "task", id, "error", err.Error())
			}
		case now := <-flush.C:
			for _, d := range dueStarting(starting, now, len(ch)) {
				if d.launch {
					s.recordLaunch(ctx, d.status.TaskID.Value)
				} else if err := s.persist(ctx, d.status); err != nil {
					s.Log.V(1).Info("Could not persist a starting task; reconciliation reports its state", "task", d.status.TaskID.Value, "error", err.Error())
				}
			}
		}
	}
}

// dueStarting takes out of pending the STARTING updates to write now: those past their
// grace, and none while queued updates wait for the worker. A worker that is behind may
// hold the update that makes a STARTING moot, or it may still be in the event stream,
// which waits for the queue; under load that is the common case, and each STARTING
// written then is one more MesosTask write per pod.
func dueStarting(pending map[string]startingUpdate, now time.Time, queued int) []startingUpdate {
	if queued > 0 {
		return nil
	}
	var due []startingUpdate
	for id, d := range pending {
		if !now.Before(d.due) {
			due = append(due, d)
			delete(pending, id)
		}
	}
	return due
}

// recordLaunch writes the launch of a task that no update has written yet, so that a
// task slow to start shows Staging on its agent.
func (s *PodScheduler) recordLaunch(ctx context.Context, taskID string) {
	info, ok := s.launchOf(taskID)
	if !ok {
		return
	}
	mt, err := s.taskByID(ctx, taskID)
	if err != nil || mt == nil || mt.Status.Phase != "" {
		return // gone, or an update was written
	}
	setLaunched(&mt.Status, info, mt.Generation)
	if err := s.Client.Status().Update(ctx, mt); err != nil {
		s.Log.V(1).Info("Could not write a launch; the next update does", "task", taskID, "error", err.Error())
	}
}

// taskByID is the MesosTask of a Mesos task id, or nil if none has it.
func (s *PodScheduler) taskByID(ctx context.Context, taskID string) (*mesosv1alpha1.MesosTask, error) {
	var list mesosv1alpha1.MesosTaskList
	if err := s.Client.List(ctx, &list, client.MatchingFields{TaskIDIndex: taskID}); err != nil || len(list.Items) == 0 {
		return nil, err
	}
	return &list.Items[0], nil
}

// deferrable says whether an update may be acknowledged before it is written: only an
// agent's TASK_STARTING (it has a uuid), never a reconciliation answer.
func deferrable(ts mesos.TaskStatus) bool {
	return ts.GetState() == mesos.TASK_STARTING && len(ts.UUID) > 0 && ts.GetReason() != mesos.REASON_RECONCILIATION
}

// persist writes one update to the MesosTask and the pod. Updates of tasks no MesosTask
// owns are answered by killing the task.
func (s *PodScheduler) persist(ctx context.Context, ts mesos.TaskStatus) error {
	owner, err := s.taskByID(ctx, ts.TaskID.Value)
	if err != nil {
		return err
	}
	if owner == nil {
		s.forgetLaunch(ts.TaskID.Value) // its MesosTask went before any update was written
		if !podtask.IsTerminal(ts.GetState()) {
			s.mu.Lock()
			d := s.driver
			s.mu.Unlock()
			if d != nil {
				s.Log.Info("Killing a task no MesosTask owns", "task", ts.TaskID.Value, "state", ts.GetState().String())
				agent := ""
				if ts.AgentID != nil {
					agent = ts.AgentID.Value
				}
				return d.Kill(ctx, ts.TaskID.Value, agent, nil)
			}
		}
		return nil
	}
	key := client.ObjectKeyFromObject(owner)
	var mt *mesosv1alpha1.MesosTask
	attempt := 0
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		mt = &mesosv1alpha1.MesosTask{}
		if err := s.reader(attempt).Get(ctx, key, mt); err != nil {
			return err
		}
		attempt++
		changed := podtask.ApplyUpdate(&mt.Status, ts, metav1.Now())
		if launched(mt.Status.Phase) && s.fillLaunch(ctx, mt) {
			changed = true
		}
		if !changed {
			return nil
		}
		return s.Client.Status().Update(ctx, mt)
	})
	if err != nil {
		return client.IgnoreNotFound(err)
	}
	s.forgetLaunch(ts.TaskID.Value)
	if mt.Status.Phase == mesosv1alpha1.TaskPhasePending {
		// Mesos never ran it: back to the queue, or, if its pod is being deleted, the pod
		// goes at once, as for a pod never launched.
		pod := &corev1.Pod{}
		if err := s.Client.Get(ctx, key, pod); err != nil || pod.UID != types.UID(mt.Spec.PodUID) {
			return nil
		}
		if pod.DeletionTimestamp.IsZero() {
			s.Enqueue(ctx, mt, pod)
			return nil
		}
		return client.IgnoreNotFound(removePod(ctx, s.Client, pod))
	}
	return s.mirrorToPod(ctx, mt, ts)
}

// fillLaunch fills in where and when a launched task was launched, if its status does not
// say: from what this process knows, or, for a launch of an earlier process (recorded only
// by the binding), from the Node the pod is bound to. It says whether it changed anything.
func (s *PodScheduler) fillLaunch(ctx context.Context, mt *mesosv1alpha1.MesosTask) bool {
	if mt.Status.Hostname != "" && mt.Status.LaunchedAt != nil && meta.IsStatusConditionTrue(mt.Status.Conditions, mesosv1alpha1.TaskConditionScheduled) {
		return false
	}
	info, ok := s.launchOf(mt.Spec.TaskID)
	if !ok {
		info = launchInfo{at: metav1.Now()}
		pod := &corev1.Pod{}
		if s.Client.Get(ctx, client.ObjectKeyFromObject(mt), pod) == nil && pod.Spec.NodeName != "" {
			info.agentID, info.hostname = s.agentOfNode(ctx, pod.Spec.NodeName)
		}
	}
	before := mt.Status.DeepCopy()
	fillLaunch(&mt.Status, info, mt.Generation)
	return !equality.Semantic.DeepEqual(before, &mt.Status)
}

// mirrorToPod writes the pod status the MesosTask implies, and removes a pod whose task
// ended after its deletion was asked, as a kubelet would.
func (s *PodScheduler) mirrorToPod(ctx context.Context, mt *mesosv1alpha1.MesosTask, ts mesos.TaskStatus) error {
	if !podtask.MirrorToPod(&mt.Status, ts.Data) {
		return nil
	}
	attempt := 0
	// The status is written with Update: it carries the version it was computed from, so
	// another writer of the pod's status (NodeLost after the unreachable timeout) is never
	// overwritten from a stale read, and a pod goes as protobuf, which costs the API
	// server less than a JSON merge patch (no patch to apply, no JSON to decode).
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod := &corev1.Pod{}
		if err := s.reader(attempt).Get(ctx, client.ObjectKeyFromObject(mt), pod); err != nil {
			return err
		}
		attempt++
		if pod.UID != types.UID(mt.Spec.PodUID) {
			return nil
		}
		if !pod.DeletionTimestamp.IsZero() && podtask.IsTerminalPhase(mt.Status.Phase) {
			if err := removePod(ctx, s.Client, pod); err != nil {
				return err
			}
			s.Recorder.Eventf(pod, mt, corev1.EventTypeNormal, "Killed", "Kill", "Task %s ended (%s) after the pod's deletion; the pod is removed", mt.Spec.TaskID, mt.Status.MesosState)
			return nil
		}
		desired := podtask.PodStatusFor(pod, &mt.Status, ts.Data)
		if !podtask.PodStatusChanged(&pod.Status, &desired) {
			return nil
		}
		phase := pod.Status.Phase
		pod.Status = desired
		if err := s.Client.Status().Update(ctx, pod); err != nil {
			return err
		}
		if phase != pod.Status.Phase {
			s.podPhaseEvent(pod, mt)
		}
		return nil
	})
	return client.IgnoreNotFound(err)
}

// podPhaseEvent tells people what happened to their pod.
func (s *PodScheduler) podPhaseEvent(pod *corev1.Pod, mt *mesosv1alpha1.MesosTask) {
	switch pod.Status.Phase {
	case corev1.PodRunning:
		s.Recorder.Eventf(pod, mt, corev1.EventTypeNormal, "Running", "Run", "Task %s is running on agent %s", mt.Spec.TaskID, mt.Status.Hostname)
	case corev1.PodSucceeded:
		s.Recorder.Eventf(pod, mt, corev1.EventTypeNormal, "Finished", "Run", "Task %s finished", mt.Spec.TaskID)
	case corev1.PodFailed:
		s.Recorder.Eventf(pod, mt, corev1.EventTypeWarning, "Failed", "Run", "Task %s is %s: %s %s", mt.Spec.TaskID, mt.Status.MesosState, mt.Status.Reason, mt.Status.Message)
	}
}
