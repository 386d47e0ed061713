package scheduler

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/fifo"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/kubeletauth"
	"github.com/k8sm/k8sm/internal/metrics"
	"github.com/k8sm/k8sm/internal/placement"
	"github.com/k8sm/k8sm/internal/podtask"
)

const (
	// updateShards is how many workers persist status updates; updates of one task
	// always go to the same worker, so their order holds.
	updateShards = 16

	// launchWorkers bounds the launches prepared (recorded and bound) at once.
	launchWorkers = 32

	// DefaultReconcileInterval is how often tasks are reconciled besides after each
	// subscription.
	DefaultReconcileInterval = 15 * time.Minute
)

// Options are a Scheduler's settings and the objects it works with.
type Options struct {
	// Client reads through the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads from the API server itself, for the retry after a write lost to a
	// newer version than the cache holds. Optional: the cache is read again without it.
	APIReader client.Reader
	// Tasks finds a task's MesosTask and bound pod in the cache by task id
	// (indexer.Setup). Default: Client's field indexes, as a fake client keeps them.
	Tasks    indexer.Tasks
	Recorder events.EventRecorder
	Log      logr.Logger
	// ReconcileInterval is how often tasks are reconciled besides after each
	// subscription. Default DefaultReconcileInterval.
	ReconcileInterval time.Duration
	// StartingGrace is how long an acknowledged TASK_STARTING may wait to be written
	// (see updateLoop). Default DefaultStartingGrace; negative writes it at once.
	StartingGrace time.Duration
	// RecordIdle is how long an update worker must have had nothing to do before it
	// writes the MesosTask creates it deferred while busy (records.go). Default
	// DefaultRecordIdle; negative defers none.
	RecordIdle time.Duration
	// TasksInMemory: the MesosTasks are this process's alone (held in its memory), so a
	// new leader holds none. It makes each running task's again from its pod before it
	// asks Mesos about it (remakeRecords), and Mesos's answer only confirms it; and a pod
	// of a fixed name waits while the master lists agents it recovered and has not seen
	// again, where an earlier pod of that name may still run (namehold.go).
	TasksInMemory bool
	// Reviewer answers the executors' token and access reviews (messages.go); nil
	// answers none, and the executors' kubelet API refuses whom it cannot review.
	Reviewer kubeletauth.Reviewer
	// Signer files the executors' serving certificate requests with the cluster's
	// kubelet-serving signer (servingcert.go); nil files none, and the executors serve
	// self-signed certificates.
	Signer ServingSigner
	// SignTimeout bounds the wait for the signer's certificate. Default
	// DefaultSignTimeout.
	SignTimeout time.Duration
	// Wake asks for the MesosCluster's status to be made again, when something it
	// shows changed outside the driver: an executor's kubelet API port found held by
	// another process, or served again (KubeletAPIPortTaken). Optional.
	Wake func()
}

