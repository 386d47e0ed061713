package indexer

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
)

// Tasks finds a task's MesosTask and its bound pod by the task's Mesos id, as every
// status update names its task: the MesosTasks' store's own objects and the cache's own
// pods, to read only.
//
// The cache's field indexes (IndexField) keep each value of a namespaced object twice,
// under its namespace and under all namespaces, each with a set of the objects that
// have it; and a value of its own per object costs a set per object. At 10,000 tasks,
// four sets per task were about 9 MB of the manager's live heap, and with one set per
// task and index, kept on the informers themselves, still 9 MB at the peak of a burst.
// Every lookup by task id is cluster-wide, so the pods' is kept on their informer, under
// the last two characters of the id (a pod UID's: 256 values of a few dozen objects each
// at 10,000 tasks), and a lookup picks its pod out of its bucket (NewTasks).
type Tasks interface {
	// MesosTask is the MesosTask whose spec.taskID is id, or nil.
	MesosTask(ctx context.Context, id string) (*mesosv1alpha1.MesosTask, error)
	// BoundPod is the pod bound to an agent's Node whose task id is id, or nil.
	BoundPod(ctx context.Context, id string) (*corev1.Pod, error)
	// OfCluster are the MesosTasks of a cluster (spec.clusterRef), in no order.
	OfCluster(ctx context.Context, cluster string) ([]*mesosv1alpha1.MesosTask, error)
	// PodsOnNode are the pods bound to an agent's Node (the PodNodeName index), and
	// PodsOfScheduler those that name a scheduler (PodSchedulerName), in no order. The
	// walks over a cluster's pods read these rather than a List, which copies every pod
	// it returns into the list, read-only as it is: at 10,000 pods, the lists of a
	// cluster's wakeups were a seventh of what a new leader's CPU did in a failover.
	PodsOnNode(ctx context.Context, node string) ([]*corev1.Pod, error)
	PodsOfScheduler(ctx context.Context, name string) ([]*corev1.Pod, error)
}

// TaskLookup finds MesosTasks where the manager keeps them (taskstore.Store).
type TaskLookup interface {
	MesosTask(ctx context.Context, id string) (*mesosv1alpha1.MesosTask, error)
	OfCluster(ctx context.Context, cluster string) ([]*mesosv1alpha1.MesosTask, error)
}

// NewTasks registers the index by task id on the cache's Pod informer, and finds
// MesosTasks in tasks; call it once, before the cache starts, and after the cache's
// indexes of pods (Setup).
func NewTasks(ctx context.Context, c cache.Cache, tasks TaskLookup) (Tasks, error) {
	pods, err := addIndex(ctx, c, &corev1.Pod{}, PodTaskID, podTaskIDIndex)
	if err != nil {
		return nil, err
	}
	return informerTasks{TaskLookup: tasks, pods: pods, reader: c,
		fieldIndexes: hasFieldIndexes(pods, PodNodeName, PodSchedulerName)}, nil
}

// bucket is the value of a task id in the informers' indexes by task id.
func bucket(id string) string {
	if len(id) <= 2 {
		return id
	}
	return id[len(id)-2:]
}

// podTaskIDIndex is a pod's value in an informer's PodTaskID index: its task id's
// bucket, when it is on an agent's Node.
func podTaskIDIndex(o any) ([]string, error) {
	if p, ok := o.(*corev1.Pod); ok {
		ids := PodTaskIDOf(p)
		for i, id := range ids {
			ids[i] = bucket(id)
		}
		return ids, nil
	}
	return nil, nil
}

// addIndex adds an index to the informer of obj's kind and returns the informer's store.
func addIndex(ctx context.Context, c cache.Informers, obj client.Object, name string, fn toolscache.IndexFunc) (toolscache.Indexer, error) {
	inf, err := c.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
	if err != nil {
		return nil, err
	}
	shared, ok := inf.(toolscache.SharedIndexInformer)
	if !ok {
		return nil, fmt.Errorf("the cache's informer of %T (%T) keeps no index", obj, inf)
	}
	if err := shared.AddIndexers(toolscache.Indexers{name: fn}); err != nil {
		return nil, err
	}
	return shared.GetIndexer(), nil
}

// informerTasks reads the pod informer's store, and the MesosTasks' lookup.
type informerTasks struct {
	TaskLookup
	pods toolscache.Indexer
	// fieldIndexes: the store has the cache's indexes of pods by node and scheduler,
	// under the names the cache gives them (fieldIndex); else reader lists.
	fieldIndexes bool
	reader       client.Reader
}

