package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/k8sm/k8sm/internal/testenv"
)

// serviceRange is the API server's --service-cluster-ip-range in the top spec: a part of
// 127.0.0.0/8, which Linux routes to lo whole, so that a Service's cluster IP is an
// address metrics-server can listen on (see the spec).
const serviceRange = "127.0.100.0/24"

// kubectl top as a person meets it: the agentCluster of the kubectl spec, with the API
// server set up for aggregation (a front-proxy CA and client certificate) and a real
// metrics-server, registered as v1beta1.metrics.k8s.io, that scrapes the executor's
// /metrics/resource as it scrapes a kubelet's: at the Node's address and its
// daemonEndpoints port, with the token of its own ServiceAccount, which the executor has
// the manager review (TokenReview, then a SubjectAccessReview for nodes/metrics).
//
// How the API server reaches metrics-server, on loopback only: without
// --enable-aggregator-routing, kube-aggregator calls an APIService's Service at the
// Service's cluster IP and port (k8s.io/apiserver/pkg/util/proxy ResolveCluster). So the
// service range is taken from 127.0.0.0/8 (kube-apiserver checks only the range's size,
// and ServiceCIDR and IPAddress validation accept loopback) and metrics-server listens
// on the cluster IP its Service got. Routing to endpoints instead is closed: Endpoints
// and EndpointSlices reject loopback IPs (ValidateEndpointIP).
//
// The aggregator serves an APIService only while it is Available, and for a ClusterIP
// Service its availability controller wants an EndpointSlice of the Service with a ready
// endpoint and the port's name, but never reads the address. No EndpointSlice controller
// runs here, so the spec writes that slice by hand, of the FQDN type, with a name under
// .localhost (RFC 6761: loopback) that nothing dials.
var _ = Describe("kubectl top", func() {
	It("shows a process-runtime pod's and its agent Node's CPU and memory, from the executor through metrics-server", func() {
		metricsServer := metricsServerBinary()
		ctx := context.Background()
		certs := GinkgoT().TempDir()
		frontProxy := newCA("front-proxy-ca")
		const proxyUser = "front-proxy-client"
		proxyCrt, proxyKey := frontProxy.issue(proxyUser, certs)
		c := startAgentCluster("top", func(args *envtest.Arguments) {
			// The aggregator calls metrics-server as front-proxy-client, naming the user
			// in these headers; metrics-server reads this configuration from the
			// extension-apiserver-authentication ConfigMap the API server writes.
			args.Set("requestheader-client-ca-file", writeFile(certs, "front-proxy-ca.crt", frontProxy.pem))
			args.Set("requestheader-allowed-names", proxyUser)
			args.Set("requestheader-username-headers", "X-Remote-User")
			args.Set("requestheader-group-headers", "X-Remote-Group")
			args.Set("requestheader-extra-headers-prefix", "X-Remote-Extra-")
			args.Set("proxy-client-cert-file", proxyCrt)
			args.Set("proxy-client-key-file", proxyKey)
			args.Set("service-cluster-ip-range", serviceRange)
		})
		cs := c.cs

		By("giving metrics-server a ServiceAccount with the RBAC of its release manifest")
		const ns, name = metav1.NamespaceSystem, "metrics-server"
		Expect(cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}},
			metav1.CreateOptions{})).Error().NotTo(HaveOccurred())
		// nodes/metrics is what the executor asks about for /metrics/resource, as a
		// kubelet does: the manifest's role, with nothing added, is enough.
		Expect(cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "system:metrics-server"},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"nodes/metrics"}, Verbs: []string{"get"}},
				{APIGroups: []string{""}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list", "watch"}},
			}}, metav1.CreateOptions{})).Error().NotTo(HaveOccurred())
		subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}}
		for _, role := range []string{"system:metrics-server", "system:auth-delegator"} {
			Expect(cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name + ":" + role},
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}, Subjects: subject},
				metav1.CreateOptions{})).Error().NotTo(HaveOccurred())
		}
		Expect(cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name + "-auth-reader"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "extension-apiserver-authentication-reader"},
			Subjects: subject}, metav1.CreateOptions{})).Error().NotTo(HaveOccurred())
		kubeconfig := serviceAccountKubeconfig(ctx, c.env, cs, ns, name)

		By("making its Service, with a cluster IP on loopback, and an EndpointSlice for the aggregator's availability check")
		port, err := testenv.FreePort()
		Expect(err).NotTo(HaveOccurred())
		svc, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP,
				Port: int32(port), TargetPort: intstr.FromInt32(int32(port))}}}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		clusterIP := net.ParseIP(svc.Spec.ClusterIP)
		Expect(clusterIP).NotTo(BeNil())
		Expect(clusterIP.IsLoopback()).To(BeTrue(), "cluster IP %s", clusterIP)
		Expect(cs.DiscoveryV1().EndpointSlices(ns).Create(ctx, &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels: map[string]string{discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: "k8sm-e2e"}},
			AddressType: discoveryv1.AddressTypeFQDN,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"metrics-server.localhost"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(int32(port))}},
		}, metav1.CreateOptions{})).Error().NotTo(HaveOccurred())

		By("running metrics-server on the cluster IP, and registering it as v1beta1.metrics.k8s.io")
		serving := newCA("metrics-server-ca")
		// The aggregator checks the certificate for <service>.<namespace>.svc.
		crt, key := serving.serve(name, certs, []string{name + "." + ns + ".svc"}, []net.IP{clusterIP})
		startMetricsServer(metricsServer,
			"--bind-address="+clusterIP.String(), "--secure-port="+strconv.Itoa(port),
			"--tls-cert-file="+crt, "--tls-private-key-file="+key,
			"--kubeconfig="+kubeconfig, "--authentication-kubeconfig="+kubeconfig, "--authorization-kubeconfig="+kubeconfig,
			// The executors serve self-signed certificates (the kubelet-serving signer
			// does not run here), as a kubelet without a serving certificate does.
			"--kubelet-insecure-tls",
			"--kubelet-use-node-status-port",
			"--kubelet-preferred-address-types=InternalIP,Hostname",
			// The lowest resolution metrics-server takes; its kubelet timeout must stay
			// under 90% of it.
			"--metric-resolution=10s", "--kubelet-request-timeout=5s",
			"-v=1")
		dc, err := dynamic.NewForConfig(c.env.Config)
		Expect(err).NotTo(HaveOccurred())
		apiServices := dc.Resource(schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"})
		Expect(apiServices.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
			"metadata": map[string]any{"name": "v1beta1.metrics.k8s.io"},
			"spec": map[string]any{"group": "metrics.k8s.io", "version": "v1beta1",
				"service":  map[string]any{"namespace": ns, "name": name, "port": int64(port)},
				"caBundle": base64.StdEncoding.EncodeToString(serving.pem), "groupPriorityMinimum": int64(100), "versionPriority": int64(100)},
		}}, metav1.CreateOptions{})).Error().NotTo(HaveOccurred())
		Eventually(func() (string, error) {
			return apiServiceAvailable(ctx, apiServices, "v1beta1.metrics.k8s.io")
		}, 60*time.Second, 500*time.Millisecond).Should(HavePrefix("True"))

		By("kubectl top pod, while the pod spins, once metrics-server has scraped the executor twice")
		// The talker idles (0m): a loop exec'd into its container, in the container's
		// cgroup, makes the CPU column show use. timeout bounds it: ending kubectl exec
		// does not end what it started.
		spin := exec.Command(c.kubectl, "--kubeconfig", c.admin, "-n", c.ns, "exec", "talker", "--",
			"timeout", "60", "sh", "-c", "while :; do :; done")
		spinning, err := gexec.Start(spin, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { spinning.Kill().Wait(10 * time.Second) })
		// kubectl prints CPU in millicores and memory in whole MiB, rounded down: the
		// talker's working set is near 1Mi, so 0Mi is allowed (metrics-server leaves out
		// a container whose memory is 0 bytes, so a row means some).
		Eventually(func() (string, error) { return c.run(c.admin, "", "top", "pod", "talker") }, 60*time.Second, time.Second).Should(
			MatchRegexp(`(?m)^NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)\s*\ntalker\s+[1-9]\d*m\s+\d+Mi\s*$`))

		By("kubectl top node, for the agent's Node")
		Eventually(func() (string, error) { return c.run(c.admin, "", "top", "node", c.node) }, 60*time.Second, time.Second).Should(
			MatchRegexp(`(?m)^NAME\s+CPU\(cores\)\s+CPU\(%\)\s+MEMORY\(bytes\)\s+MEMORY\(%\)\s*\n` +
				regexp.QuoteMeta(c.node) + `\s+[1-9]\d*m\s+\d+%\s+[1-9]\d*Mi\s+\d+%\s*$`))
	})
})

