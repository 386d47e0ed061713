// Package localmetrics runs a real metrics-server against a local kube-apiserver (the
// one envtest starts), on loopback only, so that kubectl top works there as in a
// cluster: the API server set up for aggregation (a front-proxy CA and client
// certificate), and metrics-server, registered as v1beta1.metrics.k8s.io, scraping each
// Node's /metrics/resource as it scrapes a kubelet's: at the Node's address and its
// daemonEndpoints port, with the token of its own ServiceAccount. k8sm's executors serve
// that kubelet API for their agents' Nodes, and have the manager review the token
// (TokenReview, then a SubjectAccessReview for nodes/metrics).
//
// How the API server reaches metrics-server, on loopback only: without
// --enable-aggregator-routing, kube-aggregator calls an APIService's Service at the
// Service's cluster IP and port (k8s.io/apiserver/pkg/util/proxy ResolveCluster). So the
// service range is taken from 127.0.0.0/8 (ServiceRange: kube-apiserver checks only the
// range's size, and ServiceCIDR and IPAddress validation accept loopback) and
// metrics-server listens on the cluster IP its Service got. Routing to endpoints instead
// is closed: Endpoints and EndpointSlices reject loopback IPs (ValidateEndpointIP).
//
// The aggregator serves an APIService only while it is Available, and for a ClusterIP
// Service its availability controller wants an EndpointSlice of the Service with a ready
// endpoint and the port's name, but never reads the address. No EndpointSlice controller
// runs beside envtest's API server, so Start writes that slice by hand, of the FQDN
// type (deprecated, but the one type whose address may name no IP), with a name under
// .localhost (RFC 6761: loopback) that nothing dials.
//
// Use: ConfigureAPIServer before the API server starts, Start once it serves, then
// WaitAvailable; Stop ends metrics-server. The objects Start creates stay with the API
// server.
package localmetrics

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/k8sm/k8sm/internal/binversion"
	"github.com/k8sm/k8sm/internal/pki"
)

const (
	// ServiceRange is the API server's --service-cluster-ip-range: a part of 127.0.0.0/8,
	// which Linux routes to lo whole, so that a Service's cluster IP is an address
	// metrics-server can listen on.
	ServiceRange = "127.0.100.0/24"
	// APIService is the name metrics-server is registered under.
	APIService = "v1beta1.metrics.k8s.io"

	// namespace and name are metrics-server's, as its release manifest has them: its
	// ServiceAccount, Service and EndpointSlice.
	namespace, name = metav1.NamespaceSystem, "metrics-server"
	// proxyUser is who the aggregator is to metrics-server, as kubeadm names it.
	proxyUser = "front-proxy-client"
	// validFor is how long the certificates and metrics-server's token last: longer than
	// a local cluster runs.
	validFor = 365 * 24 * time.Hour
)

var apiServices = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// Binary is the newest binDir/metrics-server/<version>/metrics-server (where make
// test-deps builds it: hack/build-metrics-server.sh), or "" when there is none.
func Binary(binDir string) string {
	found, _ := filepath.Glob(filepath.Join(binDir, "metrics-server", "*", "metrics-server"))
	return binversion.Best(found, "")
}

// ConfigureAPIServer sets the flags kube-apiserver needs to call metrics-server through
// the aggregator, before it starts: ServiceRange, and a front-proxy CA and a client
// certificate it signs, written into dir.
func ConfigureAPIServer(args *envtest.Arguments, dir string) error {
	ca, err := pki.NewCA("front-proxy-ca", validFor)
	if err != nil {
		return err
	}
	certPEM, keyPEM, err := ca.IssueClient(proxyUser, nil, validFor)
	if err != nil {
		return err
	}
	caFile, err := writeFile(dir, "front-proxy-ca.crt", ca.CertPEM)
	if err != nil {
		return err
	}
	crt, key, err := writePair(dir, proxyUser, certPEM, keyPEM)
	if err != nil {
		return err
	}
	// The aggregator calls metrics-server as front-proxy-client, naming the user in these
	// headers; metrics-server reads this configuration from the
	// extension-apiserver-authentication ConfigMap the API server writes.
	args.Set("requestheader-client-ca-file", caFile)
	args.Set("requestheader-allowed-names", proxyUser)
	args.Set("requestheader-username-headers", "X-Remote-User")
	args.Set("requestheader-group-headers", "X-Remote-Group")
	args.Set("requestheader-extra-headers-prefix", "X-Remote-Extra-")
	args.Set("proxy-client-cert-file", crt)
	args.Set("proxy-client-key-file", key)
	args.Set("service-cluster-ip-range", ServiceRange)
	return nil
}

