package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/taskapi"
	"github.com/k8sm/k8sm/internal/taskstore"
	"github.com/k8sm/k8sm/internal/testenv"
)

// tasksAPINamespace is the manager's namespace for its MesosTasks API: its Service and
// the Secret of the certificate it makes.
const tasksAPINamespace = "k8sm-tasks-api"

var servedTasks = schema.GroupVersionResource{Group: "tasks.mesos.k8sm.io", Version: "v1alpha1", Resource: "mesostasks"}

// serveTasksAPI registers the manager's MesosTasks API with kube-apiserver, as
// config/tasks-api does, and has the manager serve it on loopback
// (testenv.RegisterTasksAPI). The certificate is the one the manager makes, the
// APIService's CA bundle the one it sets.
func serveTasksAPI(mgr ctrl.Manager, store *taskstore.Store) {
	port, err := testenv.FreePort()
	Expect(err).NotTo(HaveOccurred())
	Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tasksAPINamespace}})).To(Succeed())
	Expect(testenv.RegisterTasksAPI(ctx, testEnv.Config, tasksAPINamespace, port)).To(Succeed())
	Expect(taskapi.Add(mgr, store, taskapi.Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Namespace: tasksAPINamespace, Service: testenv.TasksAPIService, Secret: "k8sm-tasks-api-cert"})).To(Succeed())
}

// impersonating is a dynamic client of the API server as user.
func impersonating(user string) *dynamic.DynamicClient {
	cfg := rest.CopyConfig(testEnv.Config)
	if user != "" {
		cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:authenticated"}}
	}
	return dynamic.NewForConfigOrDie(cfg)
}

// servedNames are the names the served API lists in ns, by user ("" the suite's admin).
func servedNames(user, ns string) func() ([]string, error) {
	return func() ([]string, error) {
		l, err := impersonating(user).Resource(servedTasks).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		var names []string
		for _, u := range l.Items {
			names = append(names, u.GetName())
		}
		return names, nil
	}
}

var _ = Describe("The MesosTasks API", func() {
	It("serves through kube-apiserver the MesosTasks the manager holds", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simCluster(sim)
		ns := newNamespace()
		pod := newPod(ns, "web", mc.Spec.SchedulerName, "250m")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		mt := &mesosv1alpha1.MesosTask{}
		Eventually(func() string {
			_ = k8sClient.Get(ctx, key, mt)
			return mt.Status.MesosState
		}, 30*time.Second, 100*time.Millisecond).Should(Equal("TASK_RUNNING"))

		// The APIService is Available (its CA bundle the manager's), and the list has it.
		Eventually(servedNames("", ns), 60*time.Second, 200*time.Millisecond).Should(ConsistOf("web"))
		dyn := impersonating("")
		l, err := dyn.Resource(servedTasks).Namespace(ns).List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		served := &mesosv1alpha1.MesosTask{}
		Expect(runtimeFromUnstructured(l.Items[0].Object, served)).To(Succeed())
		Expect(served.APIVersion).To(Equal("tasks.mesos.k8sm.io/v1alpha1"))
		Expect(served.UID).To(Equal(mt.UID))
		Expect(equality.Semantic.DeepEqual(served.Spec, mt.Spec)).To(BeTrue(), "served %+v, held %+v", served.Spec, mt.Spec)
		Expect(served.Status.MesosState).To(Equal("TASK_RUNNING"))

		// The printer columns, as kubectl asks for them.
		b, err := kubernetes.NewForConfigOrDie(testEnv.Config).CoreV1().RESTClient().Get().AbsPath("/apis/tasks.mesos.k8sm.io/v1alpha1/namespaces", ns, "mesostasks").
			SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json").DoRaw(ctx)
		Expect(err).NotTo(HaveOccurred())
		var table metav1.Table
		Expect(json.Unmarshal(b, &table)).To(Succeed())
		Expect(table.ColumnDefinitions[2].Name).To(Equal("Mesos State"))
		Expect(table.Rows).To(HaveLen(1))
		Expect(table.Rows[0].Cells[:3]).To(Equal([]any{"web", "Running", "TASK_RUNNING"}))

		// A watch from the list's resourceVersion sees the pod's deletion end the task.
		w, err := dyn.Resource(servedTasks).Namespace(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: l.GetResourceVersion()})
		Expect(err).NotTo(HaveOccurred())
		defer w.Stop()
		Expect(k8sClient.Delete(ctx, pod)).To(Succeed())
		Eventually(func() string {
			select {
			case ev := <-w.ResultChan():
				u, ok := ev.Object.(*unstructured.Unstructured)
				if !ok {
					return fmt.Sprintf("%s %T", ev.Type, ev.Object)
				}
				state, _, _ := unstructured.NestedString(u.Object, "status", "mesosState")
				if ev.Type == watch.Deleted {
					return "deleted"
				}
				return state
			default:
				return ""
			}
		}, 30*time.Second, 10*time.Millisecond).Should(Or(Equal("TASK_KILLED"), Equal("deleted")))

		// Read-only: the manager alone writes MesosTasks.
		err = dyn.Resource(servedTasks).Namespace(ns).Delete(ctx, "web", metav1.DeleteOptions{})
		Expect(apierrors.IsMethodNotSupported(err)).To(BeTrue(), "delete: %v", err)
	})

	It("answers only what RBAC allows the user", func() {
		ns, other := newNamespace(), newNamespace()
		user := "tasks-reader-" + ns
		Eventually(func() error { _, err := servedNames("", ns)(); return err }, 60*time.Second, 200*time.Millisecond).Should(Succeed())
		_, err := servedNames(user, ns)()
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "without a role: %v", err)

		Expect(k8sClient.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tasks-reader"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{servedTasks.Group}, Resources: []string{"mesostasks"}, Verbs: []string{"list"}}}})).To(Succeed())
		Expect(k8sClient.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tasks-reader"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "tasks-reader"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}})).To(Succeed())
		// The denial is remembered for 10 s, as kube-apiserver's delegating authorizer does.
		Eventually(func() error { _, err := servedNames(user, ns)(); return err }, 30*time.Second, 500*time.Millisecond).Should(Succeed())
		_, err = servedNames(user, other)()
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "another namespace: %v", err)
		_, err = impersonating(user).Resource(servedTasks).Namespace(ns).Get(ctx, "any", metav1.GetOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "get, not granted: %v", err)
	})
})

// runtimeFromUnstructured converts an unstructured object into a typed one.
func runtimeFromUnstructured(u map[string]any, into any) error {
	b, err := json.Marshal(u)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, into)
}
