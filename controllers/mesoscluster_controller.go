package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/metrics"
	"github.com/k8sm/k8sm/internal/scheduler"
	"github.com/k8sm/k8sm/internal/taskstore"
)

const (
	// FrameworkFinalizer keeps a MesosCluster until its framework is torn down or orphaned.
	FrameworkFinalizer = "mesos.k8sm.io/framework"

	// Condition reasons of a MesosCluster.
	ReasonSubscribed            = "Subscribed"
	ReasonConnecting            = "Connecting"
	ReasonSchedulerNameConflict = "SchedulerNameConflict"
	ReasonCredentialsNotFound   = "CredentialsSecretNotFound"
	ReasonCredentialsInvalid    = "CredentialsInvalid"
	// ReasonCredentialsNeedTLS: credentials would go to a master without TLS, which the
	// cluster does not allow.
	ReasonCredentialsNeedTLS = "CredentialsNeedTLS"
	// ReasonPlaintextCredentials (Degraded only): the cluster lets its credentials go to a
	// master without TLS.
	ReasonPlaintextCredentials = "PlaintextCredentials"
	// ReasonUnverifiedMaster (Degraded only): the cluster's credentials go to masters
	// whose certificates it does not verify (spec.tls.insecureSkipVerify).
	ReasonUnverifiedMaster = "UnverifiedMasterCredentials"
	ReasonCASecretNotFound = "CASecretNotFound"
	ReasonCAInvalid        = "CAInvalid"
	ReasonInvalidMaster    = "InvalidMaster"
	// Mesos's refusals a person acts on, as the disconnects' metric counts them too.
	ReasonFrameworkRemoved       = framework.ReasonFrameworkRemoved
	ReasonFrameworkTakenOver     = framework.ReasonFrameworkTakenOver
	ReasonPrincipalChangeRefused = framework.ReasonPrincipalChangeRefused
	ReasonShortFailoverTimeout   = "ShortFailoverTimeout"
	// ReasonInvalidNamespaceSelector: spec.namespaceSelector is no label selector, and
	// the cluster takes no pod.
	ReasonInvalidNamespaceSelector = "InvalidNamespaceSelector"
	ReasonTasksReconciled          = "TasksReconciled"
	ReasonReconciling              = "Reconciling"
	ReasonNotSubscribed            = "NotSubscribed"
	ReasonAsExpected               = "AsExpected"
	ReasonTeardownPending          = "TeardownPending"
	// ReasonAgentsUnlisted: subscribed, but the master's operator API does not list the
	// agents (e.g. the principal may not GET_AGENTS), so capacity comes from offers.
	ReasonAgentsUnlisted = "AgentsNotListed"
	// ReasonTasksUnlisted: subscribed, but the master's operator API did not list the
	// tasks it holds (e.g. the principal may not VIEW_TASK), so the task of a pod removed
	// while no manager led is known only once Mesos reports it.
	ReasonTasksUnlisted = "TasksNotListed"
	// ReasonScheduleUnread: subscribed, but the master's maintenance schedule could not
	// be read whole (the call failed, or the master's ACLs hide machines from the
	// principal), so a cancelled window may show only at the agent's next offer.
	ReasonScheduleUnread = "MaintenanceScheduleNotRead"
	// ReasonSecretNamespace: a Secret ref names a namespace other than the manager's, the
	// only one it may read Secrets from; the Secret is not read.
	ReasonSecretNamespace = "SecretNamespaceNotAllowed"

	// statusResync is how often a cluster's status is refreshed from its driver without events.
	statusResync = 30 * time.Second
	// minSafeFailoverTimeout is the shortest failover timeout that outlasts what
	// disconnects the framework in the ordinary run of things: a manager's restart or
	// failover (its leader election Lease, 6 s, and a subscription), a master's failover.
	minSafeFailoverTimeout = time.Minute
	// secretRetry is how soon a Secret that could not be read is read again while the
	// driver runs on.
	secretRetry = 5 * time.Second
)

// SchedulerFactory makes the Scheduler that handles a cluster's offers and updates.
type SchedulerFactory func(mc *mesosv1alpha1.MesosCluster) framework.Scheduler

