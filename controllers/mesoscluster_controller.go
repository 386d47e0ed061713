package controllers

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/metrics"
)

const (
	// FrameworkFinalizer keeps a MesosCluster until its framework is torn down or orphaned.
	FrameworkFinalizer = "mesos.k8sm.io/framework"

	// SchedulerNameIndex indexes MesosClusters by spec.schedulerName.
	SchedulerNameIndex = "spec.schedulerName"

	// Condition reasons of a MesosCluster.
	ReasonSubscribed            = "Subscribed"
	ReasonConnecting            = "Connecting"
	ReasonSchedulerNameConflict = "SchedulerNameConflict"
	ReasonCredentialsNotFound   = "CredentialsSecretNotFound"
	ReasonCredentialsInvalid    = "CredentialsInvalid"
	ReasonCASecretNotFound      = "CASecretNotFound"
	ReasonCAInvalid             = "CAInvalid"
	ReasonInvalidMaster         = "InvalidMaster"
	ReasonFrameworkRemoved      = "FrameworkRemoved"
	ReasonTasksReconciled       = "TasksReconciled"
	ReasonReconciling           = "Reconciling"
	ReasonNotSubscribed         = "NotSubscribed"
	ReasonAsExpected            = "AsExpected"
	ReasonTeardownPending       = "TeardownPending"
	// ReasonAgentsUnlisted: subscribed, but the master's operator API does not list the
	// agents (e.g. the principal may not GET_AGENTS), so capacity comes from offers.
	ReasonAgentsUnlisted = "AgentsNotListed"

	// statusResync is how often a cluster's status is refreshed from its driver without events.
	statusResync = 30 * time.Second
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
	// DriverOptions adjust each driver's config (tests shorten backoffs).
	DriverOptions func(*framework.Config)
	// Drivers holds the running drivers; other controllers read it.
	Drivers *Drivers
	// ReconcileInterval is how often each cluster's tasks are reconciled with Mesos
	// besides after every subscription. Default 15m.
	ReconcileInterval time.Duration

	wakeups <-chan event.GenericEvent
}

// Driver returns the running driver of a cluster, if any.
func (r *MesosClusterReconciler) Driver(name string) *framework.Driver {
	return r.Drivers.Get(name)
}

// Reconcile drives one MesosCluster.
func (r *MesosClusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	mc := &mesosv1alpha1.MesosCluster{}
	if err := r.Get(ctx, req.NamespacedName, mc); err != nil {
		if apierrors.IsNotFound(err) {
			r.stopDriver(req.Name)
			r.Drivers.dropScheduler(req.Name)
			metrics.Forget(req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}

	if !mc.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, mc)
	}
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
		r.stopDriver(mc.Name)
		msg := fmt.Sprintf("MesosCluster %q already uses schedulerName %q; pick another schedulerName for this one", winner, mc.Spec.SchedulerName)
		r.setBroken(mc, status, ReasonSchedulerNameConflict, msg)
		return ctrl.Result{}, r.writeStatus(ctx, mc, status)
	}

	cfg, reason, err := r.driverConfig(ctx, mc)
	if err != nil {
		r.stopDriver(mc.Name)
		r.setBroken(mc, status, reason, err.Error())
		log.Info("Cannot connect the framework", "reason", reason, "message", err.Error())
		return ctrl.Result{RequeueAfter: statusResync}, r.writeStatus(ctx, mc, status)
	}

	if s := r.Drivers.Scheduler(mc.Name); s != nil {
		s.SetCluster(mc)
	}
	d, err := r.ensureDriver(mc, cfg)
	if err != nil {
		r.setBroken(mc, status, ReasonInvalidMaster, err.Error())
		return ctrl.Result{}, r.writeStatus(ctx, mc, status)
	}
	r.statusFromDriver(mc, status, d.Status())
	if err := r.countTasks(ctx, mc, status); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: statusResync}, r.writeStatus(ctx, mc, status)
}