// BoundPod looks among the pods its index holds, those on an agent's Node (PodTaskIDOf).
func (t informerTasks) BoundPod(_ context.Context, id string) (*corev1.Pod, error) {
	return find(t.pods, PodTaskID, id, func(p *corev1.Pod) bool { return podtask.IsTaskIDOf(id, p) })
}

// find is the first object of id's bucket in an index by task id that is id's (is), or
// nil.
func find[T client.Object](ix toolscache.Indexer, index, id string, is func(T) bool) (T, error) {
	var none T
	objs, err := ix.ByIndex(index, bucket(id))
	if err != nil {
		return none, err
	}
	for _, obj := range objs {
		o, ok := obj.(T)
		if !ok {
			return none, fmt.Errorf("the %s index holds a %T", index, obj)
		}
		if is(o) {
			return o, nil
		}
	}
	return none, nil
}

// ListTasks finds tasks through a client's field indexes TaskID and PodTaskID: those a
// fake client is given (WithIndex), in tests.
type ListTasks struct{ Reader client.Reader }

func (t ListTasks) MesosTask(ctx context.Context, id string) (*mesosv1alpha1.MesosTask, error) {
	var list mesosv1alpha1.MesosTaskList
	if err := t.Reader.List(ctx, &list, client.MatchingFields{TaskID: id}, client.UnsafeDisableDeepCopy); err != nil || len(list.Items) == 0 {
		return nil, err
	}
	return &list.Items[0], nil
}

func (t ListTasks) BoundPod(ctx context.Context, id string) (*corev1.Pod, error) {
	var pods corev1.PodList
	if err := t.Reader.List(ctx, &pods, client.MatchingFields{PodTaskID: id}, client.UnsafeDisableDeepCopy); err != nil || len(pods.Items) == 0 {
		return nil, err
	}
	return &pods.Items[0], nil
}

func (t ListTasks) OfCluster(ctx context.Context, cluster string) ([]*mesosv1alpha1.MesosTask, error) {
	var list mesosv1alpha1.MesosTaskList
	if err := t.Reader.List(ctx, &list, client.MatchingFields{ClusterRef: cluster}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	out := make([]*mesosv1alpha1.MesosTask, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

// PodsOnNode looks in the cache's PodNodeName index itself.
func (t informerTasks) PodsOnNode(ctx context.Context, node string) ([]*corev1.Pod, error) {
	return t.podsBy(ctx, PodNodeName, node)
}

// PodsOfScheduler looks in the cache's PodSchedulerName index itself.
func (t informerTasks) PodsOfScheduler(ctx context.Context, name string) ([]*corev1.Pod, error) {
	return t.podsBy(ctx, PodSchedulerName, name)
}

// podsBy are the pods of a value in one of the cache's field indexes of pods: from the
// informer's own index where the cache keeps it as it did (fieldIndex), else listed.
func (t informerTasks) podsBy(ctx context.Context, field, value string) ([]*corev1.Pod, error) {
	if !t.fieldIndexes {
		return ListTasks{Reader: t.reader}.podsBy(ctx, field, value)
	}
	objs, err := t.pods.ByIndex(fieldIndex(field), allNamespaces(value))
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		p, ok := o.(*corev1.Pod)
		if !ok {
			return nil, fmt.Errorf("the %s index holds a %T", field, o)
		}
		out = append(out, p)
	}
	return out, nil
}

// fieldIndex is the name the cache gives its index of a field (cache.IndexField) on the
// informer, and allNamespaces the value under which it keeps an object's value for
// every namespace: controller-runtime's (its cache_reader.go), read by PodsOnNode and
// PodsOfScheduler, which check that the informer has the index (hasFieldIndexes) and
// list through the cache otherwise.
func fieldIndex(field string) string    { return "field:" + field }
func allNamespaces(value string) string { return "__all_namespaces/" + value }

// hasFieldIndexes says whether an informer's store has the cache's indexes of fields.
func hasFieldIndexes(ix toolscache.Indexer, fields ...string) bool {
	have := ix.GetIndexers()
	for _, f := range fields {
		if _, ok := have[fieldIndex(f)]; !ok {
			return false
		}
	}
	return true
}

func (t ListTasks) PodsOnNode(ctx context.Context, node string) ([]*corev1.Pod, error) {
	return t.podsBy(ctx, PodNodeName, node)
}

func (t ListTasks) PodsOfScheduler(ctx context.Context, name string) ([]*corev1.Pod, error) {
	return t.podsBy(ctx, PodSchedulerName, name)
}

// podsBy lists the pods of a value in a field index, without a deep copy of each.
func (t ListTasks) podsBy(ctx context.Context, field, value string) ([]*corev1.Pod, error) {
	var list corev1.PodList
	if err := t.Reader.List(ctx, &list, client.MatchingFields{field: value}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	out := make([]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}
