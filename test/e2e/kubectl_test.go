package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/k8sm/k8sm/internal/testenv"
)

// kubectl logs, exec, attach (run -i) and port-forward as a person meets them: the real kubectl, a
// kube-apiserver configured as in a cluster (its kubelet client certificate, RBAC), the
// manager binary as its own ServiceAccount, and the real k8sm-executor under mesos-sim,
// serving the kubelet API of its agent's Node on 127.0.0.1, the Node's address. The API
// server authorizes the person (pods/log, pods/exec, pods/portforward), then calls the
// executor with its client certificate; the executor has the manager ask the API server
// whether that user may use nodes/proxy (the system:kubelet-api-admin binding). The API
// server verifies the executor's serving certificate, which the cluster's kubelet-serving
// signer issued for the agent's hostname (servingSigner: it dials that name, and reaches
// 127.0.0.1 through a proxy).
var _ = Describe("kubectl logs, exec and port-forward", func() {
	It("reach a process-runtime pod on an agent through the API server and the executor", func() {
		c := startAgentCluster("kubectl", nil, servingSigner(true))
		ctx := context.Background()
		cs, kubectl, admin, ns, podPort, run := c.cs, c.kubectl, c.admin, c.ns, c.podPort, c.run
		viewer := kubeconfigOf(c.env, envtest.User{Name: "viewer"})

		By("kubectl logs, whole and --tail=1")
		listening := fmt.Sprintf("listening on 127.0.0.1:%d\n", podPort)
		Eventually(func() (string, error) { return run(admin, "", "logs", "talker") }, 30*time.Second, 200*time.Millisecond).Should(
			Equal("hello from Mesos\n" + listening))
		Expect(run(admin, "", "logs", "talker", "--tail=1")).To(Equal(listening))

		By("kubectl logs -f, while the pod writes a new line")
		follow := exec.Command(kubectl, "--kubeconfig", admin, "-n", ns, "logs", "-f", "talker")
		session, err := gexec.Start(follow, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { session.Kill().Wait(10 * time.Second) })
		Eventually(session.Out, 30*time.Second).Should(gbytes.Say(regexp.QuoteMeta(listening)))
		Expect(roundTrip(fmt.Sprintf("127.0.0.1:%d", podPort), "while following")).To(Equal("echo while following\n"))
		Eventually(session.Out, 10*time.Second).Should(gbytes.Say("got while following\n"))
		session.Kill().Wait(10 * time.Second)

		By("kubectl exec, as the container's user, and with stdin")
		Expect(run(admin, "", "exec", "talker", "--", "id", "-u")).To(Equal("65534\n"))
		Expect(run(admin, "one\ntwo\n", "exec", "-i", "talker", "--", "sort", "-r")).To(Equal("two\none\n"))

		By("kubectl run -i: a pod on Mesos that reads what kubectl attaches to its stdin")
		Expect(run(admin, "ping\n", "run", "reader", "-i", "--rm", "--restart=Never", "--image=busybox",
			`--overrides={"spec":{"schedulerName":"mesos"}}`, "--command", "--", "sh", "-c", "read line; echo got $line")).To(
			ContainSubstring("got ping\n"))

		By("kubectl port-forward, then a TCP round trip through it")
		local, err := testenv.FreePort()
		Expect(err).NotTo(HaveOccurred())
		pf := exec.Command(kubectl, "--kubeconfig", admin, "-n", ns, "port-forward", "pod/talker", fmt.Sprintf("%d:%d", local, podPort))
		forward, err := gexec.Start(pf, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { forward.Kill().Wait(10 * time.Second) })
		Eventually(forward.Out, 30*time.Second).Should(gbytes.Say(fmt.Sprintf("Forwarding from 127.0.0.1:%d -> %d", local, podPort)))
		Expect(roundTrip(fmt.Sprintf("127.0.0.1:%d", local), "through the forward")).To(Equal("echo through the forward\n"))
		Eventually(func() (string, error) { return run(admin, "", "logs", "talker", "--tail=1") }, 10*time.Second, 100*time.Millisecond).Should(
			Equal("got through the forward\n"))
		forward.Kill().Wait(10 * time.Second)

		By("after a change of spec.executor, the old executor's pod and the new one's, side by side on the agent, are both served")
		c.changeExecutor()
		newPort, err := testenv.FreePort()
		Expect(err).NotTo(HaveOccurred())
		c.startTalker("talker-new", newPort)
		Eventually(c.executorAgents, 20*time.Second, 200*time.Millisecond).Should(Equal([]int32{1, 1}), "two executors, on the one agent")
		Eventually(func() (string, error) { return run(admin, "", "logs", "talker-new") }, 30*time.Second, 200*time.Millisecond).Should(
			Equal(fmt.Sprintf("hello from Mesos\nlistening on 127.0.0.1:%d\n", newPort)))
		Expect(run(admin, "", "exec", "talker-new", "--", "id", "-u")).To(Equal("65534\n"))
		Expect(run(admin, "", "logs", "talker", "--tail=1")).To(Equal("got through the forward\n"))
		Expect(run(admin, "", "exec", "talker", "--", "id", "-u")).To(Equal("65534\n"))

		By("refusing a user RBAC does not allow pods/log, pods/exec, pods/portforward")
		Expect(cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}}}, metav1.CreateOptions{})).Error().NotTo(HaveOccurred())
		Expect(cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "viewer"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "viewer"}}}, metav1.CreateOptions{})).Error().NotTo(HaveOccurred())
		Eventually(func() (string, error) { return run(viewer, "", "get", "pod", "talker", "-o", "name") }, 10*time.Second).Should(Equal("pod/talker\n"))
		_, err = run(viewer, "", "logs", "talker")
		Expect(err).To(MatchError(ContainSubstring(`Error from server (Forbidden): pods "talker" is forbidden: User "viewer" cannot get resource "pods/log"`)))
		_, err = run(viewer, "", "exec", "talker", "--", "id", "-u")
		Expect(err).To(MatchError(ContainSubstring(`User "viewer" cannot create resource "pods/exec"`)))
		_, err = run(viewer, "", "port-forward", "pod/talker", fmt.Sprintf("%d:%d", local, podPort))
		Expect(err).To(MatchError(ContainSubstring(`User "viewer" cannot create resource "pods/portforward"`)))
	})
})