// Options are what Start needs besides the API server.
type Options struct {
	// Binary is the metrics-server binary.
	Binary string
	// Dir is where its serving certificate and kubeconfig are written.
	Dir string
	// Log receives its output.
	Log io.Writer
}

// Server is a metrics-server process.
type Server struct {
	// Addr is where it listens: its Service's cluster IP and port.
	Addr string
	cmd  *exec.Cmd
	// done is closed when the process has exited.
	done        chan struct{}
	apiServices dynamic.ResourceInterface
}

// Start creates what metrics-server needs in the API server of cfg (configured by
// ConfigureAPIServer): its ServiceAccount and RBAC, its Service with a cluster IP on
// loopback and an EndpointSlice, then runs it there and registers it as APIService.
func Start(ctx context.Context, cfg *rest.Config, o Options) (*Server, error) {
	// The API server warns that FQDN EndpointSlices are deprecated on each one created:
	// the one here is so on purpose (see the package's comment), and the warning would
	// only puzzle a reader of k8sm-local's output.
	quiet := rest.CopyConfig(cfg)
	quiet.WarningHandler = rest.NoWarnings{}
	cs, err := kubernetes.NewForConfig(quiet)
	if err != nil {
		return nil, err
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	if err := createAccount(ctx, cs); err != nil {
		return nil, err
	}
	kubeconfig, err := writeKubeconfig(ctx, cs, cfg, o.Dir)
	if err != nil {
		return nil, err
	}
	clusterIP, port, err := createService(ctx, cs)
	if err != nil {
		return nil, err
	}
	serving, err := pki.NewCA("metrics-server-ca", validFor)
	if err != nil {
		return nil, err
	}
	// The aggregator checks the certificate for <service>.<namespace>.svc.
	certPEM, keyPEM, err := serving.IssueServing(name, []string{name + "." + namespace + ".svc"}, []net.IP{clusterIP}, validFor)
	if err != nil {
		return nil, err
	}
	crt, key, err := writePair(o.Dir, name, certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: net.JoinHostPort(clusterIP.String(), strconv.Itoa(port)), done: make(chan struct{}),
		apiServices: dc.Resource(apiServices)}
	if err := s.start(o, clusterIP, port, crt, key, kubeconfig); err != nil {
		return nil, err
	}
	if _, err := s.apiServices.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": APIService},
		"spec": map[string]any{"group": "metrics.k8s.io", "version": "v1beta1",
			"service":  map[string]any{"namespace": namespace, "name": name, "port": int64(port)},
			"caBundle": base64.StdEncoding.EncodeToString(serving.CertPEM), "groupPriorityMinimum": int64(100), "versionPriority": int64(100)},
	}}, metav1.CreateOptions{}); err != nil {
		s.Stop()
		return nil, fmt.Errorf("registering metrics-server as %s: %w", APIService, err)
	}
	return s, nil
}

// createAccount gives metrics-server a ServiceAccount with the RBAC of its release
// manifest. nodes/metrics is what the executor asks about for /metrics/resource, as a
// kubelet does: the manifest's role, with nothing added, is enough.
func createAccount(ctx context.Context, cs kubernetes.Interface) error {
	if _, err := cs.CoreV1().ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}},
		metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating metrics-server's ServiceAccount: %w", err)
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "system:metrics-server"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"nodes/metrics"}, Verbs: []string{"get"}},
			{APIGroups: []string{""}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list", "watch"}},
		}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating metrics-server's ClusterRole: %w", err)
	}
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}}
	for _, role := range []string{"system:metrics-server", "system:auth-delegator"} {
		if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name + ":" + role},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}, Subjects: subject},
			metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("binding metrics-server to %s: %w", role, err)
		}
	}
	if _, err := cs.RbacV1().RoleBindings(namespace).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name + "-auth-reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "extension-apiserver-authentication-reader"},
		Subjects: subject}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("binding metrics-server to extension-apiserver-authentication-reader: %w", err)
	}
	return nil
}

// writeKubeconfig writes dir/metrics-server.kubeconfig, for the API server of cfg with a
// token of metrics-server's ServiceAccount, and returns its path. metrics-server also
// presents that token to the kubelet API.
func writeKubeconfig(ctx context.Context, cs kubernetes.Interface, cfg *rest.Config, dir string) (string, error) {
	seconds := int64(validFor / time.Second)
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token for metrics-server: %w", err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["local"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: "local", AuthInfo: name}
	kc.CurrentContext = name
	path := filepath.Join(dir, name+".kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return "", err
	}
	return path, nil
}

