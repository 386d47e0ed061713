package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/podtask"
)

// PodSchedulerNameIndex indexes Pods by spec.schedulerName.
const PodSchedulerNameIndex = "spec.schedulerName"

// NodeNameFor is the Node of an agent of a cluster.
func NodeNameFor(cluster, hostname string) string { return agentnode.NodeName(cluster, hostname) }

// PodReconciler takes the pods that name a MesosCluster's schedulerName: it gives each a
// MesosTask, and when a pod is deleted it has the task killed and removes the pod once
// the task ended, as a kubelet would.
type PodReconciler struct {
	client.Client
	Drivers *Drivers
	// Workers is how many pods are handled at once. Default 8.
	Workers int
}

func (r *PodReconciler) concurrency() int {
	if r.Workers > 0 {
		return r.Workers
	}
	return 8
}

// Reconcile handles one pod.
func (r *PodReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pod := &corev1.Pod{}
	if err := r.Get(ctx, req.NamespacedName, pod); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	mc, err := r.clusterFor(ctx, pod)
	if err != nil || mc == nil {
		return ctrl.Result{}, err
	}
	mt := &mesosv1alpha1.MesosTask{}
	err = r.Get(ctx, req.NamespacedName, mt)
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	haveTask := err == nil && mt.Spec.PodUID == string(pod.UID)

	if !pod.DeletionTimestamp.IsZero() {
		return r.deletePod(ctx, pod, mt, haveTask)
	}
	if haveTask || pod.Spec.NodeName != "" || podTerminal(pod) {
		return ctrl.Result{}, nil
	}
	if err == nil {
		// A MesosTask of an earlier pod of the same name: it goes first.
		return ctrl.Result{RequeueAfter: time.Second}, client.IgnoreNotFound(r.Delete(ctx, mt))
	}
	ok, err := namespaceAllowed(ctx, r.Client, mc, pod.Namespace)
	if err != nil || !ok {
		return ctrl.Result{}, err
	}
	mt = &mesosv1alpha1.MesosTask{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name,
			Labels:     map[string]string{agentnode.LabelCluster: mc.Name},
			Finalizers: []string{TaskFinalizer}},
		Spec: mesosv1alpha1.MesosTaskSpec{
			ClusterRef: mc.Name,
			PodUID:     string(pod.UID),
			TaskID:     podtask.TaskIDFor(pod),
			Resources:  podtask.ResourcesFor(pod),
			Role:       pod.Annotations[podtask.AnnotationRole],
			ExecutorID: ExecutorID(mc.Name),
		},
	}
	if err := controllerutil.SetControllerReference(pod, mt, r.Scheme()); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.Create(ctx, mt); err != nil && !apierrors.IsAlreadyExists(err) {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, nil
}

// deletePod kills the pod's task and removes the pod once the task is over.
func (r *PodReconciler) deletePod(ctx context.Context, pod *corev1.Pod, mt *mesosv1alpha1.MesosTask, haveTask bool) (ctrl.Result, error) {
	if haveTask && mayRun(mt, pod) {
		d := r.Drivers.Get(mt.Spec.ClusterRef)
		if d == nil || !d.Subscribed() {
			return ctrl.Result{RequeueAfter: 2 * time.Second}, nil
		}
		grace := 30 * time.Second
		if pod.DeletionGracePeriodSeconds != nil {
			grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
		}
		if err := d.Kill(ctx, mt.Spec.TaskID, mt.Status.AgentID, &grace); err != nil {
			return ctrl.Result{RequeueAfter: 2 * time.Second}, nil
		}
		// The terminal update removes the pod; ask again if it does not come.
		return ctrl.Result{RequeueAfter: grace + 10*time.Second}, nil
	}
	if haveTask {
		if s := r.Drivers.Scheduler(mt.Spec.ClusterRef); s != nil {
			s.Dequeue(mt.Spec.TaskID)
		}
	}
	// Never launched, or over: the pod goes at once.
	err := removePod(ctx, r.Client, pod)
	return ctrl.Result{}, client.IgnoreNotFound(err)
}