// finalize tears the framework down (or orphans it) and lets the cluster go.
func (r *MesosClusterReconciler) finalize(ctx context.Context, mc *mesosv1alpha1.MesosCluster) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(mc, FrameworkFinalizer) {
		r.stopDriver(mc.Name)
		return ctrl.Result{}, nil
	}
	if mc.Spec.DeletionPolicy != mesosv1alpha1.DeletionOrphan && mc.Status.FrameworkID != "" {
		d := r.Driver(mc.Name)
		removed := d != nil && isFrameworkRemoved(d.Status().Refused)
		if !removed && (d == nil || !d.Subscribed()) {
			status := mc.Status.DeepCopy()
			msg := "Waiting to reach the master to tear the framework down; set deletionPolicy: Orphan to let go without it"
			meta.SetStatusCondition(&status.Conditions, metav1.Condition{Type: mesosv1alpha1.ConditionDegraded,
				Status: metav1.ConditionTrue, Reason: ReasonTeardownPending, Message: msg, ObservedGeneration: mc.Generation})
			if d == nil {
				// Connect so that the teardown can be sent.
				if cfg, _, err := r.driverConfig(ctx, mc); err == nil {
					_, _ = r.ensureDriver(mc, cfg)
				}
			}
			return ctrl.Result{RequeueAfter: 2 * time.Second}, r.writeStatus(ctx, mc, status)
		}
		if !removed {
			if err := d.Teardown(ctx); err != nil {
				return ctrl.Result{}, fmt.Errorf("tearing down framework %s: %w", mc.Status.FrameworkID, err)
			}
			r.Recorder.Eventf(mc, nil, corev1.EventTypeNormal, "TornDown", "Teardown", "Framework %s torn down; Mesos kills its tasks", mc.Status.FrameworkID)
		}
	}
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
	r.stopDriver(mc.Name)
	r.Drivers.dropScheduler(mc.Name)
	metrics.Forget(mc.Name)
	return ctrl.Result{}, nil
}