// createService makes metrics-server's Service, on a port free on loopback, and the
// EndpointSlice the aggregator's availability check wants (see the package's comment).
// It returns the cluster IP the Service got, which must be on loopback, and the port.
func createService(ctx context.Context, cs kubernetes.Interface) (net.IP, int, error) {
	port, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	svc, err := cs.CoreV1().Services(namespace).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP,
			Port: int32(port), TargetPort: intstr.FromInt32(int32(port))}}}}, metav1.CreateOptions{})
	if err != nil {
		return nil, 0, fmt.Errorf("creating metrics-server's Service: %w", err)
	}
	clusterIP := net.ParseIP(svc.Spec.ClusterIP)
	if clusterIP == nil || !clusterIP.IsLoopback() {
		return nil, 0, fmt.Errorf("metrics-server's Service got the cluster IP %q, not one on loopback: "+
			"kube-apiserver needs --service-cluster-ip-range=%s (ConfigureAPIServer)", svc.Spec.ClusterIP, ServiceRange)
	}
	if _, err := cs.DiscoveryV1().EndpointSlices(namespace).Create(ctx, &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: "k8sm-localmetrics"}},
		AddressType: discoveryv1.AddressTypeFQDN,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"metrics-server.localhost"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(int32(port))}},
	}, metav1.CreateOptions{}); err != nil {
		return nil, 0, fmt.Errorf("creating metrics-server's EndpointSlice: %w", err)
	}
	return clusterIP, port, nil
}

// start runs metrics-server on the cluster IP and port, as its ServiceAccount.
func (s *Server) start(o Options, clusterIP net.IP, port int, crt, key, kubeconfig string) error {
	s.cmd = exec.Command(o.Binary,
		"--bind-address="+clusterIP.String(), "--secure-port="+strconv.Itoa(port),
		"--tls-cert-file="+crt, "--tls-private-key-file="+key,
		"--kubeconfig="+kubeconfig, "--authentication-kubeconfig="+kubeconfig, "--authorization-kubeconfig="+kubeconfig,
		// The executors serve self-signed certificates (the kubelet-serving signer does
		// not run here), as a kubelet without a serving certificate does.
		"--kubelet-insecure-tls",
		"--kubelet-use-node-status-port",
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		// The lowest resolution metrics-server takes, so kubectl top has numbers soon; its
		// kubelet timeout must stay under 90% of it.
		"--metric-resolution=10s", "--kubelet-request-timeout=5s",
		"-v=1")
	s.cmd.Stdout, s.cmd.Stderr = o.Log, o.Log
	// A process group of its own, so a Ctrl-C at the terminal leaves it to Stop, and
	// killed with its parent, should that die without stopping it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("starting metrics-server: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	return nil
}

// WaitAvailable waits until the aggregator has metrics-server's APIService Available.
// When ctx ends first, or metrics-server exits, the error says the condition last seen.
func (s *Server) WaitAvailable(ctx context.Context) error {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		available, cond, err := s.available(ctx)
		if available {
			return nil
		}
		if err != nil {
			cond = err.Error()
		}
		select {
		case <-s.done:
			return fmt.Errorf("metrics-server exited (%v); %s: %s", s.cmd.ProcessState, APIService, cond)
		case <-ctx.Done():
			return fmt.Errorf("%s is not Available: %s", APIService, cond)
		case <-tick.C:
		}
	}
}

// available says whether the APIService's Available condition is True, and gives its
// status, reason and message.
func (s *Server) available(ctx context.Context) (bool, string, error) {
	u, err := s.apiServices.Get(ctx, APIService, metav1.GetOptions{})
	if err != nil {
		return false, "", err
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, cond := range conds {
		m, _ := cond.(map[string]any)
		if m["type"] == "Available" {
			return m["status"] == "True", fmt.Sprintf("%v %v: %v", m["status"], m["reason"], m["message"]), nil
		}
	}
	return false, "no Available condition", nil
}

// Stop stops metrics-server: SIGTERM, then SIGKILL after 10 seconds.
func (s *Server) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// freePort is a loopback TCP port nobody listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writePair writes a certificate and its key into dir as name.crt and name.key, and
// returns their paths.
func writePair(dir, name string, certPEM, keyPEM []byte) (crt, key string, err error) {
	if crt, err = writeFile(dir, name+".crt", certPEM); err != nil {
		return "", "", err
	}
	if key, err = writeFile(dir, name+".key", keyPEM); err != nil {
		return "", "", err
	}
	return crt, key, nil
}

// writeFile writes b into dir/name, readable by its owner only, making dir if need be,
// and returns the path.
func writeFile(dir, name string, b []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", err
	}
	return path, nil
}