// clusterFor finds the MesosCluster whose schedulerName the pod names, if it holds it.
func (r *PodReconciler) clusterFor(ctx context.Context, pod *corev1.Pod) (*mesosv1alpha1.MesosCluster, error) {
	var list mesosv1alpha1.MesosClusterList
	if err := r.List(ctx, &list, client.MatchingFields{SchedulerNameIndex: pod.Spec.SchedulerName}); err != nil {
		return nil, err
	}
	for i := range list.Items {
		mc := &list.Items[i]
		ready := meta.FindStatusCondition(mc.Status.Conditions, mesosv1alpha1.ConditionReady)
		if mc.DeletionTimestamp.IsZero() && ready != nil && ready.Reason != ReasonSchedulerNameConflict {
			return mc, nil
		}
	}
	return nil, nil
}

// namespaceAllowed evaluates a cluster's namespaceSelector.
func namespaceAllowed(ctx context.Context, c client.Client, mc *mesosv1alpha1.MesosCluster, namespace string) (bool, error) {
	if mc.Spec.NamespaceSelector == nil {
		return true, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(mc.Spec.NamespaceSelector)
	if err != nil {
		return false, nil
	}
	ns := &corev1.Namespace{}
	if err := c.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return sel.Matches(labels.Set(ns.Labels)), nil
}

// removePod deletes a pod at once, as a kubelet does once its containers are gone: grace
// 0, and only this pod (by UID), never a newer one of the same name.
func removePod(ctx context.Context, c client.Writer, pod *corev1.Pod) error {
	return c.Delete(ctx, pod, client.GracePeriodSeconds(0), client.Preconditions{UID: &pod.UID})
}

func podTerminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// SetupWithManager registers the reconciler for pods with a schedulerName some
// MesosCluster could own (not the default scheduler's).
func (r *PodReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Pod{}, PodSchedulerNameIndex,
		func(o client.Object) []string { return []string{o.(*corev1.Pod).Spec.SchedulerName} }); err != nil {
		return err
	}
	notDefault := predicate.NewPredicateFuncs(func(o client.Object) bool {
		p, ok := o.(*corev1.Pod)
		return ok && p.Spec.SchedulerName != corev1.DefaultSchedulerName && p.Spec.SchedulerName != ""
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&corev1.Pod{}, builder.WithPredicates(notDefault)).
		// Pods created before their cluster was ready are taken when it is.
		Watches(&mesosv1alpha1.MesosCluster{}, handler.EnqueueRequestsFromMapFunc(r.podsOfCluster),
			builder.WithPredicates(intakeChanged)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.concurrency()}).
		Named("pod").
		Complete(r)
}

// intakeChanged passes the cluster changes that decide which pods a cluster takes: its
// spec (schedulerName, namespaceSelector) and its Ready condition. Status-only changes
// such as task counts, written every few seconds, would otherwise list every pod.
var intakeChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*mesosv1alpha1.MesosCluster)
		n, ok2 := e.ObjectNew.(*mesosv1alpha1.MesosCluster)
		if !ok1 || !ok2 {
			return true
		}
		return o.Generation != n.Generation || !o.DeletionTimestamp.Equal(n.DeletionTimestamp) || readyKey(o) != readyKey(n)
	},
}

// readyKey is what of a cluster's Ready condition decides whether it takes pods.
func readyKey(mc *mesosv1alpha1.MesosCluster) string {
	c := meta.FindStatusCondition(mc.Status.Conditions, mesosv1alpha1.ConditionReady)
	if c == nil {
		return ""
	}
	return string(c.Status) + "/" + c.Reason
}

// podsOfCluster lists the unbound pods that name a cluster's schedulerName.
func (r *PodReconciler) podsOfCluster(ctx context.Context, o client.Object) []ctrl.Request {
	mc := o.(*mesosv1alpha1.MesosCluster)
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.MatchingFields{PodSchedulerNameIndex: mc.Spec.SchedulerName}, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	reqs := make([]ctrl.Request, 0, len(pods.Items))
	for i := range pods.Items {
		if pods.Items[i].Spec.NodeName == "" || !pods.Items[i].DeletionTimestamp.IsZero() {
			reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&pods.Items[i])})
		}
	}
	return reqs
}

// CacheOptions keeps the manager's pod cache to the pods some MesosCluster could own
// (those of the default scheduler are never read), and cached objects without their
// managed fields.
func CacheOptions() cache.Options {
	return cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}: {Field: fields.OneTermNotEqualSelector("spec.schedulerName", corev1.DefaultSchedulerName)},
		},
		// Nothing reads managed fields (every write is an Update or a merge patch, which
		// keep the stored ones): cached objects go without them, which saves memory
		// and the bytes of every write.
		DefaultTransform: cache.TransformStripManagedFields(),
	}
}
