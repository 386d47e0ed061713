// Package indexer holds every field index the manager's cache keeps, registered in one
// Setup, so that no reconciler relies on another having registered the index it reads;
// and the reader for what the cache does not keep (Uncached).
package indexer

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/podtask"
)

const (
	// TaskID indexes MesosTasks by spec.taskID: an update names its task by id (Tasks).
	TaskID = "spec.taskID"
	// ClusterRef indexes MesosTasks by spec.clusterRef: a cluster's tasks to count and
	// to reconcile.
	ClusterRef = "spec.clusterRef"
	// ClusterSchedulerName indexes MesosClusters by spec.schedulerName: which cluster
	// takes a pod, and who holds a name.
	ClusterSchedulerName = "spec.schedulerName"
	// PodSchedulerName indexes Pods by spec.schedulerName: the pods a cluster may take.
	PodSchedulerName = "spec.schedulerName"
	// PodNodeName indexes the Pods bound to an agent's Node by spec.nodeName.
	PodNodeName = "spec.nodeName"
	// PodAntiAffinity indexes the Pods bound to a Node that have required pod
	// anti-affinity, under "true": they keep the pods their terms count out of their
	// topology domains, which placement must know of every pod it places.
	PodAntiAffinity = "k8sm.requiredAntiAffinity"
	// PodTaskID indexes the Pods bound to an agent's Node by the id of their Mesos task:
	// an update of a task whose MesosTask is not written yet names its pod so (Tasks).
	PodTaskID = "k8sm.taskID"
)

// Setup registers every index with the manager's cache, and returns the lookups by task
// id, of MesosTasks in tasks (the cache keeps none); call it once, before the manager
// starts.
func Setup(ctx context.Context, c cache.Cache, tasks TaskLookup) (Tasks, error) {
	for _, ix := range []struct {
		obj   client.Object
		field string
		fn    client.IndexerFunc
	}{
		{&mesosv1alpha1.MesosCluster{}, ClusterSchedulerName, func(o client.Object) []string {
			return []string{o.(*mesosv1alpha1.MesosCluster).Spec.SchedulerName}
		}},
		{&corev1.Pod{}, PodSchedulerName, PodSchedulerNameOf},
		{&corev1.Pod{}, PodNodeName, AgentNodeOf},
		{&corev1.Pod{}, PodAntiAffinity, AntiAffinityOf},
	} {
		if err := c.IndexField(ctx, ix.obj, ix.field, ix.fn); err != nil {
			return nil, err
		}
	}
	return NewTasks(ctx, c, tasks)
}

// TaskIDOf is the TaskID index of a MesosTask (for fake clients in tests too).
func TaskIDOf(o client.Object) []string { return []string{o.(*mesosv1alpha1.MesosTask).Spec.TaskID} }

// ClusterRefOf is the ClusterRef index of a MesosTask.
func ClusterRefOf(o client.Object) []string {
	return []string{o.(*mesosv1alpha1.MesosTask).Spec.ClusterRef}
}

// PodSchedulerNameOf is the PodSchedulerName index of a pod.
func PodSchedulerNameOf(o client.Object) []string {
	return []string{o.(*corev1.Pod).Spec.SchedulerName}
}

// PodTaskIDOf is the PodTaskID index of a pod: its task id, when it is on an agent's Node.
func PodTaskIDOf(o client.Object) []string {
	if p := o.(*corev1.Pod); agentnode.OnAgentNode(p) {
		return []string{podtask.TaskIDFor(p)}
	}
	return nil
}

// AgentNodeOf is the PodNodeName index of a pod: its Node, when that is an agent's.
func AgentNodeOf(o client.Object) []string {
	if p := o.(*corev1.Pod); agentnode.OnAgentNode(p) {
		return []string{p.Spec.NodeName}
	}
	return nil
}

// AntiAffinityOf is the PodAntiAffinity index of a pod: "true" when it is bound to a Node
// and has required pod anti-affinity terms.
func AntiAffinityOf(o client.Object) []string {
	if p := o.(*corev1.Pod); p.Spec.NodeName != "" && podtask.HasAntiAffinityTerms(p) {
		return []string{"true"}
	}
	return nil
}

// Uncached is the reader for what the manager's cache does not keep, or may hold behind a
// write: the API reader, which reads from the API server itself (read through the cache,
// a kind would be listed and watched cluster-wide). Without one (tests with a fake
// client), c.
func Uncached(apiReader client.Reader, c client.Client) client.Reader {
	if apiReader != nil {
		return apiReader
	}
	return c
}
