package e2e

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/k8sm/k8sm/internal/localmetrics"
	"github.com/k8sm/k8sm/internal/testenv"
)

// kubectl top as a person meets it: the agentCluster of the kubectl spec, with the API
// server set up for aggregation and a real metrics-server, registered as
// v1beta1.metrics.k8s.io, that scrapes the executor's /metrics/resource as it scrapes a
// kubelet's: at the Node's address and its daemonEndpoints port, with the token of its
// own ServiceAccount, which the executor has the manager review (TokenReview, then a
// SubjectAccessReview for nodes/metrics). internal/localmetrics sets it up, on loopback
// only (its package comment says how), as k8sm-local does.
var _ = Describe("kubectl top", func() {
	It("shows a process-runtime pod's and its agent Node's CPU and memory, from the executor through metrics-server", func() {
		metricsServer := metricsServerBinary()
		ctx := context.Background()
		certs := GinkgoT().TempDir()
		c := startAgentCluster("top", func(args *envtest.Arguments) {
			Expect(localmetrics.ConfigureAPIServer(args, certs)).To(Succeed())
		}, false) // self-signed executors, as by default: metrics-server runs with --kubelet-insecure-tls

		By("running metrics-server on its Service's cluster IP, on loopback, and registering it as v1beta1.metrics.k8s.io")
		ms, err := localmetrics.Start(ctx, c.env.Config, localmetrics.Options{Binary: metricsServer, Dir: certs, Log: GinkgoWriter})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(ms.Stop)
		host, _, err := net.SplitHostPort(ms.Addr)
		Expect(err).NotTo(HaveOccurred())
		Expect(net.ParseIP(host).IsLoopback()).To(BeTrue(), "metrics-server listens on %s", ms.Addr)
		available, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		Expect(ms.WaitAvailable(available)).To(Succeed())

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

// metricsServerBinary is the newest metrics-server in bin/metrics-server (see
// findMetricsServer). Without one the spec is skipped, or fails in CI.
func metricsServerBinary() string {
	bin := findMetricsServer()
	if bin == "" {
		Skip(noMetricsServer)
	}
	return bin
}

// findMetricsServer is bin/metrics-server/<version>/metrics-server, the newest, as
// k8sm-local finds it beside its own binary (make test-deps builds it:
// hack/build-metrics-server.sh), or "" without one; in CI, where make test-deps ran,
// having none fails the spec.
func findMetricsServer() string {
	bin := localmetrics.Binary(filepath.Join(testenv.RepoRoot(), "bin"))
	if bin == "" && os.Getenv("CI") != "" {
		Fail(noMetricsServer)
	}
	return bin
}

const noMetricsServer = "no metrics-server in bin/metrics-server/<version>/ (make test-deps builds it: hack/build-metrics-server.sh bin/metrics-server)"