// kubectlBinary is kubectl from PATH, else from bin/k8s/<version>/ (make test-deps
// builds it there when PATH has none). Without either the spec is skipped, or fails in CI.
func kubectlBinary() string {
	if p, err := exec.LookPath("kubectl"); err == nil {
		return p
	}
	p, err := testenv.ComponentBinary("kubectl")
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		Fail("kubectl is needed: " + err.Error())
	}
	Skip("no kubectl: " + err.Error())
	return ""
}

// runKubectl runs kubectl in namespace ns and returns its output; its error carries
// its stderr. The GinkgoWriter gets a transcript.
func runKubectl(kubectl, kubeconfig, ns, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", kubeconfig, "-n", ns}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &stdout, &stderr, strings.NewReader(stdin)
	err := cmd.Run()
	GinkgoWriter.Printf("$ kubectl %s\n%s%s", strings.Join(args, " "), stdout.String(), stderr.String())
	if err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// roundTrip sends a line to addr and returns the line that comes back.
func roundTrip(addr, line string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintln(c, line); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

// talkerSource is the pod's program: it prints two lines, then echoes each line a TCP
// client sends on 127.0.0.1:<port> back to it, and logs it.
const talkerSource = `package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
)

func main() {
	l, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("hello from Mesos")
	fmt.Println("listening on", l.Addr())
	for {
		c, err := l.Accept()
		if err != nil {
			os.Exit(1)
		}
		go func() {
			defer c.Close()
			s := bufio.NewScanner(c)
			for s.Scan() {
				fmt.Println("got", s.Text())
				fmt.Fprintln(c, "echo", s.Text())
			}
		}()
	}
}
`

// buildTalker builds talkerSource where the pod's user (nobody) can run it.
func buildTalker() string {
	dir, err := os.MkdirTemp("", "k8sm-talker-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	Expect(os.Chmod(dir, 0o755)).To(Succeed())
	Expect(os.WriteFile(filepath.Join(dir, "main.go"), []byte(talkerSource), 0o644)).To(Succeed())
	Expect(os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module talker\n\ngo 1.22\n"), 0o644)).To(Succeed())
	cmd := exec.Command("go", "build", "-o", "talker", ".")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "building the talker: %s", out)
	return filepath.Join(dir, "talker")
}

// kubeconfigOf writes a kubeconfig for a user of env (a client certificate) and returns its path.
func kubeconfigOf(env *envtest.Environment, u envtest.User) string {
	user, err := env.AddUser(u, nil)
	Expect(err).NotTo(HaveOccurred())
	kc, err := user.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(os.WriteFile(path, kc, 0o600)).To(Succeed())
	return path
}

// startManager runs the manager binary with kubeconfig, in the manager's namespace,
// until the spec ends; its log goes to the GinkgoWriter.
func startManager(managerBin, kubeconfig string, args ...string) *exec.Cmd {
	cmd := exec.Command(managerBin, append([]string{"--health-probe-bind-address=127.0.0.1:0", "--metrics-bind-address=0",
		"--namespace=" + testenv.ManagerNamespace}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	Expect(cmd.Start()).To(Succeed())
	DeferCleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	return cmd
}
