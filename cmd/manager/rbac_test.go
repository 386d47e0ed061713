package main

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/controllers"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/mesossim"
)

// readyOf is a cluster's Ready condition as "Status/Reason: message".
func readyOf(c client.Client, name string) func() string {
	return func() string {
		mc := &mesosv1alpha1.MesosCluster{}
		if err := c.Get(context.Background(), client.ObjectKey{Name: name}, mc); err != nil {
			return err.Error()
		}
		cond := meta.FindStatusCondition(mc.Status.Conditions, mesosv1alpha1.ConditionReady)
		if cond == nil || cond.ObservedGeneration != mc.Generation {
			return "<none>"
		}
		return string(cond.Status) + "/" + cond.Reason + ": " + cond.Message
	}
}

// gone says whether an object no longer exists.
func gone(c client.Client, key client.ObjectKey, obj client.Object) func() bool {
	return func() bool { return apierrors.IsNotFound(c.Get(context.Background(), key, obj)) }
}

// rbacCluster is a MesosCluster on the sim whose framework authenticates with the
// Secret ns/name.
func rbacCluster(name, master, secretNamespace string) *mesosv1alpha1.MesosCluster {
	return &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: mesosv1alpha1.MesosClusterSpec{Master: master, SchedulerName: name,
			Executor: mesosv1alpha1.ExecutorSpec{URI: "/k8sm-executor"},
			Framework: mesosv1alpha1.FrameworkSpec{Principal: "k8sm", AllowPlaintextCredentials: true,
				CredentialsSecretRef: &mesosv1alpha1.SecretKeyRef{Namespace: secretNamespace, Name: "mesos-credentials"}}}}
}

// createSecret makes the framework credentials Secret in ns.
func createSecret(c client.Client, ns string) {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mesos-credentials"},
		Data: map[string][]byte{"principal": []byte("k8sm"), "secret": []byte("s3cr3t")}}
	Expect(client.IgnoreAlreadyExists(c.Create(context.Background(), s))).To(Succeed())
}

// The manager as deployed: its own ServiceAccount token, config/default's RBAC and
// nothing else, leader election on. Every flow runs and not one request is refused, so
// the narrowed roles are enough; and a Secret outside its namespace is refused by name.
var _ = Describe("The manager with config/default's RBAC", func() {
	It("runs a pod end to end, and refuses a Secret outside its namespace", func() {
		ctx := context.Background()
		installManagerRBAC()
		admin := adminClient()
		sim, err := mesossim.New(mesossim.Config{Agents: 1, HeartbeatInterval: time.Second,
			AllocationInterval: 100 * time.Millisecond, UpdateRetry: time.Second})
		Expect(err).NotTo(HaveOccurred())
		Expect(sim.Start("127.0.0.1:0")).To(Succeed())
		DeferCleanup(sim.Close)

		var refused refusals
		startManagerAs(refused.watch(serviceAccountConfig(installNamespace, managerAccount)), parseOptions(
			"--health-probe-bind-address", freeAddr(), "--metrics-bind-address", "0", "--namespace", installNamespace,
			"--leader-elect", "--leader-election-namespace", installNamespace, "--leader-election-id", "k8sm-rbac-test"))

		By("reading the credentials Secret in its own namespace")
		createSecret(admin, installNamespace)
		mc := rbacCluster("mesos-rbac", sim.URL(), installNamespace)
		Expect(admin.Create(ctx, mc)).To(Succeed())
		DeferCleanup(func() { _ = admin.Delete(ctx, mc) })
		Eventually(readyOf(admin, mc.Name), 30*time.Second, 100*time.Millisecond).Should(HavePrefix("True/"+controllers.ReasonSubscribed), refused.describe)

		By("holding the leader Lease in its namespace and an agent Node's Lease in kube-node-lease")
		Expect(admin.Get(ctx, client.ObjectKey{Namespace: installNamespace, Name: "k8sm-rbac-test"}, &coordinationv1.Lease{})).To(Succeed())
		node := agentNodeOf(admin, mc.Name, refused.describe)
		Eventually(func() error {
			return admin.Get(ctx, client.ObjectKey{Namespace: corev1.NamespaceNodeLease, Name: node}, &coordinationv1.Lease{})
		}, 30*time.Second, 100*time.Millisecond).Should(Succeed(), refused.describe)

		By("scheduling, binding, running and removing a pod of another namespace")
		runAndDeletePod(admin, mc.Spec.SchedulerName, node, refused.describe)

		By("refusing a Secret of another namespace without reading it")
		createSecret(admin, metav1.NamespaceDefault)
		other := rbacCluster("mesos-rbac-other", sim.URL(), metav1.NamespaceDefault)
		Expect(admin.Create(ctx, other)).To(Succeed())
		DeferCleanup(func() { _ = admin.Delete(ctx, other) })
		Eventually(readyOf(admin, other.Name), 30*time.Second, 100*time.Millisecond).Should(Equal(
			"False/"+controllers.ReasonSecretNamespace+": Secret default/mesos-credentials (framework.credentialsSecretRef) is not in "+
				installNamespace+", the only namespace the manager reads Secrets from: put it there"), refused.describe)

		By("tearing a cluster down, its Node and Lease with it")
		Expect(admin.Delete(ctx, mc)).To(Succeed())
		Eventually(gone(admin, client.ObjectKey{Name: mc.Name}, &mesosv1alpha1.MesosCluster{}), 30*time.Second, 100*time.Millisecond).Should(BeTrue(), refused.describe)
		Eventually(gone(admin, client.ObjectKey{Name: node}, &corev1.Node{}), 30*time.Second, 100*time.Millisecond).Should(BeTrue(), refused.describe)
		Eventually(gone(admin, client.ObjectKey{Namespace: corev1.NamespaceNodeLease, Name: node}, &coordinationv1.Lease{}), 30*time.Second, 100*time.Millisecond).Should(BeTrue(), refused.describe)

		Expect(refused.list()).To(BeEmpty(), "requests the manager's RBAC refused")
	})
})

