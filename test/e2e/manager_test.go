package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/testenv"
)

// adminEnv starts kube-apiserver and etcd for the spec, until it ends, and returns them
// with the path of a cluster admin's kubeconfig and a client of k8sm's types and the
// built-in ones.
func adminEnv() (*envtest.Environment, string, client.Client) {
	env, err := testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(env.Stop)
	user, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	kc, err := user.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	kubeconfig := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(os.WriteFile(kubeconfig, kc, 0o600)).To(Succeed())
	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(mesosv1alpha1.AddToScheme(scheme)).To(Succeed())
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	return env, kubeconfig, c
}

// managerProcess is the manager binary (built for the spec) as a cluster admin, started
// and SIGKILLed as the spec says; each start logs to a file of its own in a directory
// the GinkgoWriter names. Whatever runs when the spec ends is killed.
type managerProcess struct {
	bin, kubeconfig, logDir string
	// args are more arguments for each start.
	args   []string
	cmd    *exec.Cmd
	starts int
}

func newManagerProcess(kubeconfig string) *managerProcess {
	bin := GinkgoT().TempDir()
	build(bin, "manager")
	m := &managerProcess{bin: filepath.Join(bin, "manager"), kubeconfig: kubeconfig, logDir: GinkgoT().TempDir()}
	GinkgoWriter.Println("manager logs in", m.logDir)
	DeferCleanup(func() {
		if m.cmd != nil {
			_ = m.cmd.Process.Kill()
			_ = m.cmd.Wait()
		}
	})
	return m
}

func (m *managerProcess) start() {
	m.starts++
	log, err := os.Create(filepath.Join(m.logDir, fmt.Sprintf("manager-%d.log", m.starts)))
	Expect(err).NotTo(HaveOccurred())
	m.cmd = exec.Command(m.bin, append([]string{"--health-probe-bind-address=127.0.0.1:0", "--metrics-bind-address=0"}, m.args...)...)
	m.cmd.Env = append(os.Environ(), "KUBECONFIG="+m.kubeconfig)
	m.cmd.Stdout, m.cmd.Stderr = log, log
	Expect(m.cmd.Start()).To(Succeed())
}

func (m *managerProcess) kill() {
	Expect(m.cmd.Process.Signal(syscall.SIGKILL)).To(Succeed())
	_ = m.cmd.Wait()
}
