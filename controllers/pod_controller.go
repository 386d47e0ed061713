package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/events"
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
	// Recorder records events for people; optional.
	Recorder events.EventRecorder
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
	mt := &mesosv1alpha1.MesosTask{}
	mtErr := r.Get(ctx, req.NamespacedName, mt)
	if mtErr != nil && !apierrors.IsNotFound(mtErr) {
		return ctrl.Result{}, mtErr
	}
	haveTask := mtErr == nil && mt.Spec.PodUID == string(pod.UID)
	var clusterOfTask string
	if haveTask {
		clusterOfTask = mt.Spec.ClusterRef
	}
	mc, err := r.clusterFor(ctx, pod, clusterOfTask)
	if err != nil || mc == nil {
		return ctrl.Result{}, err
	}

	if !pod.DeletionTimestamp.IsZero() {
		return r.deletePod(ctx, pod, mt, haveTask)
	}
	if haveTask || podTerminal(pod) {
		return ctrl.Result{}, nil
	}
	if mtErr == nil {
		// A MesosTask of an earlier pod of the same name: it goes first.
		return ctrl.Result{RequeueAfter: time.Second}, client.IgnoreNotFound(r.Delete(ctx, mt))
	}
	if pod.Spec.NodeName != "" && pod.Spec.SchedulerName == mc.Spec.SchedulerName {
		// Bound by this operator, which makes the MesosTask first: it lost its MesosTask,
		// and its task was killed with it.
		return ctrl.Result{}, nil
	}
	ok, err := namespaceAllowed(ctx, r.Client, mc, pod.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !ok {
		if pod.Spec.NodeName != "" {
			// Bound to an agent's Node without the cluster's consent: nothing will run
			// it there, so it fails, as a pod a kubelet does not admit.
			return ctrl.Result{}, r.notAdmitted(ctx, pod, mc)
		}
		return ctrl.Result{}, nil
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
			// A pod bound before it was taken runs on its Node's agent or nowhere.
			NodeName: pod.Spec.NodeName,
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

// notAdmitted fails a pod bound to an agent's Node of a cluster that does not take pods
// of its namespace.
func (r *PodReconciler) notAdmitted(ctx context.Context, pod *corev1.Pod, mc *mesosv1alpha1.MesosCluster) error {
	msg := fmt.Sprintf("MesosCluster %s does not take pods of namespace %s (spec.namespaceSelector); nothing runs pods on Node %s", mc.Name, pod.Namespace, pod.Spec.NodeName)
	before := pod.DeepCopy()
	pod.Status.Phase, pod.Status.Reason, pod.Status.Message = corev1.PodFailed, ReasonNamespaceNotAllowed, msg
	if err := r.Status().Patch(ctx, pod, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(err)
	}
	if r.Recorder != nil {
		r.Recorder.Eventf(pod, nil, corev1.EventTypeWarning, ReasonNamespaceNotAllowed, "Admit", "%s", msg)
	}
	return nil
}

// ReasonNamespaceNotAllowed fails a pod bound to an agent's Node in a namespace the
// agent's cluster does not take.
const ReasonNamespaceNotAllowed = "NamespaceNotAllowed"

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

// clusterFor finds the MesosCluster that owns a pod, if it can: for a bound pod the
// cluster of its Node (of its MesosTask, clusterOfTask, once the Node is gone), none when
// the Node is not an agent's; for an unbound pod the cluster holding its schedulerName.
func (r *PodReconciler) clusterFor(ctx context.Context, pod *corev1.Pod, clusterOfTask string) (*mesosv1alpha1.MesosCluster, error) {
	if pod.Spec.NodeName == "" {
		var list mesosv1alpha1.MesosClusterList
		if err := r.List(ctx, &list, client.MatchingFields{SchedulerNameIndex: pod.Spec.SchedulerName}); err != nil {
			return nil, err
		}
		for i := range list.Items {
			if usable(&list.Items[i]) {
				return &list.Items[i], nil
			}
		}
		return nil, nil
	}
	name := clusterOfTask
	node := &corev1.Node{}
	if err := r.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, node); err == nil {
		name = node.Labels[agentnode.LabelCluster]
	} else if !apierrors.IsNotFound(err) {
		return nil, err
	}
	if name == "" {
		return nil, nil // a kubelet's pod
	}
	mc := &mesosv1alpha1.MesosCluster{}
	if err := r.Get(ctx, client.ObjectKey{Name: name}, mc); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if !usable(mc) {
		return nil, nil
	}
	return mc, nil
}

// usable says whether a cluster takes pods: not being deleted, its framework set up, and
// its schedulerName its own.
func usable(mc *mesosv1alpha1.MesosCluster) bool {
	ready := meta.FindStatusCondition(mc.Status.Conditions, mesosv1alpha1.ConditionReady)
	return mc.DeletionTimestamp.IsZero() && ready != nil && ready.Reason != ReasonSchedulerNameConflict
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
// MesosCluster could own (not the default scheduler's), and for pods bound to an agent's
// Node by anyone.
func (r *PodReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Pod{}, PodSchedulerNameIndex,
		func(o client.Object) []string { return []string{o.(*corev1.Pod).Spec.SchedulerName} }); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Pod{}, PodNodeNameIndex,
		func(o client.Object) []string {
			if p := o.(*corev1.Pod); onAgentNode(p) {
				return []string{p.Spec.NodeName}
			}
			return nil
		}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&corev1.Pod{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			p, ok := o.(*corev1.Pod)
			return ok && mayBeOurs(p)
		}))).
		// Pods created before their cluster was ready are taken when it is.
		Watches(&mesosv1alpha1.MesosCluster{}, handler.EnqueueRequestsFromMapFunc(r.podsOfCluster),
			builder.WithPredicates(intakeChanged)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.concurrency()}).
		Named("pod").
		Complete(r)
}

