package integration

import (
	"bytes"
	"io"
	"net/http"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mastercalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/controllers"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/mesossim"
	"github.com/k8sm/k8sm/internal/podtask"
)

// A Mesos operator who tears a framework down has Mesos kill every task of it, tell the
// framework nothing, and refuse each of its subscriptions: its pods end as their tasks
// did (Failed, reason FrameworkRemoved), a deleted one goes instead of staying
// Terminating, and the agents' Nodes say what happened. The MesosCluster made again
// registers a new framework, which runs pods as any.
var _ = Describe("A framework Mesos removed", func() {
	It("fails its running pods, lets its deleted ones go, and a cluster made again runs pods", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		ns := newNamespace()
		running, deleted := newPod(ns, "running", mc.Spec.SchedulerName, "100m"), newPod(ns, "deleted", mc.Spec.SchedulerName, "100m")
		for _, p := range []*corev1.Pod{running, deleted} {
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			Eventually(podOf(client.ObjectKeyFromObject(p)), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		}

		By("a Mesos operator tearing the framework down")
		teardownFramework(sim, mc.Status.FrameworkID)
		Eventually(unkilledTasks(sim), 10*time.Second, 100*time.Millisecond).Should(BeEmpty(), "Mesos kills the framework's tasks")
		Eventually(condition(mc, mesosv1alpha1.ConditionReady), 20*time.Second, 100*time.Millisecond).Should(HavePrefix("False/" + controllers.ReasonFrameworkRemoved))
		// The disconnects are counted by the reason the condition shows, for an alert on it.
		Eventually(func() map[string]float64 { return clusterMetrics(mc.Name) }, 5*time.Second, 50*time.Millisecond).Should(
			HaveKey(`k8sm_framework_disconnects_total{reason="` + controllers.ReasonFrameworkRemoved + `"}`))

		By("its running pod failing, and its MesosTask Gone")
		Eventually(podOf(client.ObjectKeyFromObject(running)), 20*time.Second, 100*time.Millisecond).Should(And(
			HaveField("Status.Phase", corev1.PodFailed), HaveField("Status.Reason", podtask.ReasonFrameworkRemoved)))
		p, err := podOf(client.ObjectKeyFromObject(running))()
		Expect(err).NotTo(HaveOccurred())
		Expect(podCondition(p, corev1.PodReady)).To(HavePrefix("False/"))
		Expect(p.Status.Message).To(ContainSubstring("delete the MesosCluster and create it again"))
		mt := &mesosv1alpha1.MesosTask{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(running), mt)).To(Succeed())
		Expect(mt.Status.Phase).To(Equal(mesosv1alpha1.TaskPhaseGone))

		By("its agent's Node saying the framework was removed")
		Eventually(func() string {
			n := &corev1.Node{}
			if err := k8sClient.Get(ctx, client.ObjectKey{Name: agentNodeOf(mc, "agent-1")}, n); err != nil {
				return err.Error()
			}
			if c := agentnode.ReadyCondition(n); c != nil {
				return string(c.Status) + "/" + c.Reason
			}
			return "<none>"
		}, 20*time.Second, 100*time.Millisecond).Should(Equal("Unknown/" + agentnode.ReasonFrameworkRemoved))

		By("deleting a pod: it and its MesosTask go, though no task can be killed")
		key := client.ObjectKeyFromObject(deleted)
		Expect(k8sClient.Delete(ctx, deleted)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, key, &corev1.Pod{})) },
			20*time.Second, 100*time.Millisecond).Should(BeTrue(), "the pod stays Terminating")
		Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, key, &mesosv1alpha1.MesosTask{})) },
			20*time.Second, 100*time.Millisecond).Should(BeTrue(), "the MesosTask stays Terminating")

		By("making the MesosCluster again: a new framework, which runs pods")
		Expect(k8sClient.Delete(ctx, mc)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), &mesosv1alpha1.MesosCluster{}))
		}, 20*time.Second, 100*time.Millisecond).Should(BeTrue())
		again := simClusterWith(sim, func(c *mesosv1alpha1.MesosCluster) {
			c.GenerateName, c.Name, c.Spec.SchedulerName = "", mc.Name, mc.Spec.SchedulerName
		})
		Expect(again.Status.FrameworkID).NotTo(Equal(mc.Status.FrameworkID))
		pod := newPod(ns, "again", mc.Spec.SchedulerName, "100m")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(pod)), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		Consistently(podOf(client.ObjectKeyFromObject(pod)), 2*time.Second, 200*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
	})
})

// teardownFramework removes a framework as a Mesos operator does, with the operator
// API's TEARDOWN.
func teardownFramework(sim *mesossim.Master, id string) {
	GinkgoHelper()
	call, err := mastercalls.Teardown(mesos.FrameworkID{Value: id}).Marshal()
	Expect(err).NotTo(HaveOccurred())
	resp, err := http.Post(sim.URL()+"/api/v1", "application/x-protobuf", bytes.NewReader(call))
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	msg, _ := io.ReadAll(resp.Body)
	Expect(resp.StatusCode).To(Equal(http.StatusOK), string(msg))
}
