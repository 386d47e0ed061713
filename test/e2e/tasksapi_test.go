package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/k8sm/k8sm/internal/localmetrics"
	"github.com/k8sm/k8sm/internal/testenv"
)

// The MesosTasks API as a person meets it: the real kubectl, the manager binary as its
// own ServiceAccount with config/tasks-api's RBAC, serving on loopback, and kube-apiserver
// proxying tasks.mesos.k8sm.io to it with its front-proxy certificate.
var _ = Describe("kubectl get mesostasks.tasks.mesos.k8sm.io", func() {
	It("lists the MesosTasks the manager serves with the CRD's columns, leaves mt to the CRD, and refuses writes", func() {
		ctx := context.Background()
		certs := GinkgoT().TempDir()
		port, err := testenv.FreePort()
		Expect(err).NotTo(HaveOccurred())
		c := startAgentCluster("tasks", func(args *envtest.Arguments) {
			Expect(localmetrics.ConfigureAPIServer(args, certs)).To(Succeed())
		}, false, fmt.Sprintf("--tasks-api-bind-address=127.0.0.1:%d", port))
		By("installing config/tasks-api's RBAC and its APIService")
		Expect(testenv.InstallManagerRBACOf(ctx, c.env.Config, "tasks-api")).To(Succeed())
		Expect(testenv.RegisterTasksAPI(ctx, c.env.Config, testenv.ManagerNamespace, port)).To(Succeed())

		By("kubectl get, and -o wide")
		Eventually(func() (string, error) { return c.run(c.admin, "", "get", "mesostasks.tasks.mesos.k8sm.io") }, 60*time.Second, time.Second).Should(
			MatchRegexp(`(?m)^NAME\s+POD PHASE\s+MESOS STATE\s+AGENT\s+CPUS\s+MEM\s+AGE\s*\ntalker\s+Running\s+TASK_RUNNING\s+\S+\s+\S+\s+\S+\s+\d+s\s*$`))
		Expect(c.run(c.admin, "", "get", "mesostasks.tasks.mesos.k8sm.io", "talker", "-o", "wide")).To(
			MatchRegexp(`(?m)^NAME\s+POD PHASE\s+MESOS STATE\s+AGENT\s+CPUS\s+MEM\s+PHASE\s+CLUSTER\s+TASK ID\s+REASON\s+AGE\s*\ntalker\s+Running\s+TASK_RUNNING\s+.*\s+Running\s+tasks\s+\S+\s+`))
		Expect(c.run(c.admin, "", "get", "mesostasks.tasks.mesos.k8sm.io", "talker", "-o", "jsonpath={.apiVersion} {.status.mesosState}")).To(
			Equal("tasks.mesos.k8sm.io/v1alpha1 TASK_RUNNING"))

		By("kubectl get mt: still the CRD's, without a warning")
		out, err := runKubectlSeparately(c.kubectl, c.admin, c.ns, "get", "mt", "talker", "-o", "jsonpath={.apiVersion}")
		Expect(err).NotTo(HaveOccurred())
		Expect(out.stdout).To(Equal("mesos.k8sm.io/v1alpha1"))
		Expect(out.stderr).To(BeEmpty())

		By("kubectl delete: refused")
		_, err = c.run(c.admin, "", "delete", "mesostasks.tasks.mesos.k8sm.io", "talker")
		Expect(err).To(MatchError(MatchRegexp(regexp.QuoteMeta("MethodNotAllowed): delete is not supported on mesostasks.tasks.mesos.k8sm.io: they are read-only"))))
	})
})

// kubectlOutput is what kubectl wrote to each stream.
type kubectlOutput struct{ stdout, stderr string }

// runKubectlSeparately runs kubectl as runKubectl does, and returns its standard output
// and error apart: a warning goes to the latter, even when kubectl succeeds.
func runKubectlSeparately(kubectl, kubeconfig, ns string, args ...string) (kubectlOutput, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", kubeconfig, "-n", ns}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	GinkgoWriter.Printf("$ kubectl %s\n%s%s", strings.Join(args, " "), stdout.String(), stderr.String())
	return kubectlOutput{stdout.String(), stderr.String()}, err
}