// Scheduler is the framework.Scheduler of one MesosCluster: it keeps the queue of
// pending MesosTasks, places them on offers, binds their pods and launches them, and
// persists every status update before acknowledging it.
type Scheduler struct {
	Options

	mu sync.Mutex
	// cluster is the MesosCluster, as of the driver's start or the last SetCluster.
	cluster *mesosv1alpha1.MesosCluster
	pending map[string]pendingTask // by task id
	// enqueued counts the queuings of tasks (pendingTask.seq).
	enqueued uint64
	// holds are the task ids Mesos may still hold, and deferred the tasks queued that
	// wait for their hold to end (taskids.go); heldIDWait is how long a hold lasts once
	// its end is uncertain (heldIDWait).
	holds      map[string]*idHold
	deferred   map[string]pendingTask
	heldIDWait time.Duration
	// refusals are the refusals in a row of tasks' launches for an id Mesos holds, by task
	// id (taskids.go).
	refusals map[string]*refusal
	// launches are the tasks this process launched whose MesosTask says nothing of it
	// yet: the first status write records where and when (see prepareLaunch).
	launches map[string]podtask.Launch // by task id
	// uncertain are the tasks whose ACCEPT failed, by task id, and when their launch
	// was sent: for launchInFlight Mesos's word that it does not know one may be older
	// than the ACCEPT it did get (unknownWhileLaunching).
	uncertain map[string]time.Time
	// unstored are the launches whose MesosTask is not written yet: their pods, by task
	// id (the cache may not show a pod bound when its task's first update comes).
	unstored map[string]types.NamespacedName
	// unstoredOf are the same task ids by pod (PodGone).
	unstoredOf map[types.NamespacedName][]string
	// boundUnsent are the tasks whose pods this process bound, or tried to bind, to a
	// Node, by task id, and whose launch it never sent: a bind that failed (its answer may
	// be lost, the pod bound all the same) or a round whose subscription ended. Such a pod
	// has no MesosTask, which says to any other process that its task may run (the
	// binding is the launch record); this one knows it does not, and launches it on its
	// Node's agent (launchable).
	boundUnsent map[string]string
	// written are the pods of launches whose MesosTask was written lately (owners.go).
	written writtenOwners
	// bound are the pods this process bound lately (antiaffinity.go).
	bound boundPods
	// executors are the executors this process launched, or the master listed, by
	// agent id (executors.go); executorsKnown is closed once the master's lists of the
	// current subscription, of the executors and of the tasks, are in (or could not be
	// had), and the tasks of pods gone recorded (earlier.go).
	executors      map[string]launchedExecutor
	executorsKnown chan struct{}
	// rejectedLaunches are the tasks whose ACCEPT the master rejected before its answer
	// came, by task id, with when (launchRejected).
	rejectedLaunches map[string]time.Time
	// round is the latest explicit reconciliation, and reconcileRetry the first wait for
	// its answers; reconcileAttempts counts the reconciliations started (reconcile.go).
	round             *round
	reconcileRetry    time.Duration
	reconcileAttempts uint64
	// askAfter is how long after a launch Mesos is asked about its task, where the launch
	// or Mesos's first answer left it uncertain (askLater): launchInFlight.
	askAfter time.Duration
	// earlierScanned: the tasks Mesos holds were looked at once (learnEarlierTasks);
	// from then on this process records every pod's task itself.
	earlierScanned bool
	// namesHeldFor is the subscription whose master lists agents it recovered and has
	// not seen again, while pods of fixed names wait for them (namehold.go); 0: none.
	namesHeldFor uint64
	// recoveredAgentsPoll is how often the master is asked whether the agents it
	// recovered have registered again (earlier.go); recoveredAgentsPoll when 0.
	recoveredAgentsPoll time.Duration
	suppressed          bool
	// filteredUntil is when the last refuse filter of a DECLINE or an ACCEPT's unused
	// resources runs out (Mesos keeps those resources away till then), and revived when
	// offers were last revived. Only a guess to spare REVIVEs: Mesos also clears the
	// filters when a subscription is lost (a REVIVE for nothing), and keeps each for an
	// allocation interval at least (a pod may wait that long). reviveOwed: work came
	// while they did, within minRevive of the last REVIVE (queueLocked), or the offers
	// held did not fit the new work they were given (heldNew, by task id:
	// reviveForHeldMisses).
	filteredUntil, revived time.Time
	reviveOwed             bool
	heldNew                map[string]struct{}
	offerCalls             sync.Mutex // orders SUPPRESS and REVIVE
	driver                 Driver
	offers                 chan offerBatch
	// held are the offers kept for the pods that come next, heldFrom the subscription
	// they came on, and rescinded the offers Mesos withdrew, by id, with when (hold.go);
	// wake tells the offer loop that work came while offers are held.
	held      []heldOffer
	heldFrom  offerSource
	rescinded map[string]time.Time
	wake      chan struct{}
	// heldSpare is the room of the offers the last round took from held, and
	// roundOffers that of the offers it placed: the next round uses them again.
	heldSpare   []heldOffer
	roundOffers []mesos.Offer
	// noVictims is the priority below which the last pass of preempt found no pod
	// running, until when it is believed, and what tasks are told of it (the offer
	// loop's alone).
	noVictims struct {
		below int32
		until time.Time
		why   string
	}
	// rooms are what each agent's offers left at its last round, by its Node's name, for
	// preemption (the offer loop's alone; preempt.go).
	rooms map[string]agentRoom
	// offerCache keeps the agents' Nodes and the offers read between placements; the
	// offer loop alone uses it.
	offerCache placement.Cache
	// updates are the workers' queues. They never make the sender wait: the framework's
	// event loop hands updates over, and an event loop held up by a slow API server would
	// miss the master's heartbeats and lose its subscription. They need no bound: an
	// agent sends a task's next update only once the previous one is acknowledged, and
	// copies of an update sent again are dropped while it is queued (queued), so a queue
	// holds about one update (and one reconciliation answer) per task.
	updates [updateShards]*fifo.Queue[statusUpdate]
	// queued are the uuids of the agents' updates in the workers' queues (updates.go).
	queued  queuedUpdates
	started bool
	stop    context.CancelFunc
	metrics metrics.Cluster
	// reviews bounds the executors' reviews answered at once.
	reviews reviewLimits
	// kubelet is what the executors serve the kubelet API with (agentconfig.go).
	kubelet kubeletAPIState
	// signing is the executors' serving certificate requests under way (servingcert.go).
	signing *signingState
}

var _ framework.Scheduler = (*Scheduler)(nil)