// schedulerNameOwner returns the cluster that owns mc's schedulerName: of the clusters
// using it, the ones that already hold it (processed and not in conflict) come first,
// then the oldest (by creation, then by name).
func (r *MesosClusterReconciler) schedulerNameOwner(ctx context.Context, mc *mesosv1alpha1.MesosCluster) (string, error) {
	var list mesosv1alpha1.MesosClusterList
	if err := r.List(ctx, &list, client.MatchingFields{SchedulerNameIndex: mc.Spec.SchedulerName}); err != nil {
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

// driverConfig builds the framework config of a cluster, reading its Secrets. On error
// it also returns the condition reason.
func (r *MesosClusterReconciler) driverConfig(ctx context.Context, mc *mesosv1alpha1.MesosCluster) (framework.Config, string, error) {
	cfg := framework.Config{
		Name:          mc.Name,
		Master:        mc.Spec.Master,
		FrameworkInfo: FrameworkInfo(mc),
		Log:           ctrl.LoggerFrom(ctx).WithValues("mesoscluster", mc.Name),
	}
	fw := mc.Spec.Framework
	if ref := fw.CredentialsSecretRef; ref != nil {
		data, reason, err := r.secretData(ctx, ref, "framework.credentialsSecretRef", ReasonCredentialsNotFound)
		if err != nil {
			return cfg, reason, err
		}
		for _, k := range []string{"principal", "secret"} {
			if len(data[k]) == 0 {
				return cfg, ReasonCredentialsInvalid, fmt.Errorf("Secret %s/%s (framework.credentialsSecretRef) has no key %q", ref.Namespace, ref.Name, k) //nolint:staticcheck // a condition message, a sentence
			}
		}
		cfg.Credentials = &framework.Credentials{Principal: string(data["principal"]), Secret: string(data["secret"])}
	}
	if t := mc.Spec.TLS; t != nil {
		cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // the user asked for it
		if ref := t.CASecretRef; ref != nil {
			data, reason, err := r.secretData(ctx, ref, "tls.caSecretRef", ReasonCASecretNotFound)
			if err != nil {
				return cfg, reason, err
			}
			key := ref.Key
			if key == "" {
				key = "ca.crt"
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(data[key]) {
				return cfg, ReasonCAInvalid, fmt.Errorf("Secret %s/%s (tls.caSecretRef) has no PEM certificate under key %q", ref.Namespace, ref.Name, key) //nolint:staticcheck // a condition message, a sentence
			}
			cfg.TLS.RootCAs = pool
		}
	}
	if r.DriverOptions != nil {
		r.DriverOptions(&cfg)
	}
	return cfg, "", nil
}

func (r *MesosClusterReconciler) secretData(ctx context.Context, ref *mesosv1alpha1.SecretKeyRef, field, notFound string) (map[string][]byte, string, error) {
	var s corev1.Secret
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, notFound, fmt.Errorf("Secret %s/%s (%s) not found", ref.Namespace, ref.Name, field) //nolint:staticcheck // a condition message, a sentence
		}
		return nil, notFound, fmt.Errorf("reading Secret %s/%s (%s): %w", ref.Namespace, ref.Name, field, err)
	}
	return s.Data, "", nil
}

// FrameworkInfo is the FrameworkInfo a cluster subscribes with.
func FrameworkInfo(mc *mesosv1alpha1.MesosCluster) mesos.FrameworkInfo {
	fw := mc.Spec.Framework
	info := mesos.FrameworkInfo{
		User:  fw.User,
		Name:  fw.Name,
		Roles: fw.Roles,
	}
	if info.User == "" {
		info.User = "root"
	}
	if info.Name == "" {
		info.Name = "k8sm"
	}
	if len(info.Roles) == 0 {
		info.Roles = []string{"*"}
	}
	if fw.Principal != "" {
		info.Principal = &fw.Principal
	}
	if fw.FailoverTimeout != nil {
		secs := fw.FailoverTimeout.Seconds()
		info.FailoverTimeout = &secs
	} else {
		week := (7 * 24 * time.Hour).Seconds()
		info.FailoverTimeout = &week
	}
	checkpoint := fw.Checkpoint == nil || *fw.Checkpoint
	info.Checkpoint = &checkpoint
	if fw.WebuiURL != "" {
		info.WebUiURL = &fw.WebuiURL
	}
	if mc.Status.FrameworkID != "" {
		info.ID = &mesos.FrameworkID{Value: mc.Status.FrameworkID}
	}
	caps := []mesos.FrameworkInfo_Capability_Type{mesos.FrameworkInfo_Capability_MULTI_ROLE}
	asked := fw.Capabilities
	if asked == nil {
		asked = []mesosv1alpha1.FrameworkCapability{"PARTITION_AWARE", "TASK_KILLING_STATE"}
	}
	for _, c := range asked {
		if v, ok := mesos.FrameworkInfo_Capability_Type_value[string(c)]; ok {
			caps = append(caps, mesos.FrameworkInfo_Capability_Type(v))
		}
	}
	for _, c := range caps {
		info.Capabilities = append(info.Capabilities, mesos.FrameworkInfo_Capability{Type: c})
	}
	return info
}

// configHash identifies a driver config; a change restarts the driver.
func configHash(cfg framework.Config) string {
	id := cfg.FrameworkInfo.ID
	cfg.FrameworkInfo.ID = nil // a new framework id is no reason to reconnect
	h := sha256.New()
	_ = json.NewEncoder(h).Encode(struct {
		Master   string
		Info     mesos.FrameworkInfo
		Creds    *framework.Credentials
		TLSSkip  bool
		TLSRoots bool
	}{cfg.Master, cfg.FrameworkInfo, cfg.Credentials, cfg.TLS != nil && cfg.TLS.InsecureSkipVerify, cfg.TLS != nil && cfg.TLS.RootCAs != nil})
	if cfg.TLS != nil && cfg.TLS.RootCAs != nil {
		for _, s := range cfg.TLS.RootCAs.Subjects() { //nolint:staticcheck // identity of the pool only
			h.Write(s)
		}
	}
	cfg.FrameworkInfo.ID = id
	return hex.EncodeToString(h.Sum(nil))
}

// ensureDriver starts the cluster's driver, or restarts it when its config changed.
func (r *MesosClusterReconciler) ensureDriver(mc *mesosv1alpha1.MesosCluster, cfg framework.Config) (*framework.Driver, error) {
	hash := configHash(cfg)
	old, oldHash := r.Drivers.get(mc.Name)
	if old != nil && oldHash == hash {
		return old, nil
	}
	if old != nil {
		// Keep the framework id the old driver learned, even if it is not persisted yet.
		if id := old.FrameworkID(); id != "" {
			cfg.FrameworkInfo.ID = &mesos.FrameworkID{Value: id}
		}
		r.stopDriver(mc.Name)
	}
	var sched framework.Scheduler
	if r.NewScheduler != nil {
		sched = r.NewScheduler(mc)
	} else {
		sched = r.Drivers.ensureScheduler(mc.Name, func() *PodScheduler {
			s := NewPodScheduler(r.Client, r.Recorder, ctrl.Log.WithName("scheduler").WithValues("mesoscluster", mc.Name), mc)
			s.ReconcileInterval = r.ReconcileInterval
			s.APIReader = r.APIReader
			return s
		})
	}
	name := mc.Name
	d, err := framework.NewDriver(cfg, sched, func() { r.Drivers.wake(name) })
	if err != nil {
		return nil, err
	}
	r.Drivers.put(mc.Name, d, hash)
	d.Start()
	return d, nil
}

func (r *MesosClusterReconciler) stopDriver(name string) {
	if d := r.Drivers.remove(name); d != nil {
		d.Stop()
		r.Drivers.wake(name)
	}
}

// setBroken records a problem that keeps the cluster from running.
func (r *MesosClusterReconciler) setBroken(mc *mesosv1alpha1.MesosCluster, st *mesosv1alpha1.MesosClusterStatus, reason, msg string) {
	st.Leader = ""
	gen := mc.Generation
	for _, t := range []string{mesosv1alpha1.ConditionSubscribed, mesosv1alpha1.ConditionReady} {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: t, Status: metav1.ConditionFalse, Reason: reason, Message: msg, ObservedGeneration: gen})
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: mesosv1alpha1.ConditionReconciled, Status: metav1.ConditionFalse, Reason: ReasonNotSubscribed, Message: "Tasks are reconciled after the framework subscribes", ObservedGeneration: gen})
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: mesosv1alpha1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: reason, Message: msg, ObservedGeneration: gen})
}

