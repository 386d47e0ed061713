package controllers

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheOptions keeps the manager's pod cache small: pods no MesosCluster could own
// (those of the default scheduler not bound to an agent's Node) are kept as a stub of
// their name, scheduler and Node, for the cache must hold every pod it watches to see one
// get bound. Cached objects go without their managed fields, and the pods kept share the
// strings that repeat from one to the next. MesosTasks are not cached: the Store holds
// them (taskstore, Setup). Leases are not cached (every
// kubelet of the cluster renews one in kube-node-lease: the agents' own are kept as their
// renewals return them, leaseCopies), nor are Secrets (read one at a time through the
// API reader).
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
// MesosCluster could own it; a pod kept whole shares its repeated strings (internPod).
func trimPod(o any) (any, error) {
	o, err := cache.TransformStripManagedFields()(o)
	p, ok := o.(*corev1.Pod)
	if err != nil || !ok {
		return o, err
	}
	if mayBeOurs(p) {
		internPod(p)
		return p, nil
	}
	return &corev1.Pod{TypeMeta: p.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name, UID: p.UID, ResourceVersion: p.ResourceVersion,
			Generation: p.Generation, CreationTimestamp: p.CreationTimestamp, DeletionTimestamp: p.DeletionTimestamp},
		Spec:   corev1.PodSpec{SchedulerName: p.Spec.SchedulerName, NodeName: p.Spec.NodeName},
		Status: corev1.PodStatus{Phase: p.Status.Phase}}, nil
}