// New makes the scheduler of a cluster; Start runs it.
func New(mc *mesosv1alpha1.MesosCluster, o Options) *Scheduler {
	if o.Tasks == nil {
		o.Tasks = indexer.ListTasks{Reader: o.Client}
	}
	s := &Scheduler{Options: o, cluster: mc.DeepCopy(),
		pending: map[string]pendingTask{}, holds: map[string]*idHold{}, deferred: map[string]pendingTask{}, heldNew: map[string]struct{}{}, heldIDWait: heldIDWait, refusals: map[string]*refusal{},
		launches: map[string]podtask.Launch{}, uncertain: map[string]time.Time{}, boundUnsent: map[string]string{}, unstored: map[string]types.NamespacedName{}, unstoredOf: map[types.NamespacedName][]string{},
		offers: make(chan offerBatch, 64), rescinded: map[string]time.Time{}, wake: make(chan struct{}, 1), metrics: metrics.Cluster(mc.Name),
		kubelet: newKubeletAPIState(), signing: newSigningState(), reconcileRetry: reconcileRetry, askAfter: launchInFlight, queued: queuedUpdates{uuids: map[string]struct{}{}}}
	for i := range s.updates {
		s.updates[i] = fifo.New[statusUpdate]()
	}
	return s
}

// Start runs the offer, reconciliation and update loops until ctx ends.
func (s *Scheduler) Start(ctx context.Context) {
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

// SetCluster records a newer version of the cluster (placement settings, the kubelet
// API's port, which the executors are sent when it changes).
func (s *Scheduler) SetCluster(mc *mesosv1alpha1.MesosCluster) {
	s.mu.Lock()
	s.cluster = mc.DeepCopy()
	s.mu.Unlock()
	s.pushKubeletConfig()
}

// clusterName is the name of the scheduler's MesosCluster.
func (s *Scheduler) clusterName() string { return s.currentCluster().Name }

// currentCluster is the scheduler's MesosCluster as last set; SetCluster replaces it
// whole, so it is read, never changed.
func (s *Scheduler) currentCluster() *mesosv1alpha1.MesosCluster {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cluster
}

// setDriver records the connection the latest callback came on.
func (s *Scheduler) setDriver(d Driver) {
	s.mu.Lock()
	s.driver = d
	s.mu.Unlock()
}

// currentDriver is the connection of the latest callback, nil before the first.
func (s *Scheduler) currentDriver() Driver {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.driver
}

// Subscribed reconciles the cluster's tasks with Mesos after each subscription: every
// launched, non-terminal task explicitly, then all of them implicitly.
func (s *Scheduler) Subscribed(ctx context.Context, d *framework.Driver) { s.subscribed(ctx, d) }

func (s *Scheduler) subscribed(ctx context.Context, d Driver) {
	known := make(chan struct{})
	s.mu.Lock()
	s.driver = d
	s.suppressed = false
	s.executorsKnown = known
	scan := !s.earlierScanned
	s.mu.Unlock()
	go func() {
		defer close(known)
		var wg sync.WaitGroup
		wg.Go(func() { s.learnExecutors(ctx, d) })
		if scan {
			// Once the tasks are reconciled: the reconciliation is what a failover waits
			// for, and the two shared the CPU (earlier.go).
			wg.Go(func() {
				s.awaitReconciled(ctx, d.Subscription())
				if s.learnEarlierTasks(ctx, d) {
					s.scanned()
				}
			})
		}
		wg.Wait()
	}()
	go s.reconcileTasks(ctx, d)
}

// Offers hands offers to the offer loop without blocking the event stream.
func (s *Scheduler) Offers(ctx context.Context, d *framework.Driver, offers []mesos.Offer) {
	s.offered(ctx, d, offers)
}

func (s *Scheduler) offered(ctx context.Context, d Driver, offers []mesos.Offer) {
	s.setDriver(d)
	s.metrics.OffersReceived(len(offers))
	b := offerBatch{offers: offers, from: sourceOf(d)}
	select {
	case s.offers <- b:
	default:
		s.decline(ctx, b.from, offerIDs(offers), time.Second)
	}
}

// Rescind records an offer Mesos withdrew, so that it is not held or used again
// (hold.go). One that a round uses before the RESCIND arrives makes at worst one ACCEPT
// fail with TASK_DROPPED, whose tasks are launched again.
func (s *Scheduler) Rescind(_ context.Context, id mesos.OfferID) {
	s.metrics.OfferRescinded()
	s.mu.Lock()
	s.rescinded[id.Value] = time.Now()
	s.mu.Unlock()
}

// Update hands a status update to the worker of its task.
func (s *Scheduler) Update(ctx context.Context, status mesos.TaskStatus, ack func(context.Context) error) {
	s.metrics.StatusUpdate(status.GetState().String())
	s.toWorker(statusUpdate{status: status, ack: ack})
}