// statusFromDriver fills the status from the driver's snapshot.
func (r *MesosClusterReconciler) statusFromDriver(mc *mesosv1alpha1.MesosCluster, st *mesosv1alpha1.MesosClusterStatus, s framework.Status) {
	gen := mc.Generation
	if s.FrameworkID != "" {
		st.FrameworkID = s.FrameworkID
	}
	st.Leader = s.Leader
	st.Agents = int32(len(s.Agents))
	metrics.Cluster(mc.Name).Agents(len(s.Agents))
	st.Capacity = summarize(s.Agents)

	set := func(t string, ok bool, reason, msg string) {
		status := metav1.ConditionFalse
		if ok {
			status = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen})
	}

	switch {
	case s.Subscribed:
		msg := fmt.Sprintf("Subscribed to %s as framework %s", s.Leader, s.FrameworkID)
		set(mesosv1alpha1.ConditionSubscribed, true, ReasonSubscribed, msg)
		if s.Reconciled {
			set(mesosv1alpha1.ConditionReconciled, true, ReasonTasksReconciled, "Task states were reconciled with Mesos after subscribing")
		} else {
			set(mesosv1alpha1.ConditionReconciled, false, ReasonReconciling, "Reconciling task states with Mesos")
		}
		set(mesosv1alpha1.ConditionReady, true, ReasonSubscribed, msg)
		if s.AgentsError != nil {
			set(mesosv1alpha1.ConditionDegraded, true, ReasonAgentsUnlisted, fmt.Sprintf(
				"The master's operator API did not list the agents (%v): Node capacity comes from offers, which show only what other frameworks leave; let the framework's principal call GET_AGENTS", s.AgentsError))
		} else {
			set(mesosv1alpha1.ConditionDegraded, false, ReasonAsExpected, "The framework is subscribed")
		}
	default:
		reason, msg := ReasonConnecting, "Connecting to "+mc.Spec.Master
		var se *framework.SubscribeError
		if errors.As(s.LastError, &se) {
			reason, msg = se.Reason, se.Error()
		} else if s.LastError != nil {
			msg = s.LastError.Error()
		}
		if s.Refused != "" {
			reason, msg = framework.ReasonSubscribeRefused, "Mesos refused the framework: "+s.Refused
			if isFrameworkRemoved(s.Refused) {
				reason = ReasonFrameworkRemoved
				msg = fmt.Sprintf("Mesos removed framework %s (its failover timeout passed, or it was torn down): %s", st.FrameworkID, s.Refused)
			}
		}
		set(mesosv1alpha1.ConditionSubscribed, false, reason, msg)
		set(mesosv1alpha1.ConditionReconciled, false, ReasonNotSubscribed, "Tasks are reconciled after the framework subscribes")
		set(mesosv1alpha1.ConditionReady, false, reason, msg)
		set(mesosv1alpha1.ConditionDegraded, reason != ReasonConnecting, reason, msg)
	}
}

