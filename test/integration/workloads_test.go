package integration

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/mesossim"
	"github.com/k8sm/k8sm/internal/podtask"
	"github.com/k8sm/k8sm/internal/testenv"
)

// Workloads made by Kubernetes' own controllers (a real kube-controller-manager running
// the Deployment, ReplicaSet, Job and DaemonSet controllers, and kube-scheduler for the
// DaemonSet's pods) run on Mesos and are judged by those controllers: a Deployment
// becomes Available from our pods' Ready conditions, a Job Complete from their Succeeded
// phase, a DaemonSet ready on every agent.
var _ = Describe("Kubernetes workloads on Mesos", Ordered, func() {
	BeforeAll(func() {
		for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
			if _, err := testenv.ComponentBinary(name); err != nil && !testenv.RequireControllerManager() {
				Skip(err.Error())
			}
		}
		kcm, err := testenv.StartControllerManager(testEnv, "deployment", "replicaset", "job", "daemonset")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(kcm.Stop)
		ks, err := testenv.StartScheduler(testEnv)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(ks.Stop)
	})

	template := func(schedulerName, cpu string) corev1.PodTemplateSpec {
		pod := newPod("", "", schedulerName, cpu)
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: pod.Spec}
	}

	It("runs a Deployment's 3 replicas across agents until it is Available, and scales it down", func() {
		sim := startSim(3, "cpus:1;mem:4096;disk:10000")
		mc := simCluster(sim)
		ns := newNamespace()
		replicas := int32(3)
		// 600m each: no agent holds two, so the replicas must spread over the three.
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: template(mc.Spec.SchedulerName, "600m"),
			},
		}
		Expect(k8sClient.Create(ctx, d)).To(Succeed())
		Eventually(func() int32 {
			_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(d), d)
			return d.Status.AvailableReplicas
		}, 60*time.Second, 200*time.Millisecond).Should(Equal(int32(3)), "the Deployment must become Available from our pods' Ready conditions")
		var pods corev1.PodList
		Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
		nodes := map[string]bool{}
		for _, p := range pods.Items {
			Expect(p.Status.Phase).To(Equal(corev1.PodRunning))
			nodes[p.Spec.NodeName] = true
		}
		Expect(nodes).To(HaveLen(3), "one replica per agent")

		By("scaling down to one replica: the ReplicaSet deletes two pods, their tasks are killed")
		replicas = 1
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		d.Spec.Replicas = &replicas
		Expect(k8sClient.Update(ctx, d)).To(Succeed())
		Eventually(func() int {
			var left corev1.PodList
			_ = k8sClient.List(ctx, &left, client.InNamespace(ns))
			return len(left.Items)
		}, 60*time.Second, 200*time.Millisecond).Should(Equal(1))
		// The pods went only after their tasks ended; none but one is left in Mesos.
		Eventually(unkilledTasks(sim), 20*time.Second, 200*time.Millisecond).Should(Equal([]string{"TASK_RUNNING"}))
		Eventually(func() int32 {
			_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(d), d)
			return d.Status.AvailableReplicas
		}, 30*time.Second, 200*time.Millisecond).Should(Equal(int32(1)))
	})

	It("runs a DaemonSet that tolerates the agents' taint on every agent, bound by kube-scheduler", func() {
		sim := startSim(2, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		nodes := []string{agentNodeOf(mc, "agent-1"), agentNodeOf(mc, "agent-2")}
		ns := newNamespace()
		tpl := template(corev1.DefaultSchedulerName, "100m")
		tpl.Labels = map[string]string{"app": "agent-daemon"}
		// As node agents (log shippers, exporters) are made: tolerating every taint. This
		// cluster's Nodes only, for the suite's other clusters have Nodes too.
		tpl.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
		tpl.Spec.NodeSelector = map[string]string{agentnode.LabelCluster: mc.Name}
		ds := &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agent-daemon"},
			Spec: appsv1.DaemonSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: tpl.Labels},
				Template: tpl,
			},
		}
		Expect(k8sClient.Create(ctx, ds)).To(Succeed())
		ready := func() (int32, error) {
			err := k8sClient.Get(ctx, client.ObjectKeyFromObject(ds), ds)
			return ds.Status.NumberReady, err
		}
		Eventually(ready, 60*time.Second, 200*time.Millisecond).Should(Equal(int32(2)), "ready on both agents")
		Expect(ds.Status.DesiredNumberScheduled).To(Equal(int32(2)))
		running := func() ([]string, error) {
			var pods corev1.PodList
			err := k8sClient.List(ctx, &pods, client.InNamespace(ns))
			var on []string
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp.IsZero() {
					on = append(on, p.Spec.NodeName)
				}
			}
			return on, err
		}
		Expect(running()).To(ConsistOf(nodes[0], nodes[1]))

		By("deleting one of its pods: the task is killed, the pod goes, the DaemonSet makes another")
		var pods corev1.PodList
		Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
		gone := pods.Items[0]
		Expect(k8sClient.Delete(ctx, &gone)).To(Succeed())
		Eventually(func() bool {
			err := k8sClient.Get(ctx, client.ObjectKeyFromObject(&gone), &corev1.Pod{})
			return apierrors.IsNotFound(err)
		}, 30*time.Second, 200*time.Millisecond).Should(BeTrue())
		Eventually(running, 60*time.Second, 200*time.Millisecond).Should(ConsistOf(nodes[0], nodes[1]))
		Eventually(unkilledTasks(sim), 20*time.Second, 200*time.Millisecond).Should(Equal([]string{"TASK_RUNNING", "TASK_RUNNING"}))
	})

	It("ends a Job's pods Succeeded and the Job Complete", func() {
		sim := startSim(2, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		ns := newNamespace()
		completions := int32(2)
		tpl := template(mc.Spec.SchedulerName, "100m")
		tpl.Spec.RestartPolicy = corev1.RestartPolicyNever
		// The simulated task finishes after a second.
		tpl.Annotations = map[string]string{podtask.AnnotationTaskLabelPrefix + mesossim.LabelFinishAfter: "1s"}
		job := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "batch"},
			Spec:       batchv1.JobSpec{Completions: &completions, Template: tpl},
		}
		Expect(k8sClient.Create(ctx, job)).To(Succeed())
		Eventually(func() string {
			_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(job), job)
			for _, c := range job.Status.Conditions {
				if c.Type == batchv1.JobComplete {
					return string(c.Status)
				}
			}
			return "<none>"
		}, 60*time.Second, 200*time.Millisecond).Should(Equal("True"), "the Job must complete from our pods' Succeeded phase")
		Expect(job.Status.Succeeded).To(Equal(int32(2)))
		Expect(job.Status.Failed).To(BeZero())
	})
})
