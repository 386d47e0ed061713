package integration

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// expectRejected creates obj and expects the apiserver to refuse it as invalid with a
// message containing want.
func expectRejected(obj client.Object, want string) {
	err := k8sClient.Create(ctx, obj)
	Expect(err).To(HaveOccurred(), "the apiserver accepted an object that should be refused")
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got %v", err)
	Expect(err.Error()).To(ContainSubstring(want))
}

// expectUpdateRejected applies mutate to a stored cluster and expects the update refused.
func expectUpdateRejected(mc *mesosv1alpha1.MesosCluster, mutate func(*mesosv1alpha1.MesosCluster), want string) {
	Expect(k8sClient.Create(ctx, mc)).To(Succeed())
	DeferCleanup(func() { _ = k8sClient.Delete(ctx, mc) })
	err := updateCluster(mc, mutate)
	Expect(err).To(HaveOccurred(), "the apiserver accepted an update that should be refused")
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got %v", err)
	Expect(err.Error()).To(ContainSubstring(want))
}

var _ = Describe("MesosCluster validation", func() {
	It("accepts a minimal cluster and fills in the defaults", func() {
		mc := minimalCluster()
		Expect(k8sClient.Create(ctx, mc)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, mc) })

		got := &mesosv1alpha1.MesosCluster{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), got)).To(Succeed())
		Expect(got.Spec.SchedulerName).To(Equal("mesos"))
		Expect(got.Spec.DeletionPolicy).To(Equal(mesosv1alpha1.DeletionTeardown))
		Expect(got.Spec.Placement.Strategy).To(Equal(mesosv1alpha1.PlacementSpread))
		Expect(got.Spec.Placement.RefuseSeconds).To(HaveValue(Equal(int32(5))))
		Expect(got.Spec.Placement.OfferHoldSeconds).To(HaveValue(Equal(int32(1))))
		Expect(got.Spec.Framework.Name).To(Equal("k8sm"))
		Expect(got.Spec.Framework.User).To(Equal("root"))
		Expect(got.Spec.Framework.Roles).To(Equal([]string{"*"}))
		Expect(got.Spec.Framework.Checkpoint).To(HaveValue(BeTrue()))
		Expect(got.Spec.Framework.FailoverTimeout).NotTo(BeNil())
		Expect(got.Spec.Framework.FailoverTimeout.Duration).To(Equal(7 * 24 * time.Hour))
		Expect(got.Spec.Framework.FailoverTimeout.Duration).To(Equal(mesosv1alpha1.DefaultFailoverTimeout), "the CRD's default and the code's must agree")
		Expect(got.Spec.Framework.Capabilities).To(ConsistOf(
			mesosv1alpha1.FrameworkCapability("PARTITION_AWARE"), mesosv1alpha1.FrameworkCapability("TASK_KILLING_STATE")))
		Expect(got.Spec.Executor.Runtime).To(Equal(mesosv1alpha1.RuntimeProcess))
		Expect(got.Spec.Executor.Resources.CPUs).To(HaveValue(Equal(resource.MustParse("100m"))))
		Expect(got.Spec.Executor.Resources.Memory).To(HaveValue(Equal(resource.MustParse("64Mi"))))
		Expect(got.Spec.KubeletAPI.Enabled).To(HaveValue(BeTrue()))
		Expect(got.Spec.KubeletAPI.Port).To(Equal(mesosv1alpha1.DefaultKubeletAPIPort))
		Expect(got.Spec.KubeletAPI.ClientCASecretRef).To(BeNil())
		Expect(got.Spec.KubeletAPI.ServingCertificate).To(Equal(mesosv1alpha1.ServingCertificateSelfSigned))
	})

	It("accepts the kubelet API's settings, and a port of 0 as the default", func() {
		mc := minimalCluster()
		mc.Spec.KubeletAPI = mesosv1alpha1.KubeletAPISpec{Enabled: ptr.To(false), Port: 65535,
			ClientCASecretRef: &mesosv1alpha1.SecretKeyRef{Namespace: "k8sm-system", Name: "kubelet-client-ca", Key: "ca.pem"}}
		Expect(k8sClient.Create(ctx, mc)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, mc) })
		Expect(mc.Spec.KubeletAPIPort()).To(BeZero(), "serving is off")

		// A Go client drops a port of 0; a person's YAML does not.
		zero := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": mesosv1alpha1.GroupVersion.String(),
			"kind":       "MesosCluster",
			"metadata":   map[string]any{"generateName": "mc-"},
			"spec": map[string]any{
				"master":     "http://127.0.0.1:5050",
				"executor":   map[string]any{"uri": "/opt/k8sm/k8sm-executor"},
				"kubeletAPI": map[string]any{"port": int64(0)},
			},
		}}
		Expect(k8sClient.Create(ctx, zero)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, zero) })
		got := &mesosv1alpha1.MesosCluster{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(zero), got)).To(Succeed())
		Expect(got.Spec.KubeletAPIPort()).To(Equal(mesosv1alpha1.DefaultKubeletAPIPort))
	})

	DescribeTable("refuses kubelet API settings out of bounds",
		func(mutate func(*mesosv1alpha1.KubeletAPISpec), want string) {
			mc := minimalCluster()
			mutate(&mc.Spec.KubeletAPI)
			expectRejected(mc, want)
		},
		Entry("a port over 65535", func(k *mesosv1alpha1.KubeletAPISpec) { k.Port = 65536 },
			"spec.kubeletAPI.port: Invalid value: 65536: spec.kubeletAPI.port in body should be less than or equal to 65535"),
		Entry("a negative port", func(k *mesosv1alpha1.KubeletAPISpec) { k.Port = -1 },
			"spec.kubeletAPI.port: Invalid value: -1: spec.kubeletAPI.port in body should be greater than or equal to 0"),
		Entry("a CA Secret without a name", func(k *mesosv1alpha1.KubeletAPISpec) {
			k.ClientCASecretRef = &mesosv1alpha1.SecretKeyRef{Namespace: "k8sm-system"}
		}, "spec.kubeletAPI.clientCASecretRef.name"),
		Entry("a CA Secret without a namespace", func(k *mesosv1alpha1.KubeletAPISpec) {
			k.ClientCASecretRef = &mesosv1alpha1.SecretKeyRef{Name: "kubelet-client-ca"}
		}, "spec.kubeletAPI.clientCASecretRef.namespace"),
		Entry("a serving certificate source that is not one", func(k *mesosv1alpha1.KubeletAPISpec) { k.ServingCertificate = "CertManager" },
			`spec.kubeletAPI.servingCertificate: Unsupported value: "CertManager": supported values: "SelfSigned", "KubeletServingSigner"`),
	)

	It("accepts a full cluster: master list, roles, credentials, TLS, binpack, Orphan", func() {
		mc := minimalCluster()
		mc.Spec.Master = "https://m1:5050,https://m2:5050/,http://m3:5050"
		mc.Spec.SchedulerName = "mesos-prod"
		mc.Spec.Framework = mesosv1alpha1.FrameworkSpec{
			Name:                 "k8sm-prod",
			User:                 "nobody",
			Roles:                []string{"k8s", "k8s/batch", "*"},
			Principal:            "k8sm",
			CredentialsSecretRef: &mesosv1alpha1.SecretKeyRef{Namespace: "k8sm-system", Name: "mesos-credentials"},
			FailoverTimeout:      &metav1.Duration{Duration: 0},
			WebuiURL:             "https://k8sm.example.com",
			Capabilities:         []mesosv1alpha1.FrameworkCapability{"GPU_RESOURCES"},
		}
		mc.Spec.Executor = mesosv1alpha1.ExecutorSpec{Image: "ghcr.io/k8sm/k8sm-executor:v0.1.0", Runtime: mesosv1alpha1.RuntimeKubelet}
		mc.Spec.TLS = &mesosv1alpha1.TLSSpec{CASecretRef: &mesosv1alpha1.SecretKeyRef{Namespace: "k8sm-system", Name: "mesos-ca"}}
		mc.Spec.Placement = mesosv1alpha1.PlacementSpec{Strategy: mesosv1alpha1.PlacementBinpack, RefuseSeconds: ptr.To[int32](0)}
		mc.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"k8sm": "on"}}
		mc.Spec.DeletionPolicy = mesosv1alpha1.DeletionOrphan
		Expect(k8sClient.Create(ctx, mc)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, mc) })
	})

	It("accepts a zk:// master", func() {
		mc := minimalCluster()
		mc.Spec.Master = "zk://zk1:2181,zk2:2181,zk3:2181/mesos"
		Expect(k8sClient.Create(ctx, mc)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, mc) })
	})

	const badMaster = "master must be http(s)://host:port with no path (a scheduler subscribes at /api/v1/scheduler on it), a comma-separated list of them, or zk://host:port[,host:port]/path"
	DescribeTable("refuses a master that is not http(s):// or zk://",
		func(master string) {
			mc := minimalCluster()
			mc.Spec.Master = master
			expectRejected(mc, badMaster)
		},
		Entry("another scheme", "ftp://m1:5050"),
		Entry("no scheme", "m1:5050"),
		Entry("a bad entry in a list", "http://m1:5050,ftp://m2:5050"),
		Entry("an empty entry in a list", "http://m1:5050,,http://m2:5050"),
		Entry("zk without a path", "zk://zk1:2181"),
		Entry("a space", "http://m1 :5050"),
		// The scheduler API is at /api/v1/scheduler on the master's host:port; a path
		// (a master behind a path-prefix proxy) would be dropped.
		Entry("a path", "https://m1:5050/mesos"),
		Entry("a path in a list", "https://m1:5050,https://gw.example.com/mesos/"),
		Entry("a query", "http://m1:5050?x=1"),
		Entry("a user", "http://u:p@m1:5050"),
	)

	It("refuses a cluster without a master", func() {
		mc := minimalCluster()
		mc.Spec.Master = ""
		expectRejected(mc, "spec.master")
	})

	It("refuses duplicate roles", func() {
		mc := minimalCluster()
		mc.Spec.Framework.Roles = []string{"k8s", "batch", "k8s"}
		expectRejected(mc, "framework.roles must not name a role twice")
	})

	It("accepts every role name Mesos accepts", func() {
		// Mesos (roles::validate) refuses whitespace, a DEL, a leading or trailing or
		// doubled slash, and components ".", "..", "*" or starting with "-"; nothing else.
		mc := minimalCluster()
		mc.Spec.Framework.Roles = []string{"ads:prod", "team@eu", "k8s/batch.v2", "a-b/c_d", "x=1/y+2", "é", "..a/b.", "a*"}
		Expect(k8sClient.Create(ctx, mc)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, mc) })
	})

	DescribeTable("refuses a role name Mesos would refuse",
		func(role string) {
			mc := minimalCluster()
			mc.Spec.Framework.Roles = []string{role}
			expectRejected(mc, "spec.framework.roles[0]: Invalid value")
		},
		Entry("a leading dash", "-k8s"),
		Entry("a component with a leading dash", "k8s/-batch"),
		Entry("a leading slash", "/k8s"),
		Entry("a trailing slash", "k8s/"),
		Entry("two slashes", "k8s//batch"),
		Entry("a component .", "k8s/."),
		Entry("a component ..", "../k8s"),
		Entry("a component *", "k8s/*"),
		Entry("a space", "k8s batch"),
		Entry("a tab", "k8s\tbatch"),
		Entry("a DEL", "k8s\x7f"),
	)

	It("refuses an empty role list", func() {
		// A Go client drops an empty list; a person's YAML does not.
		mc := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": mesosv1alpha1.GroupVersion.String(),
			"kind":       "MesosCluster",
			"metadata":   map[string]any{"generateName": "mc-"},
			"spec": map[string]any{
				"master":    "http://127.0.0.1:5050",
				"executor":  map[string]any{"uri": "/opt/k8sm/k8sm-executor"},
				"framework": map[string]any{"roles": []any{}},
			},
		}}
		expectRejected(mc, "spec.framework.roles: Invalid value")
	})

	It("refuses an executor with neither image nor uri", func() {
		mc := minimalCluster()
		mc.Spec.Executor = mesosv1alpha1.ExecutorSpec{Command: "./k8sm-executor"}
		expectRejected(mc, "executor needs an image or a uri to fetch the k8sm-executor binary from")
	})

	It("refuses kubelet settings without the kubelet runtime", func() {
		mc := minimalCluster()
		mc.Spec.Executor.Kubelet = &mesosv1alpha1.KubeletRuntimeSpec{ManifestDir: "/etc/kubernetes/manifests"}
		expectRejected(mc, "executor.kubelet configures the kubelet runtime: set runtime: kubelet, or remove it")
	})

	It("refuses a kubelet CA file together with insecureSkipTLSVerify", func() {
		mc := minimalCluster()
		mc.Spec.Executor.Runtime = mesosv1alpha1.RuntimeKubelet
		mc.Spec.Executor.Kubelet = &mesosv1alpha1.KubeletRuntimeSpec{CAFile: "/etc/ca.crt", InsecureSkipTLSVerify: true}
		expectRejected(mc, "caFile and insecureSkipTLSVerify exclude each other")
	})

	It("refuses a kubelet token with an http url or without verifying the kubelet", func() {
		mc := minimalCluster()
		mc.Spec.Executor.Runtime = mesosv1alpha1.RuntimeKubelet
		mc.Spec.Executor.Kubelet = &mesosv1alpha1.KubeletRuntimeSpec{URL: "http://127.0.0.1:10255", TokenFile: "/etc/token"}
		expectRejected(mc, "tokenFile needs an https:// url")
		mc = minimalCluster()
		mc.Spec.Executor.Runtime = mesosv1alpha1.RuntimeKubelet
		mc.Spec.Executor.Kubelet = &mesosv1alpha1.KubeletRuntimeSpec{TokenFile: "/etc/token", InsecureSkipTLSVerify: true}
		expectRejected(mc, "tokenFile and insecureSkipTLSVerify exclude each other")
	})

	It("refuses a kubelet server name with an http url or without verifying the kubelet", func() {
		mc := minimalCluster()
		mc.Spec.Executor.Runtime = mesosv1alpha1.RuntimeKubelet
		mc.Spec.Executor.Kubelet = &mesosv1alpha1.KubeletRuntimeSpec{URL: "http://127.0.0.1:10255", ServerName: "agent-1"}
		expectRejected(mc, "serverName needs an https:// url")
		mc = minimalCluster()
		mc.Spec.Executor.Runtime = mesosv1alpha1.RuntimeKubelet
		mc.Spec.Executor.Kubelet = &mesosv1alpha1.KubeletRuntimeSpec{ServerName: "agent-1", InsecureSkipTLSVerify: true}
		expectRejected(mc, "serverName and insecureSkipTLSVerify exclude each other")
		mc = minimalCluster()
		mc.Spec.Executor.Runtime = mesosv1alpha1.RuntimeKubelet
		mc.Spec.Executor.Kubelet = &mesosv1alpha1.KubeletRuntimeSpec{ServerName: "Agent_1"}
		expectRejected(mc, "spec.executor.kubelet.serverName")
	})

	It("accepts a kubelet server name with a CA file", func() {
		mc := minimalCluster()
		mc.Spec.Executor.Runtime = mesosv1alpha1.RuntimeKubelet
		mc.Spec.Executor.Kubelet = &mesosv1alpha1.KubeletRuntimeSpec{CAFile: "/var/lib/kubelet/pki/kubelet.crt",
			TokenFile: "/etc/token", ServerName: "agent-1.example.com"}
		Expect(k8sClient.Create(ctx, mc)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, mc) })
	})

	It("refuses a relative kubelet manifest directory", func() {
		mc := minimalCluster()
		mc.Spec.Executor.Runtime = mesosv1alpha1.RuntimeKubelet
		mc.Spec.Executor.Kubelet = &mesosv1alpha1.KubeletRuntimeSpec{ManifestDir: "manifests"}
		expectRejected(mc, "spec.executor.kubelet.manifestDir")
	})

	It("defaults the kubelet runtime's settings", func() {
		mc := minimalCluster()
		mc.Spec.Executor.Runtime = mesosv1alpha1.RuntimeKubelet
		mc.Spec.Executor.Kubelet = &mesosv1alpha1.KubeletRuntimeSpec{}
		Expect(k8sClient.Create(ctx, mc)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, mc) })
		Expect(mc.Spec.Executor.Kubelet.ManifestDir).To(Equal("/etc/kubernetes/manifests"))
		Expect(mc.Spec.Executor.Kubelet.URL).To(Equal("https://127.0.0.1:10250"))
	})

	It("refuses a negative failover timeout", func() {
		mc := minimalCluster()
		mc.Spec.Framework.FailoverTimeout = &metav1.Duration{Duration: -time.Hour}
		expectRejected(mc, "framework.failoverTimeout must not be negative")
	})

	It("refuses a negative refuseSeconds", func() {
		mc := minimalCluster()
		mc.Spec.Placement.RefuseSeconds = ptr.To[int32](-1)
		expectRejected(mc, "spec.placement.refuseSeconds: Invalid value: -1: spec.placement.refuseSeconds in body should be greater than or equal to 0")
	})

	It("refuses an offerHoldSeconds out of 0–300", func() {
		mc := minimalCluster()
		mc.Spec.Placement.OfferHoldSeconds = ptr.To[int32](-1)
		expectRejected(mc, "spec.placement.offerHoldSeconds: Invalid value: -1: spec.placement.offerHoldSeconds in body should be greater than or equal to 0")
		mc = minimalCluster()
		mc.Spec.Placement.OfferHoldSeconds = ptr.To[int32](301)
		expectRejected(mc, "spec.placement.offerHoldSeconds: Invalid value: 301: spec.placement.offerHoldSeconds in body should be less than or equal to 300")
	})

	It("refuses executor cpus below what Mesos accepts", func() {
		mc := minimalCluster()
		mc.Spec.Executor.Resources.CPUs = ptr.To(resource.MustParse("1m"))
		expectRejected(mc, "executor.resources.cpus must be at least 10m (0.01 cpus), as Mesos requires")
	})

	It("refuses executor memory below what Mesos accepts", func() {
		mc := minimalCluster()
		mc.Spec.Executor.Resources.Memory = ptr.To(resource.MustParse("16Mi"))
		expectRejected(mc, "executor.resources.memory must be at least 32Mi, as Mesos requires")
	})

	It("refuses credentials without a principal", func() {
		mc := minimalCluster()
		mc.Spec.Framework.CredentialsSecretRef = &mesosv1alpha1.SecretKeyRef{Namespace: "k8sm-system", Name: "creds"}
		expectRejected(mc, "framework.principal is required when framework.credentialsSecretRef is set")
	})

	It("refuses a web UI URL that is not http(s)", func() {
		mc := minimalCluster()
		mc.Spec.Framework.WebuiURL = "k8sm.example.com"
		expectRejected(mc, "framework.webuiURL must start with http:// or https://")
	})

	DescribeTable("refuses values outside an enum",
		func(mutate func(*mesosv1alpha1.MesosCluster), field string) {
			mc := minimalCluster()
			mutate(mc)
			expectRejected(mc, field+": Unsupported value")
		},
		Entry("placement strategy", func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.Placement.Strategy = "random" }, "spec.placement.strategy"),
		Entry("deletion policy", func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.DeletionPolicy = "Keep" }, "spec.deletionPolicy"),
		Entry("executor runtime", func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.Executor.Runtime = "docker" }, "spec.executor.runtime"),
		Entry("root pods policy", func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.PodSecurity.RootPods = "Sometimes" }, "spec.podSecurity.rootPods"),
		Entry("framework capability", func(mc *mesosv1alpha1.MesosCluster) {
			mc.Spec.Framework.Capabilities = []mesosv1alpha1.FrameworkCapability{"SHARED_RESOURCES"}
		}, "spec.framework.capabilities[0]"),
	)

	// Its name is the value of the mesos.k8sm.io/cluster label on its Nodes and
	// MesosTasks: a longer one was accepted, and every Node and MesosTask write then
	// failed.
	It("refuses a name over 63 characters", func() {
		mc := minimalCluster()
		mc.GenerateName, mc.Name = "", strings.Repeat("c", 64)
		expectRejected(mc, "a MesosCluster's name must be at most 63 characters")
	})

	DescribeTable("refuses a namespaceSelector no label selector can be made of",
		func(e metav1.LabelSelectorRequirement, want string) {
			mc := minimalCluster()
			mc.Spec.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{e}}
			expectRejected(mc, want)
		},
		Entry("an unknown operator", metav1.LabelSelectorRequirement{Key: "team", Operator: "in", Values: []string{"a"}},
			"operator must be In, NotIn, Exists or DoesNotExist"),
		Entry("In without values", metav1.LabelSelectorRequirement{Key: "team", Operator: metav1.LabelSelectorOpIn},
			"needs values with In and NotIn, and none with Exists and DoesNotExist"),
		Entry("Exists with values", metav1.LabelSelectorRequirement{Key: "team", Operator: metav1.LabelSelectorOpExists, Values: []string{"a"}},
			"needs values with In and NotIn, and none with Exists and DoesNotExist"),
	)

	It("refuses root as the default user while root pods are refused, and allows it otherwise", func() {
		mc := minimalCluster()
		mc.Spec.PodSecurity.RunAsUser = ptr.To(int64(0))
		expectRejected(mc, "podSecurity.runAsUser must not be 0 (root) while rootPods is Refuse")
		mc = minimalCluster()
		mc.Spec.PodSecurity = mesosv1alpha1.PodSecuritySpec{RunAsUser: ptr.To(int64(0)), RunAsGroup: ptr.To(int64(0)), RootPods: mesosv1alpha1.RootPodsAllow}
		Expect(k8sClient.Create(ctx, mc)).To(Succeed())
		mc = minimalCluster()
		mc.Spec.PodSecurity.RunAsGroup = ptr.To(int64(-1))
		expectRejected(mc, "spec.podSecurity.runAsGroup: Invalid value")
	})

	It("refuses root's group as the default group while root pods are refused", func() {
		mc := minimalCluster()
		mc.Spec.PodSecurity.RunAsGroup = ptr.To(int64(0))
		expectRejected(mc, "podSecurity.runAsGroup must not be 0 (root) while rootPods is Refuse")
		mc = minimalCluster()
		mc.Spec.PodSecurity = mesosv1alpha1.PodSecuritySpec{RunAsGroup: ptr.To(int64(0)), RootPods: mesosv1alpha1.RootPodsAllow}
		Expect(k8sClient.Create(ctx, mc)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, mc) })
	})

	It("stores allowedIDs as given, and gives a cluster without them none", func() {
		mc := minimalCluster()
		ranges := []mesosv1alpha1.IDRange{{Min: 33, Max: 33}, {Min: 0, Max: 2147483647}}
		mc.Spec.PodSecurity.AllowedIDs = ranges
		Expect(k8sClient.Create(ctx, mc)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, mc) })
		got := &mesosv1alpha1.MesosCluster{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), got)).To(Succeed())
		Expect(got.Spec.PodSecurity.AllowedIDs).To(Equal(ranges))

		// The default is the code's (podtask.SecurityFor), not the CRD's: a stored
		// cluster that never named allowedIDs reads back as it was written.
		mc = minimalCluster()
		Expect(k8sClient.Create(ctx, mc)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, mc) })
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), got)).To(Succeed())
		Expect(got.Spec.PodSecurity.AllowedIDs).To(BeEmpty())
	})

	DescribeTable("refuses allowedIDs out of bounds",
		func(ranges []mesosv1alpha1.IDRange, want string) {
			mc := minimalCluster()
			mc.Spec.PodSecurity.AllowedIDs = ranges
			expectRejected(mc, want)
		},
		Entry("a range whose min is above its max", []mesosv1alpha1.IDRange{{Min: 1000, Max: 2000}, {Min: 2000, Max: 1999}},
			"spec.podSecurity.allowedIDs[1]: Invalid value: an allowedIDs range's min must not be above its max"),
		Entry("a negative id", []mesosv1alpha1.IDRange{{Min: -1, Max: 10}},
			"spec.podSecurity.allowedIDs[0].min: Invalid value: -1"),
		Entry("an id over 2147483647", []mesosv1alpha1.IDRange{{Min: 1000, Max: 2147483648}},
			"spec.podSecurity.allowedIDs[0].max: Invalid value: 2147483648"),
		Entry("more than 16 ranges", make([]mesosv1alpha1.IDRange, 17),
			"spec.podSecurity.allowedIDs: Too many: 17: must have at most 16 items"),
	)

	It("refuses a schedulerName that is not a DNS name", func() {
		mc := minimalCluster()
		mc.Spec.SchedulerName = "Mesos Scheduler"
		expectRejected(mc, "spec.schedulerName: Invalid value")
	})

	It("refuses the default scheduler's name", func() {
		mc := minimalCluster()
		mc.Spec.SchedulerName = corev1.DefaultSchedulerName
		expectRejected(mc, "schedulerName must not be default-scheduler: kube-scheduler places those pods")
	})

	It("refuses a change of schedulerName", func() {
		expectUpdateRejected(minimalCluster(), func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.SchedulerName = "other" },
			"schedulerName is immutable: pods already scheduled by this cluster refer to it")
	})

	It("refuses a change of framework user", func() {
		expectUpdateRejected(minimalCluster(), func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.Framework.User = "nobody" },
			"framework.user is immutable")
	})

	// Mesos refuses a registered framework that subscribes with another principal,
	// set or not ("Changing framework's principal is not allowed."); before it registers,
	// a principal may still be corrected.
	DescribeTable("refuses a change of framework principal once the framework is registered",
		func(before, after string) {
			mc := minimalCluster()
			mc.Spec.Framework.Principal = before
			Expect(k8sClient.Create(ctx, mc)).To(Succeed())
			DeferCleanup(func() { _ = k8sClient.Delete(ctx, mc) })
			Expect(updateCluster(mc, func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.Framework.Principal = after })).To(Succeed(),
				"a principal may change while no framework is registered")
			Expect(updateCluster(mc, func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.Framework.Principal = before })).To(Succeed())
			Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
				if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), mc); err != nil {
					return err
				}
				mc.Status.FrameworkID = "registered-0000"
				return k8sClient.Status().Update(ctx, mc)
			})).To(Succeed())
			err := updateCluster(mc, func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.Framework.Principal = after })
			Expect(err).To(HaveOccurred(), "the apiserver accepted principal %q after %q for a registered framework", after, before)
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got %v", err)
			Expect(err.Error()).To(ContainSubstring("spec.framework.principal cannot change once the framework is registered"))
			// What is not the principal still changes.
			Expect(updateCluster(mc, func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.Framework.Name = "renamed" })).To(Succeed())
		},
		Entry("changed", "k8sm", "other"),
		Entry("set where there was none", "", "k8sm"),
		Entry("removed", "k8sm", ""),
	)

	It("lets a principal changed before the framework id was recorded go back to the registered one only", func() {
		mc := minimalCluster()
		mc.Spec.Framework.Principal = "other"
		Expect(k8sClient.Create(ctx, mc)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, mc) })
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), mc); err != nil {
				return err
			}
			mc.Status.FrameworkID, mc.Status.FrameworkPrincipal = "registered-0000", "k8sm"
			return k8sClient.Status().Update(ctx, mc)
		})).To(Succeed(), "a status whose registered principal is not the spec's")
		err := updateCluster(mc, func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.Framework.Principal = "third" })
		Expect(err).To(HaveOccurred(), "the apiserver accepted a principal the framework did not register with")
		Expect(err.Error()).To(ContainSubstring("spec.framework.principal cannot change once the framework is registered"))
		Expect(updateCluster(mc, func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.Framework.Principal = "k8sm" })).To(Succeed())
	})

	It("refuses a change of checkpointing", func() {
		expectUpdateRejected(minimalCluster(), func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.Framework.Checkpoint = ptr.To(false) },
			"framework.checkpoint is immutable")
	})

	It("lets a person change what is not immutable", func() {
		mc := minimalCluster()
		Expect(k8sClient.Create(ctx, mc)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, mc) })
		Expect(updateCluster(mc, func(mc *mesosv1alpha1.MesosCluster) {
			mc.Spec.Master = "zk://127.0.0.1:1/mesos"
			mc.Spec.Placement.Strategy = mesosv1alpha1.PlacementBinpack
			mc.Spec.Framework.Roles = []string{"k8s"}
			mc.Spec.KubeletAPI.Port = 10351
		})).To(Succeed())
	})
})