// MesosClusterReconciler runs one framework Driver per MesosCluster and keeps the
// cluster's status from it.
type MesosClusterReconciler struct {
	client.Client
	// APIReader reads Secrets without caching every Secret of the cluster.
	APIReader client.Reader
	Recorder  events.EventRecorder
	// NewScheduler, when set, gives each driver its scheduler; nil declines every offer.
	NewScheduler SchedulerFactory
	// Tasks finds tasks by id, for the schedulers (indexer.Setup).
	Tasks indexer.Tasks
	// Store holds the MesosTasks, whose phases the counts follow. Required.
	Store *taskstore.Store
	// DriverOptions adjust each driver's config (tests shorten backoffs).
	DriverOptions func(*framework.Config)
	// Registry holds the running drivers and schedulers, which the other reconcilers
	// read. Required.
	Registry *scheduler.Registry
	// ReconcileInterval is how often each cluster's tasks are reconciled with Mesos
	// besides after every subscription. Default 15m.
	ReconcileInterval time.Duration
	// RecordIdle is the schedulers' scheduler.Options.RecordIdle: how long an update
	// worker waits idle before it writes the MesosTasks a burst deferred; negative
	// defers none (the MesosTasks in memory cost the API server nothing). Default
	// scheduler.DefaultRecordIdle.
	RecordIdle time.Duration
	// TasksInMemory is the schedulers' scheduler.Options.TasksInMemory: the MesosTasks
	// are held in memory, gone with their leader.
	TasksInMemory bool
	// SecretNamespace is the only namespace Secrets are read from (the manager's own);
	// a ref elsewhere is refused before any read. Empty: any namespace (see
	// Options.AnySecretNamespace).
	SecretNamespace string

	wakeups <-chan event.GenericEvent
	// statusWrites holds, by cluster, the resourceVersion of this process's latest status
	// write (writeStatus).
	statusWrites sync.Map
	// outageTolerations: the API server has the OutageToleration kind, and the reconciler
	// writes each cluster's (ensureOutageToleration).
	outageTolerations bool
	// kubernetes names this Kubernetes cluster in the frameworks' labels (frameworkLabels).
	kubernetes kubernetesID
}

// Driver returns the running driver of a cluster, if any.
func (r *MesosClusterReconciler) Driver(name string) *framework.Driver {
	return r.Registry.Driver(name)
}