// agentNodeOf waits for the one agent Node of a cluster and returns its name.
func agentNodeOf(admin client.Client, cluster string, refused func() string) string {
	var nodes corev1.NodeList
	Eventually(func() ([]corev1.Node, error) {
		err := admin.List(context.Background(), &nodes, client.MatchingLabels{agentnode.LabelCluster: cluster})
		return nodes.Items, err
	}, 30*time.Second, 100*time.Millisecond).Should(HaveLen(1), refused)
	return nodes.Items[0].Name
}

// runAndDeletePod runs a pod of a new namespace on the cluster's scheduler until it is
// Running with its events recorded, then deletes it and waits until the manager removed it.
func runAndDeletePod(admin client.Client, schedulerName, node string, refused func() string) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "k8sm-rbac-"}}
	Expect(admin.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func() { _ = admin.Delete(ctx, ns) })
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "web"},
		Spec: corev1.PodSpec{SchedulerName: schedulerName, Containers: []corev1.Container{{Name: "c", Image: "busybox",
			Command:   []string{"sleep", "3600"},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}}}
	Expect(admin.Create(ctx, pod)).To(Succeed())
	key := client.ObjectKeyFromObject(pod)
	Eventually(func() (*corev1.Pod, error) {
		p := &corev1.Pod{}
		return p, admin.Get(ctx, key, p)
	}, 30*time.Second, 100*time.Millisecond).Should(And(HaveField("Spec.NodeName", node), HaveField("Status.Phase", corev1.PodRunning)), refused)
	mt := &mesosv1alpha1.MesosTask{}
	Expect(admin.Get(ctx, key, mt)).To(Succeed())
	Expect(mt.OwnerReferences).To(ContainElement(And(HaveField("UID", pod.UID), HaveField("BlockOwnerDeletion", HaveValue(BeTrue())))))
	Eventually(func() ([]string, error) {
		var list eventsv1.EventList
		err := admin.List(ctx, &list, client.InNamespace(ns.Name))
		var reasons []string
		for _, e := range list.Items {
			reasons = append(reasons, e.Regarding.Kind+"/"+e.Reason)
		}
		return reasons, err
	}, 30*time.Second, 100*time.Millisecond).Should(ContainElements("Pod/Scheduled", "Pod/Running"), refused)

	Expect(admin.Delete(ctx, pod)).To(Succeed())
	Eventually(gone(admin, key, &corev1.Pod{}), 30*time.Second, 100*time.Millisecond).Should(BeTrue(), refused)
	Eventually(gone(admin, key, &mesosv1alpha1.MesosTask{}), 30*time.Second, 100*time.Millisecond).Should(BeTrue(), refused)
}
