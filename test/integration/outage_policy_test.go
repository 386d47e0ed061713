package integration

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/installer"
	"github.com/k8sm/k8sm/internal/testenv"
)

// The outage tolerations policy (config/admission) has the API server give a cluster's
// pods, as they are created, the tolerations the manager would otherwise write to each
// (agentnode.OutageTolerations), which saves that write. Its parameters are the
// clusters' OutageTolerations, which the manager writes from their specs. Each pod is
// created twice: with the cluster's schedulerName, and with kube-scheduler's as the twin
// that shows what the pod had without the policy (the API server's default tolerations
// included).
var _ = Describe("The outage tolerations policy", func() {
	It("gives a cluster's pods, as they are created, the tolerations the manager would write", func() {
		sim := startSim(1, "cpus:4;mem:4096;disk:10000")
		mc := minimalCluster()
		mc.Spec.Master = sim.URL()
		mc.Spec.SchedulerName = uniqueSchedulerName()
		mc.Spec.Framework.FailoverTimeout = &metav1.Duration{Duration: time.Hour}
		createCluster(mc)
		// And one with the default failover timeout (a week).
		byDefault := minimalCluster()
		byDefault.Spec.Master = sim.URL()
		byDefault.Spec.SchedulerName = uniqueSchedulerName()
		createCluster(byDefault)
		ns := newNamespace()
		DeferCleanup(func() {
			for _, o := range []client.Object{&admissionregistrationv1.MutatingAdmissionPolicyBinding{}, &admissionregistrationv1.MutatingAdmissionPolicy{}} {
				o.SetName("k8sm-outage-tolerations")
				_ = k8sClient.Delete(ctx, o)
			}
		})
		Expect(testenv.InstallAdmissionPolicies(ctx, testEnv.Config, installer.OutageTolerationsApplied(k8sClient, ns, mc.Spec.SchedulerName, 3600))).To(Succeed())
		// A policy that fails is ignored as installed (failurePolicy: Ignore), which would
		// hide its errors here: they fail the pods' creation instead.
		policy := &admissionregistrationv1.MutatingAdmissionPolicy{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "k8sm-outage-tolerations"}, policy)).To(Succeed())
		policy.Spec.FailurePolicy = ptr.To(admissionregistrationv1.Fail)
		Expect(k8sClient.Update(ctx, policy)).To(Succeed())
		Eventually(func() error {
			probe := newPod(ns, "probe", byDefault.Spec.SchedulerName, "100m")
			probe.Spec.Tolerations = []corev1.Toleration{{Key: "x", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
			probe.Spec.NodeSelector = map[string]string{"nowhere": "x"}
			if err := k8sClient.Create(ctx, probe, client.DryRunAll); err != nil {
				return err
			}
			for _, t := range probe.Spec.Tolerations {
				if t.Key == corev1.TaintNodeNotReady && ptr.Deref(t.TolerationSeconds, 0) == 7*24*3600 {
					return nil
				}
			}
			return fmt.Errorf("not applied yet: %v", probe.Spec.Tolerations)
		}, 10*time.Second, 100*time.Millisecond).Should(Succeed(), "a pod with a toleration of its own, of a cluster with the default failover timeout")

		exists, equal := corev1.TolerationOpExists, corev1.TolerationOpEqual
		for _, c := range []struct {
			mc      *mesosv1alpha1.MesosCluster
			timeout time.Duration
		}{{mc, time.Hour}, {byDefault, 7 * 24 * time.Hour}} {
			for name, tolerations := range map[string][]corev1.Toleration{
				"none":               nil,
				"short-unreachable":  {{Key: corev1.TaintNodeUnreachable, Operator: exists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](2)}},
				"long-unreachable":   {{Key: corev1.TaintNodeUnreachable, Operator: exists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](7200)}},
				"everything":         {{Operator: exists}},
				"any-noexecute":      {{Operator: exists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](10)}},
				"other-value":        {{Key: corev1.TaintNodeNotReady, Operator: equal, Value: "x", Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](5)}},
				"noschedule":         {{Key: corev1.TaintNodeUnreachable, Operator: exists, Effect: corev1.TaintEffectNoSchedule}},
				"longer-than-a-week": {{Key: corev1.TaintNodeUnreachable, Operator: exists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](700000)}},
			} {
				pod := newPod(ns, name, c.mc.Spec.SchedulerName, "100m")
				pod.Spec.Tolerations = tolerations
				twin := newPod(ns, name+"-twin", corev1.DefaultSchedulerName, "100m")
				twin.Spec.Tolerations = tolerations
				// Not to be scheduled: nothing runs them.
				pod.Spec.NodeSelector, twin.Spec.NodeSelector = map[string]string{"nowhere": "x"}, map[string]string{"nowhere": "x"}
				Expect(k8sClient.Create(ctx, pod, client.DryRunAll)).To(Succeed())
				Expect(k8sClient.Create(ctx, twin, client.DryRunAll)).To(Succeed())
				want, _ := agentnode.OutageTolerations(twin.Spec.Tolerations, c.timeout)
				Expect(pod.Spec.Tolerations).To(Equal(want), "the tolerations of pod %q of a cluster whose failover timeout is %s", name, c.timeout)
			}
		}

		By("following the cluster's failover timeout as it changes")
		ot := &mesosv1alpha1.OutageToleration{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), ot)).To(Succeed())
		Expect(ot.Spec).To(Equal(mesosv1alpha1.OutageTolerationSpec{SchedulerName: mc.Spec.SchedulerName, TolerationSeconds: 3600}))
		Expect(updateCluster(mc, func(mc *mesosv1alpha1.MesosCluster) {
			mc.Spec.Framework.FailoverTimeout = &metav1.Duration{Duration: 2 * time.Hour}
		})).To(Succeed())
		Expect(metav1.IsControlledBy(ot, mc)).To(BeTrue(), "the OutageToleration is the cluster's")
		Eventually(installer.OutageTolerationsApplied(k8sClient, ns, mc.Spec.SchedulerName, 7200)).WithContext(ctx).
			WithTimeout(10*time.Second).WithPolling(100*time.Millisecond).Should(BeTrue(), "a pod created after the change tolerates two hours")

		By("leaving the pods of other schedulers as they are")
		other := newPod(ns, "other", "someone-else", "100m")
		Expect(k8sClient.Create(ctx, other, client.DryRunAll)).To(Succeed())
		for _, t := range other.Spec.Tolerations {
			Expect(t.TolerationSeconds).To(HaveValue(BeNumerically("==", 300)), "the API server's default")
		}
	})
})
