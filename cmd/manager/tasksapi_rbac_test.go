package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/taskapi"
	"github.com/k8sm/k8sm/internal/taskstore"
	"github.com/k8sm/k8sm/internal/testenv"
)

// registeredTasksAPI installs the manager's RBAC of config/<install> and registers the
// MesosTasks API for a manager serving at a free loopback address, which it returns.
func registeredTasksAPI(ctx context.Context, install string) string {
	Expect(testenv.InstallManagerRBACOf(ctx, testEnv.Config, install)).To(Succeed())
	addr := freeAddr()
	_, port, err := net.SplitHostPort(addr)
	Expect(err).NotTo(HaveOccurred())
	portNumber, err := strconv.Atoi(port)
	Expect(err).NotTo(HaveOccurred())
	Expect(testenv.RegisterTasksAPI(ctx, testEnv.Config, installNamespace, portNumber)).To(Succeed())
	return addr
}

// expectServedUnrefused waits until kube-apiserver lists the MesosTasks the manager
// serves, and expects that its RBAC refused none of its requests.
func expectServedUnrefused(ctx context.Context, refused *refusals) {
	served := dynamic.NewForConfigOrDie(testEnv.Config).Resource(schema.GroupVersionResource{Group: "tasks.mesos.k8sm.io", Version: "v1alpha1", Resource: "mesostasks"})
	Eventually(func() error {
		_, err := served.List(ctx, metav1.ListOptions{})
		return err
	}, 60*time.Second, 200*time.Millisecond).Should(Succeed(), refused.describe)
	Expect(refused.list()).To(BeEmpty(), "requests the manager's RBAC refused")
}

// The manager serving the MesosTasks API as config/tasks-api installs it: its own
// ServiceAccount token and that install's RBAC. It makes its certificate (a Secret in its
// namespace), sets the APIService's CA bundle, reads how kube-apiserver's front proxy
// authenticates, labels its own pod as the leader's and takes the label off an earlier
// leader's (a replica that does not lead passes the requests on to it), and authorizes
// a request, and not one request is refused.
var _ = Describe("The manager with config/tasks-api's RBAC", func() {
	It("labels the leader's pod alone and serves the MesosTasks API through kube-apiserver", func() {
		ctx := context.Background()
		addr := registeredTasksAPI(ctx, "tasks-api")
		cs := kubernetes.NewForConfigOrDie(testEnv.Config)
		replicaPod(ctx, cs, "manager-this", map[string]string{"app": "k8sm"}, "")
		replicaPod(ctx, cs, "manager-before", map[string]string{"app": "k8sm", taskapi.LeaderLabelKey: "true"}, "")
		Expect(os.Setenv("POD_NAME", "manager-this")).To(Succeed())
		DeferCleanup(func() { _ = os.Unsetenv("POD_NAME") })

		var refused refusals
		startManagerAs(refused.watch(serviceAccountConfig(installNamespace, managerAccount)), parseOptions(
			"--health-probe-bind-address", freeAddr(), "--metrics-bind-address", "0", "--namespace", installNamespace,
			"--leader-elect", "--leader-election-namespace", installNamespace, "--leader-election-id", "k8sm-tasks-api-rbac-test",
			"--tasks-api-bind-address", addr))

		Eventually(labeledLeaders(ctx, cs), 30*time.Second, 200*time.Millisecond).Should(ConsistOf("manager-this"), refused.describe)
		expectServedUnrefused(ctx, &refused)
	})
})

// labeledLeaders lists the names of the pods of the manager's namespace labeled as the
// leader's.
func labeledLeaders(ctx context.Context, cs kubernetes.Interface) func() ([]string, error) {
	return func() ([]string, error) {
		l, err := cs.CoreV1().Pods(installNamespace).List(ctx, metav1.ListOptions{LabelSelector: taskapi.LeaderLabelKey + "=true"})
		if err != nil {
			return nil, err
		}
		var names []string
		for _, p := range l.Items {
			names = append(names, p.Name)
		}
		return names, nil
	}
}

