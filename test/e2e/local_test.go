// Package e2e runs whole k8sm: the binaries as a person runs them.
package e2e

import (
	"bytes"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/k8sm/k8sm/internal/testenv"
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "e2e Suite")
}

// build compiles the named commands into dir.
func build(dir string, cmds ...string) {
	for _, c := range cmds {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, c), "./cmd/"+c)
		cmd.Dir = testenv.RepoRoot()
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "building %s: %s", c, out)
	}
}

var _ = Describe("The local default (k8sm-local up)", func() {
	It("runs the sample pod on mesos-sim, shows it, and stops everything it started", func() {
		assets, err := testenv.AssetsDir()
		Expect(err).NotTo(HaveOccurred())
		bin := GinkgoT().TempDir()
		build(bin, "k8sm-local", "manager", "k8sm-executor")
		work := GinkgoT().TempDir()

		run := func() string {
			cmd := exec.Command(filepath.Join(bin, "k8sm-local"), "up", "--once", "--agents", "2", "--dir", work, "--assets", assets)
			cmd.Dir = testenv.RepoRoot()
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			Expect(cmd.Run()).To(Succeed(), "k8sm-local up: %s", out.String())
			return out.String()
		}
		out := run()
		Expect(out).To(ContainSubstring("mesos-sim: master http://127.0.0.1:"))
		Expect(out).To(MatchRegexp(`pod/hello-mesos\s+1/1\s+Running`))
		Expect(out).To(MatchRegexp(`mesostask.mesos.k8sm.io/hello-mesos\s+Running\s+TASK_RUNNING`))
		Expect(out).To(ContainSubstring("export KUBECONFIG=" + filepath.Join(work, "kubeconfig")))

		// Nothing is left running: the apiserver of the kubeconfig is gone.
		cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(work, "kubeconfig"))
		Expect(err).NotTo(HaveOccurred())
		host := strings.TrimPrefix(strings.TrimPrefix(cfg.Host, "https://"), "http://")
		Eventually(func() error {
			c, err := net.DialTimeout("tcp", host, time.Second)
			if err == nil {
				_ = c.Close()
			}
			return err
		}, 10*time.Second).Should(HaveOccurred(), "kube-apiserver %s still answers", host)

		// It works a second time in a row.
		Expect(run()).To(MatchRegexp(`pod/hello-mesos\s+1/1\s+Running`))
	})

	It("says so when the sim's port is taken", func() {
		assets, err := testenv.AssetsDir()
		Expect(err).NotTo(HaveOccurred())
		l, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		defer func() { _ = l.Close() }()
		bin := GinkgoT().TempDir()
		build(bin, "k8sm-local", "manager", "k8sm-executor")
		cmd := exec.Command(filepath.Join(bin, "k8sm-local"), "up", "--once", "--dir", GinkgoT().TempDir(), "--assets", assets, "--sim-listen", l.Addr().String())
		cmd.Dir = testenv.RepoRoot()
		out, err := cmd.CombinedOutput()
		Expect(err).To(HaveOccurred())
		Expect(string(out)).To(ContainSubstring("mesos-sim cannot listen on " + l.Addr().String() + " (is the port taken?"))
	})
})
