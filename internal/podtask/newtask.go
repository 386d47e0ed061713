package podtask

import (
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
)

// TaskFinalizer keeps a MesosTask until its Mesos task is over or known gone.
const TaskFinalizer = "mesos.k8sm.io/task"

// NewMesosTask is the MesosTask of a pod a cluster takes, not yet written: its spec from
// the pod (task id, resources, role) and the cluster (its executor), the cluster's label,
// the finalizer, and the pod as its controller. node is the Node of a pod bound before
// it was taken (it runs on that Node's agent or nowhere), empty for a pod the cluster
// binds. It fails for a pod that cannot be a Mesos task.
//
// A pod the cluster binds has its MesosTask written only when Mesos first reports its
// task, state and all, in one write: until then the pod is the queue entry, and its
// binding the launch record. A pod bound before it was taken has it written at once.
func NewMesosTask(pod *corev1.Pod, mc *mesosv1alpha1.MesosCluster, node string) (*mesosv1alpha1.MesosTask, error) {
	res, err := TaskResourcesFor(pod)
	if err != nil {
		return nil, err
	}
	return &mesosv1alpha1.MesosTask{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name,
			Labels:          map[string]string{agentnode.LabelCluster: mc.Name},
			Finalizers:      []string{TaskFinalizer},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(pod, corev1.SchemeGroupVersion.WithKind("Pod"))}},
		Spec: mesosv1alpha1.MesosTaskSpec{
			ClusterRef: mc.Name,
			PodUID:     string(pod.UID),
			TaskID:     TaskIDFor(pod),
			Resources:  res,
			Role:       pod.Annotations[AnnotationRole],
			ExecutorID: ExecutorID(mc),
			NodeName:   node,
		},
	}, nil
}

// EarlierTask is the MesosTask, not yet written, of a task Mesos holds whose pod is gone
// and which nothing records (a pod removed while no manager led, with the MesosTasks in
// memory; or a burst's deferred create lost with its manager): named as that pod, from
// the task's labels (ref), with the cluster's label and the finalizer, and no owner (its
// pod is gone), and its status as Mesos's latest word on the task says. Written and
// deleted at once, it is what a MesosTask deleted with its pod is: its finalizer has the
// task killed, and a pod made again under that name waits until the task ended.
func EarlierTask(ref PodRef, cluster, taskID, executorID string, latest mesos.TaskStatus, now metav1.Time) *mesosv1alpha1.MesosTask {
	mt := &mesosv1alpha1.MesosTask{
		ObjectMeta: metav1.ObjectMeta{Namespace: ref.Namespace, Name: ref.Name,
			Labels:     map[string]string{agentnode.LabelCluster: cluster},
			Finalizers: []string{TaskFinalizer}},
		Spec: mesosv1alpha1.MesosTaskSpec{ClusterRef: cluster, PodUID: string(ref.UID), TaskID: taskID, ExecutorID: executorID},
	}
	ApplyUpdate(&mt.Status, latest, now)
	return mt
}