// The manager with the MesosTasks in memory as config/tasks-in-memory installs it: its
// own ServiceAccount token and that install's RBAC. Its leader labels its own pod for the
// Service and takes the label off an earlier leader's, and serves the MesosTasks; where
// the MesosTask CRD is still installed, with an object kept by its finalizer, it takes
// that off and deletes the CRD; and not one request is refused.
var _ = Describe("The manager with config/tasks-in-memory's RBAC", func() {
	It("labels the leader's pod alone, serves the MesosTasks API through kube-apiserver and removes the MesosTask CRD", func() {
		ctx := context.Background()
		addr := registeredTasksAPI(ctx, "tasks-in-memory")
		cs := kubernetes.NewForConfigOrDie(testEnv.Config)
		reinstallTaskCRDAfter()
		kept := &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: installNamespace, Name: "kept", Finalizers: []string{"mesos.k8sm.io/task"}},
			Spec: mesosv1alpha1.MesosTaskSpec{ClusterRef: "c", PodUID: "u-kept", TaskID: "k8sm.u-kept"}}
		admin, err := client.New(testEnv.Config, client.Options{Scheme: newScheme()})
		Expect(err).NotTo(HaveOccurred())
		Expect(admin.Create(ctx, kept)).To(Succeed())
		replicaPod(ctx, cs, "manager-this", map[string]string{"app": "k8sm"}, "")
		replicaPod(ctx, cs, "manager-before", map[string]string{"app": "k8sm", taskapi.LeaderLabelKey: "true"}, "")
		Expect(os.Setenv("POD_NAME", "manager-this")).To(Succeed())
		DeferCleanup(func() { _ = os.Unsetenv("POD_NAME") })

		var refused refusals
		startManagerAs(refused.watch(serviceAccountConfig(installNamespace, managerAccount)), parseOptions(
			"--health-probe-bind-address", freeAddr(), "--metrics-bind-address", "0", "--namespace", installNamespace,
			"--leader-elect", "--leader-election-namespace", installNamespace, "--leader-election-id", "k8sm-tasks-in-memory-rbac-test",
			"--tasks-api-bind-address", addr, "--mesostask-storage=memory"))

		Eventually(labeledLeaders(ctx, cs), 30*time.Second, 200*time.Millisecond).Should(ConsistOf("manager-this"), refused.describe)
		expectServedUnrefused(ctx, &refused)
		Eventually(func() bool {
			crd := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"}}
			return apierrors.IsNotFound(admin.Get(ctx, client.ObjectKey{Name: taskstore.CRDName}, crd))
		}, 30*time.Second, 200*time.Millisecond).Should(BeTrue(), "the MesosTask CRD is removed once its objects are held in memory")
		Expect(refused.list()).To(BeEmpty(), "requests the manager's RBAC refused")
	})
})