// apiServiceAvailable is the status of the APIService's Available condition, then its
// reason and message.
func apiServiceAvailable(ctx context.Context, apiServices dynamic.NamespaceableResourceInterface, name string) (string, error) {
	u, err := apiServices.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, cond := range conds {
		m, _ := cond.(map[string]any)
		if m["type"] == "Available" {
			return fmt.Sprintf("%v %v: %v", m["status"], m["reason"], m["message"]), nil
		}
	}
	return "no Available condition", nil
}

// metricsServerBinary is bin/metrics-server/<version>/metrics-server, the newest (make
// test-deps builds it: hack/build-metrics-server.sh). Without it the spec is skipped,
// or fails in CI.
func metricsServerBinary() string {
	found, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(), "bin", "metrics-server", "*", "metrics-server"))
	if len(found) > 0 {
		sort.Strings(found)
		return found[len(found)-1]
	}
	msg := "no metrics-server in bin/metrics-server/<version>/ (make test-deps builds it: hack/build-metrics-server.sh bin/metrics-server)"
	if os.Getenv("CI") != "" {
		Fail(msg)
	}
	Skip(msg)
	return ""
}

// startMetricsServer runs metrics-server with args until the spec ends; its log goes to
// the GinkgoWriter.
func startMetricsServer(bin string, args ...string) {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	Expect(cmd.Start()).To(Succeed())
	DeferCleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
}
