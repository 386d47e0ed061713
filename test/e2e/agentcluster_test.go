package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/mesossim"
	"github.com/k8sm/k8sm/internal/testenv"
)

// agentCluster is what the kubectl specs run against: a kube-apiserver configured as in
// a cluster (its kubelet client certificate, RBAC), the manager binary as its own
// ServiceAccount, and the real k8sm-executor under mesos-sim, serving the kubelet API of
// its agent's Node on 127.0.0.1, the Node's address; on it runs a process-runtime pod,
// "talker" (talkerSource), that prints two lines and echoes TCP.
type agentCluster struct {
	env *envtest.Environment
	cs  kubernetes.Interface
	// kubectl is the kubectl binary; admin a kubeconfig of a cluster admin.
	kubectl, admin string
	// ns is the pod's namespace, node its (the agent's) Node.
	ns, node string
	// podPort is where the pod listens, on 127.0.0.1.
	podPort int
	// cl is a client of the cluster's admin; cluster the MesosCluster's name; talker the
	// pod's program.
	cl      client.Client
	cluster string
	talker  string
	// manager is the manager's process; restartManager kills it and starts it again.
	manager        *exec.Cmd
	restartManager func()
}

// servingSigner makes startAgentCluster verify the executors as a cluster verifies its
// kubelets: kube-controller-manager's kubernetes.io/kubelet-serving signer runs with a CA
// of the spec's, kube-apiserver verifies kubelet serving certificates against that CA
// (--kubelet-certificate-authority), and the MesosCluster has the executors serve
// certificates of that signer (servingCertificate: KubeletServingSigner). A self-signed
// one is refused then, so every kubectl verb that works proves the executor was verified.
// No certificate names a loopback address: the agent is agent-1, which kube-apiserver
// dials by that hostname through agentHostsProxy, and verifies the executor for it.
type servingSigner bool

// signerAgent is the hostname of the agent of a servingSigner cluster.
const signerAgent = "agent-1"

// startAgentCluster starts an agentCluster for the spec, and stops it when the spec ends.
// name names its MesosCluster and prefixes its namespace. configure, when not nil, sets
// more flags of kube-apiserver before it starts; managerArgs are the manager's flags
// besides the spec's defaults (startManager).
func startAgentCluster(name string, configure func(args *envtest.Arguments), signer servingSigner, managerArgs ...string) *agentCluster {
	c := &agentCluster{kubectl: kubectlBinary()}
	bin := GinkgoT().TempDir()
	build(bin, "manager", "k8sm-executor")
	talker := buildTalker()
	ctx := context.Background()

	By("starting kube-apiserver with a kubelet client certificate and RBAC")
	ca := newCA("kubelet-client-ca")
	certs := GinkgoT().TempDir()
	const apiserverUser = "kube-apiserver-kubelet-client"
	crt, key := issueClient(ca, apiserverUser, certs)
	env, err := testenv.New()
	Expect(err).NotTo(HaveOccurred())
	args := env.ControlPlane.GetAPIServer().Configure()
	args.Set("kubelet-client-certificate", crt)
	args.Set("kubelet-client-key", key)
	args.Set("kubelet-preferred-address-types", "Hostname,InternalIP")
	args.Set("authorization-mode", "RBAC")
	var signerCert, signerKey string
	agentHostname := "127.0.0.1"
	if signer {
		signerCert, signerKey = writeCA(newCA("kubelet-serving-signer"), certs)
		args.Set("kubelet-certificate-authority", signerCert)
		args.Set("egress-selector-config-file", startAgentHostsProxy(certs, signerAgent))
		agentHostname = signerAgent
	}
	if configure != nil {
		configure(args)
	}
	// Stopped also when Start fails part-way, which leaves what it started running.
	DeferCleanup(env.Stop)
	_, err = env.Start()
	Expect(err).NotTo(HaveOccurred())
	if signer {
		By("running kube-controller-manager's kubelet-serving signer")
		kcm, err := testenv.StartKubeletServingSigner(env, signerCert, signerKey)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(kcm.Stop)
	}
	c.env = env
	cs, err := kubernetes.NewForConfig(env.Config)
	Expect(err).NotTo(HaveOccurred())
	c.cs = cs
	c.admin = kubeconfigOf(env, envtest.User{Name: "admin", Groups: []string{"system:masters"}})
	Expect(testenv.InstallManagerRBAC(ctx, env.Config)).To(Succeed())
	_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: apiserverUser},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:kubelet-api-admin"},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: apiserverUser}}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())

	By("running mesos-sim with one agent on 127.0.0.1, and the manager as its ServiceAccount")
	sim, err := mesossim.New(mesossim.Config{Agents: 1, AgentHostname: agentHostname, AgentResources: "cpus:4;mem:8192;disk:10000",
		HeartbeatInterval: time.Second, AllocationInterval: 100 * time.Millisecond, Exec: true, WorkDir: GinkgoT().TempDir()})
	Expect(err).NotTo(HaveOccurred())
	Expect(sim.Start("127.0.0.1:0")).To(Succeed())
	DeferCleanup(sim.Close)
	_, err = cs.CoreV1().Secrets(testenv.ManagerNamespace).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "kubelet-client-ca"},
		Data: map[string][]byte{"ca.crt": ca.CertPEM}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	kubeletPort, err := testenv.FreePort()
	Expect(err).NotTo(HaveOccurred())
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: mesosv1alpha1.MesosClusterSpec{
		Master: sim.URL(), Executor: mesosv1alpha1.ExecutorSpec{URI: filepath.Join(bin, "k8sm-executor")},
		KubeletAPI: mesosv1alpha1.KubeletAPISpec{Port: int32(kubeletPort),
			ClientCASecretRef: &mesosv1alpha1.SecretKeyRef{Namespace: testenv.ManagerNamespace, Name: "kubelet-client-ca"}}}}
	if signer {
		mc.Spec.KubeletAPI.ServingCertificate = mesosv1alpha1.ServingCertificateKubeletServingSigner
	}
	scheme := runtime.NewScheme()
	Expect(mesosv1alpha1.AddToScheme(scheme)).To(Succeed())
	cl, err := client.New(env.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	Expect(cl.Create(ctx, mc)).To(Succeed())
	c.cl, c.cluster, c.talker = cl, name, talker
	managerKubeconfig := serviceAccountKubeconfig(ctx, env, cs, testenv.ManagerNamespace, testenv.ManagerAccount)
	c.manager = startManager(filepath.Join(bin, "manager"), managerKubeconfig, managerArgs...)
	c.restartManager = func() {
		Expect(c.manager.Process.Signal(syscall.SIGKILL)).To(Succeed())
		_ = c.manager.Wait()
		c.manager = startManager(filepath.Join(bin, "manager"), managerKubeconfig, managerArgs...)
	}

	By("running a pod that prints lines and serves TCP")
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: name + "-"}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	c.ns = ns.Name
	c.podPort, err = testenv.FreePort()
	Expect(err).NotTo(HaveOccurred())
	c.startTalker("talker", c.podPort)
	pod, err := cs.CoreV1().Pods(ns.Name).Get(ctx, "talker", metav1.GetOptions{})
	Expect(err).NotTo(HaveOccurred())
	c.node = pod.Spec.NodeName
	return c
}