// PodNodeNameIndex indexes Pods bound to an agent's Node by spec.nodeName.
const PodNodeNameIndex = "spec.nodeName"

// mayBeOurs says whether a pod may be a MesosCluster's: it names a scheduler other than
// the default one, or it is bound to a Node named as an agent's.
func mayBeOurs(p *corev1.Pod) bool {
	return (p.Spec.SchedulerName != corev1.DefaultSchedulerName && p.Spec.SchedulerName != "") || onAgentNode(p)
}

// onAgentNode says whether a pod is bound to a Node named as an agent's (which cluster's,
// if any, its labels say).
func onAgentNode(p *corev1.Pod) bool {
	return strings.HasPrefix(p.Spec.NodeName, agentnode.NodePrefix)
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

// podsOfCluster lists the pods a cluster may take or must remove: the unbound or
// deleted ones that name its schedulerName, and those bound to its agents' Nodes.
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
	var nodes corev1.NodeList
	if err := r.List(ctx, &nodes, client.MatchingLabels{agentnode.LabelCluster: mc.Name}); err != nil {
		return reqs
	}
	for _, n := range nodes.Items {
		var bound corev1.PodList
		if err := r.List(ctx, &bound, client.MatchingFields{PodNodeNameIndex: n.Name}, client.UnsafeDisableDeepCopy); err != nil {
			continue
		}
		for i := range bound.Items {
			if bound.Items[i].Spec.SchedulerName != mc.Spec.SchedulerName {
				reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&bound.Items[i])})
			}
		}
	}
	return reqs
}

// CacheOptions keeps the manager's pod cache small: pods no MesosCluster could own
// (those of the default scheduler not bound to an agent's Node) are kept as a stub of
// their name, scheduler and Node, for the cache must hold every pod it watches to see one
// get bound. Cached objects go without their managed fields.
func CacheOptions() cache.Options {
	return cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}: {Transform: trimPod},
		},
		// Nothing reads managed fields (every write is an Update or a merge patch, which
		// keep the stored ones): cached objects go without them, which saves memory
		// and the bytes of every write.
		DefaultTransform: cache.TransformStripManagedFields(),
	}
}

// trimPod strips a pod for the cache: its managed fields, and all but a stub when no
// MesosCluster could own it.
func trimPod(o any) (any, error) {
	o, err := cache.TransformStripManagedFields()(o)
	p, ok := o.(*corev1.Pod)
	if err != nil || !ok || mayBeOurs(p) {
		return o, err
	}
	return &corev1.Pod{TypeMeta: p.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name, UID: p.UID, ResourceVersion: p.ResourceVersion,
			Generation: p.Generation, CreationTimestamp: p.CreationTimestamp, DeletionTimestamp: p.DeletionTimestamp},
		Spec:   corev1.PodSpec{SchedulerName: p.Spec.SchedulerName, NodeName: p.Spec.NodeName},
		Status: corev1.PodStatus{Phase: p.Status.Phase}}, nil
}