// Reconcile drives one MesosCluster. A conflict (a write from a cache that had not seen
// the cluster's latest version, as writeStatus makes on purpose) is a normal race, not a
// failure: the pass is tried again shortly, with the newer cluster.
func (r *MesosClusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	res, err := r.reconcile(ctx, req)
	if apierrors.IsConflict(err) {
		ctrl.LoggerFrom(ctx).V(1).Info("The MesosCluster changed since it was read; trying again", "error", err.Error())
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	return res, err
}

// forget drops what the reconciler and the registry hold of a cluster that is gone.
func (r *MesosClusterReconciler) forget(name string) {
	r.statusWrites.Delete(name)
	r.Registry.StopDriver(name)
	r.Registry.DropScheduler(name)
	metrics.Forget(name)
}

// notReady says whether a pass is to wait: for the Kubernetes cluster's name, which a
// driver's config carries (read once), and for the MesosTasks, which a new leader may
// still be loading (from a copy, or the CRD it takes over): subscribed before, the
// scheduler would take every bound pod for unrecorded and remake its MesosTask, which
// the load would then not replace, and the counts would say none.
func (r *MesosClusterReconciler) notReady(ctx context.Context) (bool, error) {
	if err := r.kubernetes.load(ctx, r); err != nil {
		return true, err
	}
	return r.Store != nil && !r.Store.Synced(), nil
}

// storeSyncWait is how soon a pass that found the MesosTasks not loaded yet is tried again.
const storeSyncWait = 200 * time.Millisecond

// conflictRetry is how soon a pass that met a conflict is tried again.
const conflictRetry = 100 * time.Millisecond

func (r *MesosClusterReconciler) reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	mc := &mesosv1alpha1.MesosCluster{}
	if err := r.Get(ctx, req.NamespacedName, mc); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if wait, err := r.notReady(ctx); wait || err != nil {
		return ctrl.Result{RequeueAfter: storeSyncWait}, err
	}

	if !mc.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, mc)
	}
	// Its series exist, at 0, from its first pass (not in finalize: Forget is the last
	// word on them), the disconnects by the refusals a person acts on included.
	metrics.Cluster(mc.Name).Init(ReasonFrameworkRemoved, ReasonFrameworkTakenOver, ReasonPrincipalChangeRefused)
	if controllerutil.AddFinalizer(mc, FrameworkFinalizer) {
		if err := r.Update(ctx, mc); err != nil {
			return ctrl.Result{}, err
		}
	}

	status := mc.Status.DeepCopy()
	status.ObservedGeneration = mc.Generation

	if winner, err := r.schedulerNameOwner(ctx, mc); err != nil {
		return ctrl.Result{}, err
	} else if winner != mc.Name {
		r.Registry.StopDriver(mc.Name)
		r.removeOutageToleration(ctx, mc)
		r.setBroken(mc, status, ReasonSchedulerNameConflict, schedulerNameConflictMessage(mc, winner))
		return ctrl.Result{}, r.writeBrokenStatus(ctx, mc, status)
	}

	// Its pods get their outage tolerations as they are created, whether or not the
	// framework is connected yet.
	r.ensureOutageToleration(ctx, mc)

	cfg, reason, err := r.driverConfig(ctx, mc)
	if d := r.Registry.Driver(mc.Name); err != nil && d != nil && secretUnread(err) {
		// The running driver keeps its subscription, made with what it read before: a
		// busy API server, or a Secret deleted to be made again, is no reason to drop it.
		log.Info("Keeping the framework's subscription: a Secret it was made from cannot be read", "reason", reason, "message", err.Error())
		// The driver runs the spec of the generation last observed, not this one's, which
		// is neither applied nor handed to the scheduler: what the status says of the
		// framework is of that generation, and so is status.observedGeneration. Degraded,
		// which says why, is of this one.
		driven := *mc
		driven.Generation = mc.Status.ObservedGeneration
		status.ObservedGeneration = driven.Generation
		r.statusFromDriver(&driven, status, d.Status())
		recordPrincipal(status, d)
		setDegraded(status, mc.Generation, degradation{true, reason,
			err.Error() + ": the framework keeps its subscription with what was read before, and cannot subscribe again without it"})
		return ctrl.Result{RequeueAfter: secretRetry}, r.writeStatus(ctx, mc, status)
	}
	if err != nil {
		r.Registry.StopDriver(mc.Name)
		r.setBroken(mc, status, reason, err.Error())
		log.Info("Cannot connect the framework", "reason", reason, "message", err.Error())
		return ctrl.Result{RequeueAfter: statusResync}, r.writeBrokenStatus(ctx, mc, status)
	}

	replaced := r.Registry.Driver(mc.Name)
	d, err := r.ensureDriver(mc, cfg)
	if err != nil {
		r.setBroken(mc, status, ReasonInvalidMaster, err.Error())
		return ctrl.Result{}, r.writeBrokenStatus(ctx, mc, status)
	}
	// Degraded says one thing at a time, the framework's own first.
	degraded := r.statusFromDriver(mc, status, d.Status())
	recordPrincipal(status, d, replaced)
	ca, caReadFailed, degraded := r.kubeletAPIStatus(ctx, mc, degraded)
	setDegraded(status, mc.Generation, degraded)
	if err := r.countTasks(ctx, mc, status); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.writeStatus(ctx, mc, status); err != nil {
		return ctrl.Result{}, err
	}
	// The scheduler learns the cluster as written: its placement settings, the framework
	// id it may launch under once that id is persisted (see scheduler.handleOffers), and
	// what the executors serve the kubelet API with.
	if s := r.Registry.Scheduler(mc.Name); s != nil {
		s.SetCluster(mc)
		if !caReadFailed {
			s.SetKubeletClientCA(ca)
		}
	}
	return ctrl.Result{RequeueAfter: statusResync}, nil
}