// startTalker runs a talker pod named name listening on port, and waits until it runs.
func (c *agentCluster) startTalker(name string, port int) {
	_, err := c.cs.CoreV1().Pods(c.ns).Create(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{SchedulerName: "mesos", Containers: []corev1.Container{{Name: "c", Image: "busybox",
			Command: []string{c.talker, strconv.Itoa(port)}}}}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	Eventually(func() (string, error) {
		return c.run(c.admin, "", "get", "pod", name, "-o", "jsonpath={.status.phase}")
	}, 60*time.Second, 200*time.Millisecond).Should(Equal("Running"))
}

// changeExecutor changes the MesosCluster's spec.executor (its CPUs), so that new pods
// start a new executor beside the one that runs the pods already there, and waits until
// the cluster says so.
func (c *agentCluster) changeExecutor() {
	ctx := context.Background()
	key := client.ObjectKey{Name: c.cluster}
	mc := &mesosv1alpha1.MesosCluster{}
	Expect(c.cl.Get(ctx, key, mc)).To(Succeed())
	old := mc.Status.ExecutorID
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.cl.Get(ctx, key, mc); err != nil {
			return err
		}
		cpus := resource.MustParse("150m")
		mc.Spec.Executor.Resources.CPUs = &cpus
		return c.cl.Update(ctx, mc)
	})).To(Succeed())
	Eventually(func() string {
		Expect(c.cl.Get(ctx, key, mc)).To(Succeed())
		return mc.Status.ExecutorID
	}, 20*time.Second, 100*time.Millisecond).ShouldNot(Equal(old))
}

// executorAgents is, for each executor of the cluster, on how many agents it runs.
func (c *agentCluster) executorAgents() []int32 {
	mc := &mesosv1alpha1.MesosCluster{}
	Expect(c.cl.Get(context.Background(), client.ObjectKey{Name: c.cluster}, mc)).To(Succeed())
	var out []int32
	for _, e := range mc.Status.Executors {
		out = append(out, e.Agents)
	}
	return out
}

// run runs kubectl with kubeconfig in the pod's namespace (see runKubectl).
func (c *agentCluster) run(kubeconfig, stdin string, args ...string) (string, error) {
	return runKubectl(c.kubectl, kubeconfig, c.ns, stdin, args...)
}

// serviceAccountKubeconfig writes a kubeconfig with a token of the ServiceAccount
// namespace/name, valid for an hour, and returns its path.
func serviceAccountKubeconfig(ctx context.Context, env *envtest.Environment, cs kubernetes.Interface, namespace, name string) string {
	hour := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: env.Config.Host, CertificateAuthorityData: env.Config.CAData}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: name}
	cfg.CurrentContext = name
	path := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(clientcmd.WriteToFile(*cfg, path)).To(Succeed())
	return path
}