func isFrameworkRemoved(msg string) bool {
	for _, s := range []string{"removed", "torn down", "completed"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// summarize adds up the agents' capacities as their offers show them.
func summarize(agents map[string]framework.Agent) *mesosv1alpha1.ResourceSummary {
	if len(agents) == 0 {
		return nil
	}
	var cpus, mem, disk, gpus resource.Quantity
	for _, a := range agents {
		c := agentnode.Capacity(a.Capacity)
		cpus.Add(c[corev1.ResourceCPU])
		mem.Add(c[corev1.ResourceMemory])
		disk.Add(c[corev1.ResourceEphemeralStorage])
		gpus.Add(c[agentnode.ResourceGPU])
	}
	return &mesosv1alpha1.ResourceSummary{CPUs: &cpus, Memory: &mem, Disk: &disk, GPUs: gpus.Value()}
}

// countTasks fills the task counts by phase and the resources the live tasks hold.
func (r *MesosClusterReconciler) countTasks(ctx context.Context, mc *mesosv1alpha1.MesosCluster, st *mesosv1alpha1.MesosClusterStatus) error {
	var list mesosv1alpha1.MesosTaskList
	if err := r.List(ctx, &list, client.MatchingFields{ClusterRefIndex: mc.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	counts := mesosv1alpha1.TaskCounts{}
	cpus, mem, disk := resource.Quantity{}, resource.Quantity{}, resource.Quantity{}
	var gpus int64
	sched := r.Drivers.Scheduler(mc.Name)
	for i := range list.Items {
		mt := &list.Items[i]
		switch mt.Status.Phase {
		case "":
			// Launched by this process but not yet written: the launch is recorded by
			// the pod's binding alone until the task's first update (see prepareLaunch).
			if sched == nil || !sched.LaunchUnwritten(mt.Spec.TaskID) {
				counts.Pending++
				continue
			}
			counts.Launching++
		case mesosv1alpha1.TaskPhasePending:
			counts.Pending++
			continue
		case mesosv1alpha1.TaskPhaseStaging, mesosv1alpha1.TaskPhaseStarting:
			counts.Launching++
		case mesosv1alpha1.TaskPhaseRunning:
			counts.Running++
		case mesosv1alpha1.TaskPhaseKilling:
			counts.Killing++
		case mesosv1alpha1.TaskPhaseUnreachable:
			counts.Unreachable++
		default:
			counts.Terminated++
			continue
		}
		res := mt.Spec.Resources
		for _, q := range []struct {
			sum *resource.Quantity
			v   *resource.Quantity
		}{{&cpus, res.CPUs}, {&mem, res.Memory}, {&disk, res.Disk}} {
			if q.v != nil {
				q.sum.Add(*q.v)
			}
		}
		gpus += int64(res.GPUs)
	}
	st.Tasks = &counts
	metrics.Cluster(mc.Name).Tasks(map[string]int{
		"pending": int(counts.Pending), "launching": int(counts.Launching), "running": int(counts.Running),
		"killing": int(counts.Killing), "unreachable": int(counts.Unreachable), "terminated": int(counts.Terminated),
	})
	st.Allocated = &mesosv1alpha1.ResourceSummary{CPUs: &cpus, Memory: &mem, Disk: &disk, GPUs: gpus}
	return nil
}

// writeStatus writes the status when it changed, and records events for what changed
// that a person should see.
func (r *MesosClusterReconciler) writeStatus(ctx context.Context, mc *mesosv1alpha1.MesosCluster, st *mesosv1alpha1.MesosClusterStatus) error {
	if equality.Semantic.DeepEqual(&mc.Status, st) {
		return nil
	}
	before := meta.FindStatusCondition(mc.Status.Conditions, mesosv1alpha1.ConditionSubscribed)
	after := meta.FindStatusCondition(st.Conditions, mesosv1alpha1.ConditionSubscribed)
	if after != nil && (before == nil || before.Status != after.Status || before.Reason != after.Reason) {
		if after.Status == metav1.ConditionTrue {
			r.Recorder.Eventf(mc, nil, corev1.EventTypeNormal, ReasonSubscribed, "Subscribe", "%s", after.Message)
		} else if after.Reason != ReasonConnecting {
			r.Recorder.Eventf(mc, nil, corev1.EventTypeWarning, after.Reason, "Subscribe", "%s", after.Message)
		}
	}
	patch := client.MergeFrom(mc.DeepCopy())
	mc.Status = *st
	return client.IgnoreNotFound(r.Status().Patch(ctx, mc, patch))
}

// SetupWithManager registers the reconciler and its index.
func (r *MesosClusterReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &mesosv1alpha1.MesosCluster{}, SchedulerNameIndex,
		func(o client.Object) []string { return []string{o.(*mesosv1alpha1.MesosCluster).Spec.SchedulerName} }); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &mesosv1alpha1.MesosTask{}, ClusterRefIndex,
		func(o client.Object) []string { return []string{o.(*mesosv1alpha1.MesosTask).Spec.ClusterRef} }); err != nil {
		return err
	}
	if r.Drivers == nil {
		r.Drivers = &Drivers{}
	}
	r.wakeups = r.Drivers.Listen()
	if err := mgr.Add(stopDrivers{r.Drivers}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		// Not on its own status writes: under load the task counts change between any two
		// passes, and each write would start the next pass at once.
		For(&mesosv1alpha1.MesosCluster{}, builder.WithPredicates(notStatusOnly)).
		WatchesRawSource(source.Channel(r.wakeups, &handler.EnqueueRequestForObject{})).
		// A cluster that gives up its schedulerName lets the next one in.
		Watches(&mesosv1alpha1.MesosCluster{}, handler.EnqueueRequestsFromMapFunc(r.sameSchedulerName)).
		// Task counts follow the tasks' phases, at most every countDelay: counting is
		// O(tasks), and thousands of tasks change phase at once.
		Watches(&mesosv1alpha1.MesosTask{}, delayedClusterEnqueue{}, builder.WithPredicates(taskPhaseChanged)).
		Named("mesoscluster").
		Complete(r)
}

// sameSchedulerName wakes the other clusters that share a cluster's schedulerName.
func (r *MesosClusterReconciler) sameSchedulerName(ctx context.Context, o client.Object) []ctrl.Request {
	mc := o.(*mesosv1alpha1.MesosCluster)
	var list mesosv1alpha1.MesosClusterList
	if err := r.List(ctx, &list, client.MatchingFields{SchedulerNameIndex: mc.Spec.SchedulerName}); err != nil {
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

// stopDrivers stops every driver when the manager stops (or loses leadership).
type stopDrivers struct{ d *Drivers }

func (s stopDrivers) Start(ctx context.Context) error {
	<-ctx.Done()
	s.d.StopAll()
	return nil
}