// writeBrokenStatus writes the status of a cluster whose framework cannot run: its
// tasks are still counted, since their MesosTasks and pods are still there.
func (r *MesosClusterReconciler) writeBrokenStatus(ctx context.Context, mc *mesosv1alpha1.MesosCluster, status *mesosv1alpha1.MesosClusterStatus) error {
	if err := r.countTasks(ctx, mc, status); err != nil {
		return err
	}
	return r.writeStatus(ctx, mc, status)
}

// finalize tears the framework down (or orphans it) and lets the cluster go.
func (r *MesosClusterReconciler) finalize(ctx context.Context, mc *mesosv1alpha1.MesosCluster) (ctrl.Result, error) {
	r.removeOutageToleration(ctx, mc)
	// The scheduler learns that the cluster goes, and launches nothing more: its driver
	// stays subscribed until the framework is torn down, or, orphaned, until every task is
	// let go, and a pod bound meanwhile would run in Mesos with no cluster left.
	if s := r.Registry.Scheduler(mc.Name); s != nil {
		s.SetCluster(mc)
	}
	if !controllerutil.ContainsFinalizer(mc, FrameworkFinalizer) {
		r.Registry.StopDriver(mc.Name)
		return ctrl.Result{}, nil
	}
	d := r.Driver(mc.Name)
	// The framework id is the one written to the status, or the one the driver
	// subscribed with and has not seen written yet: a teardown is never skipped for
	// want of it.
	id := mc.Status.FrameworkID
	if id == "" && d != nil {
		id = d.FrameworkID()
	}
	if mc.Spec.DeletionPolicy != mesosv1alpha1.DeletionOrphan && id != "" {
		// Removed, as Mesos said to this driver, or to an earlier process's, as the
		// status recorded (a manager that restarted has no driver to say it yet, and
		// would wait to reach the master to tear down a framework that is gone).
		removed := frameworkRemoved(mc, r.Registry) || (d != nil && isFrameworkRemoved(d.Status().Refused))
		if !removed && (d == nil || !d.Subscribed()) {
			return r.teardownPending(ctx, mc, id, d)
		}
		if !removed {
			if err := d.Teardown(ctx); err != nil {
				return ctrl.Result{}, fmt.Errorf("tearing down framework %s: %w", id, err)
			}
			r.Recorder.Eventf(mc, nil, corev1.EventTypeNormal, "TornDown", "Teardown", "Framework %s torn down; Mesos kills its tasks", id)
		}
		// Nothing subscribes the framework again: the driver would, refused as removed
		// until a master fails over, which forgets the frameworks removed before it (a
		// teardown's is not in Mesos's registry), and then take the framework back, with
		// no cluster left to tear it down. A pass that fails from here starts a driver
		// again to find the framework removed, or to tear it down again.
		r.Registry.StopDriver(mc.Name)
	}
	if err := r.releaseTasks(ctx, mc); err != nil {
		return ctrl.Result{}, err
	}
	r.recordOrphaned(mc, id)
	// Let the cluster go (the latest version of it: the teardown is not sent twice).
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		latest := &mesosv1alpha1.MesosCluster{}
		if err := r.Get(ctx, client.ObjectKeyFromObject(mc), latest); err != nil {
			return err
		}
		if !controllerutil.RemoveFinalizer(latest, FrameworkFinalizer) {
			return nil
		}
		return r.Update(ctx, latest)
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	r.Registry.StopDriver(mc.Name)
	r.Registry.DropScheduler(mc.Name)
	metrics.Forget(mc.Name)
	return ctrl.Result{}, nil
}

