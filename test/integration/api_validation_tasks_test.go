package integration

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

var _ = Describe("MesosTask validation", func() {
	BeforeEach(func() { skipInMemory("the CRD's validation: the MesosTasks in memory are the manager's writes alone") })

	// newTask makes a task of a pod of its own (a task without its pod is removed): the
	// pod is in the manager's cache before the task is made, or the MesosTask reconciler
	// would take the task's pod for gone and remove the task.
	newTask := func(ns string) *mesosv1alpha1.MesosTask {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-0"},
			Spec: corev1.PodSpec{SchedulerName: "no-such-cluster", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Eventually(func() error { return managerCache.Get(ctx, client.ObjectKeyFromObject(pod), &corev1.Pod{}) }).Should(Succeed())
		return &mesosv1alpha1.MesosTask{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-0"},
			Spec: mesosv1alpha1.MesosTaskSpec{
				ClusterRef: "mesos",
				PodUID:     string(pod.UID),
				TaskID:     "k8sm." + string(pod.UID),
				Resources: mesosv1alpha1.TaskResources{
					CPUs:   ptr.To(resource.MustParse("250m")),
					Memory: ptr.To(resource.MustParse("128Mi")),
					Ports:  []int32{31000},
				},
			},
		}
	}

	// updateTask applies mutate to the latest version of a task, retrying when the
	// controller (its finalizer) changed the task in between.
	updateTask := func(mt *mesosv1alpha1.MesosTask, mutate func(*mesosv1alpha1.MesosTask)) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(mt), mt); err != nil {
				return err
			}
			mutate(mt)
			return k8sClient.Update(ctx, mt)
		})
	}

	It("accepts a task and its status", func() {
		mt := newTask(newNamespace())
		Expect(k8sClient.Create(ctx, mt)).To(Succeed())
		Expect(updateTask(mt, func(mt *mesosv1alpha1.MesosTask) {
			mt.Status.Phase = mesosv1alpha1.TaskPhaseRunning
			mt.Status.MesosState = "TASK_RUNNING"
		})).To(Succeed())
	})

	It("refuses a change of its spec", func() {
		mt := newTask(newNamespace())
		Expect(k8sClient.Create(ctx, mt)).To(Succeed())
		err := updateTask(mt, func(mt *mesosv1alpha1.MesosTask) { mt.Spec.TaskID = "pod.other" })
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("MesosTask spec is immutable"))
	})

	It("refuses a task without a cluster, pod UID or task id", func() {
		mt := newTask(newNamespace())
		mt.Spec = mesosv1alpha1.MesosTaskSpec{}
		err := k8sClient.Create(ctx, mt)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got %v", err)
		Expect(err.Error()).To(And(ContainSubstring("spec.clusterRef"), ContainSubstring("spec.podUID"), ContainSubstring("spec.taskID")))
	})

	It("refuses a host port outside 1-65535", func() {
		mt := newTask(newNamespace())
		mt.Spec.Resources.Ports = []int32{70000}
		expectRejected(mt, "spec.resources.ports[0]: Invalid value")
	})

	It("refuses an unknown phase", func() {
		mt := newTask(newNamespace())
		Expect(k8sClient.Create(ctx, mt)).To(Succeed())
		err := updateTask(mt, func(mt *mesosv1alpha1.MesosTask) { mt.Status.Phase = "Sleeping" })
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("status.phase: Unsupported value"))
	})
})

var _ = Describe("OutageToleration validation", func() {
	outageToleration := func(schedulerName string, seconds int64) *mesosv1alpha1.OutageToleration {
		return &mesosv1alpha1.OutageToleration{ObjectMeta: metav1.ObjectMeta{GenerateName: "ot-"},
			Spec: mesosv1alpha1.OutageTolerationSpec{SchedulerName: schedulerName, TolerationSeconds: seconds}}
	}

	It("accepts a cluster's scheduler name and timeout", func() {
		ot := outageToleration(uniqueSchedulerName(), 3600)
		Expect(k8sClient.Create(ctx, ot)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, ot) })
	})

	It("refuses the default scheduler's name, which would lengthen kube-scheduler's pods' tolerations", func() {
		expectRejected(outageToleration(corev1.DefaultSchedulerName, 3600), "schedulerName must not be default-scheduler")
	})

	It("refuses a negative timeout and a missing scheduler name", func() {
		expectRejected(outageToleration("mesos", -1), "spec.tolerationSeconds")
		expectRejected(outageToleration("", 3600), "spec.schedulerName")
	})
})