// reinstallTaskCRDAfter installs the MesosTask CRD again when the spec ends, for the
// specs after it: a manager with the MesosTasks in memory removes it.
func reinstallTaskCRDAfter() {
	DeferCleanup(func() {
		_, err := envtest.InstallCRDs(testEnv.Config, envtest.CRDInstallOptions{
			Paths: []string{filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", "mesos.k8sm.io_mesostasks.yaml")}})
		Expect(err).NotTo(HaveOccurred())
	})
}

// replicaPod makes a pod of the manager's Deployment in its namespace, named name, with
// labels; with addr (host:port), the pod has that IP and names that port tasks-api, as
// the kubelet and config/tasks-api would have it.
func replicaPod(ctx context.Context, cs kubernetes.Interface, name string, labels map[string]string, addr string) {
	c, err := client.New(testEnv.Config, client.Options{Scheme: newScheme()})
	Expect(err).NotTo(HaveOccurred())
	Expect(testenv.ReplicaPod(ctx, c, installNamespace, name, labels, addr)).To(Succeed())
	DeferCleanup(func() { _ = cs.CoreV1().Pods(installNamespace).Delete(ctx, name, *metav1.NewDeleteOptions(0)) })
}

// Two replicas with the MesosTasks in memory, as config/tasks-in-memory installs them,
// and kube-apiserver's requests sent to the one that does not lead (the Service selects
// every replica): it passes them on to the leader's, found by its pod's label, and the
// leader answers. It keeps a copy of the leader's MesosTasks, and once the leader stops
// it leads with them, as they were; a leader that starts again and leads first takes
// that copy from it. Not one request of either is refused.
var _ = Describe("Two managers with the MesosTasks in memory", func() {
	It("answer kube-apiserver's requests to the replica that does not lead through the leader, which it follows", func() {
		ctx := context.Background()
		reinstallTaskCRDAfter()
		standbyAddr := registeredTasksAPI(ctx, "tasks-in-memory")
		leaderAddr := freeAddr()
		cs := kubernetes.NewForConfigOrDie(testEnv.Config)
		// The running task of a pod, whose MesosTask the leader takes over from the CRD:
		// the standby keeps it.
		replicaPod(ctx, cs, "history", nil, "")
		pod, err := cs.CoreV1().Pods(installNamespace).Get(ctx, "history", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		admin, err := client.New(testEnv.Config, client.Options{Scheme: newScheme()})
		Expect(err).NotTo(HaveOccurred())
		mt := &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: installNamespace, Name: "history"},
			Spec:   mesosv1alpha1.MesosTaskSpec{ClusterRef: "c", PodUID: string(pod.UID), TaskID: "k8sm." + string(pod.UID)},
			Status: mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, MesosState: "TASK_RUNNING", Message: "kept across leaders"}}
		Expect(admin.Create(ctx, mt)).To(Succeed())
		replicaPod(ctx, cs, "manager-leads", map[string]string{"app": "k8sm"}, leaderAddr)
		replicaPod(ctx, cs, "manager-waits", map[string]string{"app": "k8sm"}, standbyAddr)
		DeferCleanup(func() { _ = os.Unsetenv("POD_NAME") })
		start := func(pod, addr string, refused *refusals, flags ...string) (stop func()) {
			Expect(os.Setenv("POD_NAME", pod)).To(Succeed())
			return startManagerAs(refused.watch(serviceAccountConfig(installNamespace, managerAccount)), parseOptions(append([]string{
				"--health-probe-bind-address", freeAddr(), "--metrics-bind-address", "0", "--namespace", installNamespace,
				"--leader-elect", "--leader-election-namespace", installNamespace, "--leader-election-id", "k8sm-tasks-relay-test",
				"--tasks-api-bind-address", addr, "--mesostask-storage=memory"}, flags...)...))
		}

		var leaderRefused, standbyRefused refusals
		stopLeader := start("manager-leads", leaderAddr, &leaderRefused)
		Eventually(func() (map[string]string, error) {
			p, err := cs.CoreV1().Pods(installNamespace).Get(ctx, "manager-leads", metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			return p.Labels, nil
		}, 30*time.Second, 200*time.Millisecond).Should(HaveKeyWithValue(taskapi.LeaderLabelKey, "true"), leaderRefused.describe)
		// The standby takes the certificate the leader made.
		Eventually(func() error {
			_, err := cs.CoreV1().Secrets(installNamespace).Get(ctx, "k8sm-tasks-api-cert", metav1.GetOptions{})
			return err
		}, 30*time.Second, 200*time.Millisecond).Should(Succeed())
		stopStandby := start("manager-waits", standbyAddr, &standbyRefused)

		expectServedUnrefused(ctx, &standbyRefused)
		served := dynamic.NewForConfigOrDie(testEnv.Config).Resource(schema.GroupVersionResource{Group: "tasks.mesos.k8sm.io", Version: "v1alpha1", Resource: "mesostasks"}).Namespace(installNamespace)
		history, err := served.Get(ctx, "history", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred(), "the MesosTask the leader took over, through the standby")
		Expect(leaderRefused.list()).To(BeEmpty(), "requests the leader's RBAC refused")

		// The standby keeps a copy of the leader's MesosTasks (its metric says how many).
		copied := func() (float64, error) {
			families, err := crmetrics.Registry.Gather()
			if err != nil {
				return 0, err
			}
			for _, f := range families {
				if f.GetName() == "k8sm_mesostasks_copied" {
					return f.GetMetric()[0].GetGauge().GetValue(), nil
				}
			}
			return 0, errors.New("no k8sm_mesostasks_copied")
		}
		Eventually(copied, 30*time.Second, 100*time.Millisecond).Should(BeNumerically(">=", 1))

		// The leader stops (releasing its Lease); the standby leads with the copy it kept.
		// Without it, the MesosTask would be gone: its CRD is, and no pod makes it again.
		stopLeader()
		historyUID := func() (types.UID, error) {
			mt, err := served.Get(ctx, "history", metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			return mt.GetUID(), nil
		}
		Eventually(historyUID, 60*time.Second, 200*time.Millisecond).Should(Equal(history.GetUID()), standbyRefused.describe)
		Expect(standbyRefused.list()).To(BeEmpty(), "requests the new leader's RBAC refused")

		// The first replica starts again, and keeps a copy of the new leader's; it tries
		// for the Lease only every minute. The leader stops, and starts again at once: it
		// takes the released Lease before the replica with the copy, and leads with that
		// copy, which it asks for. Without it, the MesosTask would be gone again.
		var againRefused, restartedRefused refusals
		start("manager-leads", leaderAddr, &againRefused, "--leader-election-lease-duration", "120s",
			"--leader-election-renew-deadline", "100s", "--leader-election-retry-period", "60s")
		Eventually(copied, 30*time.Second, 100*time.Millisecond).Should(BeNumerically(">=", 1))
		stopStandby()
		start("manager-waits", standbyAddr, &restartedRefused)
		Eventually(historyUID, 60*time.Second, 200*time.Millisecond).Should(Equal(history.GetUID()), restartedRefused.describe)
		Expect(restartedRefused.list()).To(BeEmpty(), "requests the restarted leader's RBAC refused")
		Expect(againRefused.list()).To(BeEmpty(), "requests the replica's RBAC refused")
	})
})