// recordOrphaned tells, on a cluster deleted with deletionPolicy Orphan, which framework
// Mesos keeps and for how long. Its pods go with the cluster's Nodes; a cluster made again
// under its name takes it back (mesoscluster_earlier.go) and kills its tasks. The event
// is what an operator has left to end its tasks sooner, with the master's
// /master/teardown.
func (r *MesosClusterReconciler) recordOrphaned(mc *mesosv1alpha1.MesosCluster, id string) {
	if mc.Spec.DeletionPolicy != mesosv1alpha1.DeletionOrphan || id == "" {
		return
	}
	r.Recorder.Eventf(mc, nil, corev1.EventTypeNormal, "Orphaned", "Orphan",
		"Framework %s left to Mesos: its tasks run on until it has been disconnected for its failover timeout (%s); "+
			"a MesosCluster made again under this name takes the framework back and kills them, as their pods are gone; POST frameworkId=%s to the master's /master/teardown to end them sooner",
		id, failoverTimeout(mc), id)
}

// schedulerNameOwner returns the cluster that owns mc's schedulerName: of the clusters
// using it, the ones that already hold it (processed and not in conflict) come first,
// then the oldest (by creation, then by name).
func (r *MesosClusterReconciler) schedulerNameOwner(ctx context.Context, mc *mesosv1alpha1.MesosCluster) (string, error) {
	var list mesosv1alpha1.MesosClusterList
	if err := r.List(ctx, &list, client.MatchingFields{indexer.ClusterSchedulerName: mc.Spec.SchedulerName}); err != nil {
		return "", err
	}
	holds := func(c *mesosv1alpha1.MesosCluster) bool {
		ready := meta.FindStatusCondition(c.Status.Conditions, mesosv1alpha1.ConditionReady)
		return ready != nil && ready.Reason != ReasonSchedulerNameConflict
	}
	owner := mc
	for i := range list.Items {
		o := &list.Items[i]
		if o.Name == mc.Name || !o.DeletionTimestamp.IsZero() {
			continue
		}
		if holds(o) != holds(owner) {
			if holds(o) {
				owner = o
			}
			continue
		}
		if o.CreationTimestamp.Before(&owner.CreationTimestamp) ||
			(o.CreationTimestamp.Equal(&owner.CreationTimestamp) && o.Name < owner.Name) {
			owner = o
		}
	}
	return owner.Name, nil
}

// schedulerNameConflictMessage says what to do about a cluster whose schedulerName
// winner holds. The CRD makes schedulerName immutable (the pods a cluster scheduled
// refer to it), so the cluster has to be made again; deleting it tears down the
// framework it registered, which one that never held the name has not.
func schedulerNameConflictMessage(mc *mesosv1alpha1.MesosCluster, winner string) string {
	msg := fmt.Sprintf("MesosCluster %q already uses schedulerName %q, and a schedulerName cannot be changed: "+
		"delete this MesosCluster and create it again with another schedulerName", winner, mc.Spec.SchedulerName)
	if id := mc.Status.FrameworkID; id != "" {
		return msg + fmt.Sprintf(" (deleting it tears its framework %s down, unless its deletionPolicy is Orphan)", id)
	}
	return msg + " (it has no framework yet: nothing is torn down)"
}

// SetupWithManager registers the reconciler. It reads the indexer's ClusterSchedulerName
// and ClusterRef indexes.
func (r *MesosClusterReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Registry == nil || r.Store == nil {
		return errors.New("the MesosCluster reconciler needs the Registry and the Store")
	}
	r.wakeups = r.Registry.Listen()
	b := ctrl.NewControllerManagedBy(mgr).
		// Not on its own status writes: under load the task counts change between any two
		// passes, and each write would start the next pass at once.
		For(&mesosv1alpha1.MesosCluster{}, builder.WithPredicates(notStatusOnly)).
		WatchesRawSource(source.Channel(r.wakeups, &handler.EnqueueRequestForObject{})).
		// A cluster that gives up its schedulerName lets the next one in.
		Watches(&mesosv1alpha1.MesosCluster{}, handler.EnqueueRequestsFromMapFunc(r.sameSchedulerName)).
		// Task counts follow the tasks' phases, at most every countDelay: counting is
		// O(tasks), and thousands of tasks change phase at once.
		WatchesRawSource(r.Store.Source(delayedClusterEnqueue{}, taskPhaseChanged))
	r.outageTolerations = servesOutageTolerations(mgr.GetRESTMapper())
	if r.outageTolerations {
		// Its OutageToleration is written again if it is changed or removed.
		b = b.Owns(&mesosv1alpha1.OutageToleration{})
	} else {
		mgr.GetLogger().Info("The API server has no OutageToleration kind (its CRD, in config/crd, is not installed): " +
			"the outage tolerations policy finds no parameters, and the manager writes the pods' outage tolerations itself; " +
			"restart the manager once the CRD is installed")
	}
	return b.Named("mesoscluster").Complete(r)
}

