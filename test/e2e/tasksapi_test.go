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

// The MesosTasks in the manager's memory, as config/tasks-in-memory installs them: no
// MesosTask CRD, the manager binary with --mesostask-storage=memory as its own
// ServiceAccount with that install's RBAC, and kube-apiserver proxying
// tasks.mesos.k8sm.io to it.
var _ = Describe("kubectl get mt with the MesosTasks in the manager's memory", func() {
	It("lists the MesosTasks only the manager holds, by their short name and category, and makes them again after a restart", func() {
		ctx := context.Background()
		certs := GinkgoT().TempDir()
		port, err := testenv.FreePort()
		Expect(err).NotTo(HaveOccurred())
		c := startAgentCluster("memory", func(args *envtest.Arguments) {
			Expect(localmetrics.ConfigureAPIServer(args, certs)).To(Succeed())
		}, false, "--mesostask-storage=memory", fmt.Sprintf("--tasks-api-bind-address=127.0.0.1:%d", port))
		By("installing config/tasks-in-memory's RBAC and its APIService, and removing the MesosTask CRD")
		Expect(testenv.InstallManagerRBACOf(ctx, c.env.Config, "tasks-in-memory")).To(Succeed())
		Expect(testenv.RegisterTasksAPI(ctx, c.env.Config, testenv.ManagerNamespace, port)).To(Succeed())
		_, err = c.run(c.admin, "", "delete", "crd", "mesostasks.mesos.k8sm.io", "--wait")
		Expect(err).NotTo(HaveOccurred())

		By("kubectl get mt, and kubectl get k8sm")
		// kubectl's discovery cache from before the CRD went would still map mt to it.
		cache := GinkgoT().TempDir()
		kubectl := func(args ...string) (string, error) {
			return c.run(c.admin, "", append([]string{"--cache-dir", cache}, args...)...)
		}
		record := func() (string, error) {
			return kubectl("get", "mt", "talker", "-o", "jsonpath={.apiVersion} {.status.mesosState} {.spec.taskID} {.status.agentID} {.status.launchedAt}")
		}
		Eventually(record, 60*time.Second, time.Second).Should(MatchRegexp(`^tasks\.mesos\.k8sm\.io/v1alpha1 TASK_RUNNING k8sm\.\S+ \S+ \S+$`))
		before, err := record()
		Expect(err).NotTo(HaveOccurred())
		Expect(kubectl("get", "mt")).To(MatchRegexp(`(?m)^NAME\s+POD PHASE\s+MESOS STATE\s+AGENT\s+CPUS\s+MEM\s+AGE\s*\ntalker\s+Running\s+TASK_RUNNING\s+`))
		Expect(kubectl("get", "k8sm", "-o", "name")).To(ContainSubstring("mesostask.tasks.mesos.k8sm.io/talker"))

		By("killing the manager and starting it again: the MesosTask is made again from the pod and Mesos, as it was")
		c.restartManager()
		// All of it as it was but launchedAt, which is made again from the pod's
		// startTime: the executor's, within a second of the launch (and so, rounded to
		// the second, one second later when the two fall on either side of one).
		sameAsBefore := func(g Gomega) {
			now, err := record()
			g.Expect(err).NotTo(HaveOccurred())
			was, is := strings.Fields(before), strings.Fields(now)
			g.Expect(is).To(HaveLen(len(was)), now)
			g.Expect(is[:len(is)-1]).To(Equal(was[:len(was)-1]))
			wasAt, err := time.Parse(time.RFC3339, was[len(was)-1])
			g.Expect(err).NotTo(HaveOccurred())
			isAt, err := time.Parse(time.RFC3339, is[len(is)-1])
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(isAt).To(BeTemporally("~", wasAt, time.Second), "launchedAt")
		}
		Eventually(sameAsBefore, 60*time.Second, time.Second).Should(Succeed())
		Expect(c.run(c.admin, "", "get", "pod", "talker", "-o", "jsonpath={.status.phase} {.status.containerStatuses[0].restartCount}")).To(Equal("Running 0"))

		By("deleting the pod: its task is killed and its MesosTask goes")
		_, err = c.run(c.admin, "", "delete", "pod", "talker", "--wait")
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() (string, error) { return kubectl("get", "mt", "-o", "name") }, 30*time.Second, time.Second).Should(BeEmpty())
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