// servesOutageTolerations says whether the API server has the OutageToleration kind. An
// install that updated the manager and not its CRDs lacks it: the manager then runs
// without OutageTolerations (the policy is an optimization) rather than waiting for
// their informer until its cache sync times out and the manager stops.
func servesOutageTolerations(m meta.RESTMapper) bool {
	_, err := m.RESTMapping(mesosv1alpha1.GroupVersion.WithKind("OutageToleration").GroupKind(), mesosv1alpha1.GroupVersion.Version)
	return err == nil
}

// sameSchedulerName wakes the other clusters that share a cluster's schedulerName.
func (r *MesosClusterReconciler) sameSchedulerName(ctx context.Context, o client.Object) []ctrl.Request {
	mc := o.(*mesosv1alpha1.MesosCluster)
	var list mesosv1alpha1.MesosClusterList
	if err := r.List(ctx, &list, client.MatchingFields{indexer.ClusterSchedulerName: mc.Spec.SchedulerName}); err != nil {
		return nil
	}
	var reqs []ctrl.Request
	for _, other := range list.Items {
		if other.Name != mc.Name {
			reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&other)})
		}
	}
	return reqs
}

// countDelay is how long a change of task phase waits before the counts are redone; the
// work queue folds the changes of that time into one reconcile.
const countDelay = 2 * time.Second

// delayedClusterEnqueue enqueues a task's cluster after countDelay.
type delayedClusterEnqueue struct{}

func (delayedClusterEnqueue) add(o client.Object, q workqueue.TypedRateLimitingInterface[ctrl.Request]) {
	if mt, ok := o.(*mesosv1alpha1.MesosTask); ok {
		q.AddAfter(ctrl.Request{NamespacedName: client.ObjectKey{Name: mt.Spec.ClusterRef}}, countDelay)
	}
}

func (h delayedClusterEnqueue) Create(_ context.Context, e event.TypedCreateEvent[client.Object], q workqueue.TypedRateLimitingInterface[ctrl.Request]) {
	h.add(e.Object, q)
}

func (h delayedClusterEnqueue) Update(_ context.Context, e event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[ctrl.Request]) {
	h.add(e.ObjectNew, q)
}

func (h delayedClusterEnqueue) Delete(_ context.Context, e event.TypedDeleteEvent[client.Object], q workqueue.TypedRateLimitingInterface[ctrl.Request]) {
	h.add(e.Object, q)
}

func (h delayedClusterEnqueue) Generic(_ context.Context, e event.TypedGenericEvent[client.Object], q workqueue.TypedRateLimitingInterface[ctrl.Request]) {
	h.add(e.Object, q)
}

// notStatusOnly passes every change of a cluster but one to its status alone, which
// only this controller writes.
var notStatusOnly = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld, e.ObjectNew
		return o.GetGeneration() != n.GetGeneration() ||
			!equality.Semantic.DeepEqual(o.GetDeletionTimestamp(), n.GetDeletionTimestamp()) ||
			!equality.Semantic.DeepEqual(o.GetFinalizers(), n.GetFinalizers()) ||
			!equality.Semantic.DeepEqual(o.GetLabels(), n.GetLabels()) ||
			!equality.Semantic.DeepEqual(o.GetAnnotations(), n.GetAnnotations())
	},
}

// taskPhaseChanged passes task creations, deletions and phase changes.
var taskPhaseChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld.(*mesosv1alpha1.MesosTask), e.ObjectNew.(*mesosv1alpha1.MesosTask)
		return o.Status.Phase != n.Status.Phase
	},
}
