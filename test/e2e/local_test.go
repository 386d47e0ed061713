// Package e2e runs whole k8sm: the binaries as a person runs them.
package e2e

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/tools/clientcmd"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/k8sm/k8sm/internal/testenv"
)

func TestE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("the e2e suite starts kube-apiserver and etcd (envtest) and runs the binaries; not in -short (make test-unit)")
	}
	RegisterFailHandler(Fail)
	// What envtest and the specs' clients log goes with each spec's output, shown when it
	// fails (without a logger, controller-runtime prints a warning and a stack instead).
	logf.SetLogger(GinkgoLogr)
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
	It("runs the sample pod on mesos-sim, shows it, and stops everything it started, again with the MesosTasks in memory", func() {
		assets, err := testenv.AssetsDir()
		Expect(err).NotTo(HaveOccurred())
		bin := GinkgoT().TempDir()
		build(bin, "k8sm-local", "manager", "k8sm-executor")
		work := GinkgoT().TempDir()
		// k8sm-local looks for metrics-server beside its own binary, which is not this
		// bin: it is named, when built.
		metricsServer := findMetricsServer()

		run := func(flags ...string) string {
			cmd := exec.Command(filepath.Join(bin, "k8sm-local"), append([]string{"up", "--once", "--agents", "2", "--dir", work, "--assets", assets,
				"--metrics-server", metricsServer}, flags...)...)
			cmd.Dir = testenv.RepoRoot()
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			Expect(cmd.Run()).To(Succeed(), "k8sm-local up: %s", out.String())
			return out.String()
		}
		out := run()
		Expect(out).To(ContainSubstring("mesos-sim: master http://127.0.0.1:"))
		// The install's admission policy, applied as config/default applies it.
		Expect(out).To(ContainSubstring("==> The API server gives the cluster's pods their outage tolerations as they are created (MutatingAdmissionPolicy k8sm-outage-tolerations)"))
		Expect(out).To(MatchRegexp(`pod/hello-mesos\s+1/1\s+Running`))
		Expect(out).To(MatchRegexp(`mesostask.mesos.k8sm.io/hello-mesos\s+Running\s+TASK_RUNNING`))
		// The cluster counts the task it shows running: 2 agents, 1 running.
		Expect(out).To(MatchRegexp(`mesoscluster.mesos.k8sm.io/local\s+mesos\s+http://\S+\s+True\s+2\s+1\s`))
		// Each agent's Node has an address of its own, where its executor serves the
		// kubelet API that kubectl logs and exec reach through kube-apiserver.
		Expect(out).To(MatchRegexp(`node/mesos-local-agent-2\s+Ready\s+mesos-agent\s+\S+\s+mesos\s+127\.0\.0\.2\s`))
		Expect(out).To(ContainSubstring("$ kubectl -n default logs hello-mesos\nhello from Mesos\n"))
		Expect(out).To(MatchRegexp(`\$ kubectl -n default exec hello-mesos -- sh -c '.*'\nI am nobody, in /\S+/containers/hello/rootfs\n`))
		Expect(out).To(ContainSubstring("export KUBECONFIG=" + filepath.Join(work, "kubeconfig")))
		// kubectl port-forward to a pod that serves HTTP with the agent's busybox, and a
		// GET through it.
		if busyboxHttpd() {
			Expect(out).To(MatchRegexp(`\$ kubectl -n default port-forward pod/hello-web (\d+):31080 &\nForwarding from 127\.0\.0\.1:\d+ -> 31080\n` +
				`(.*\n)*\$ curl http://127\.0\.0\.1:\d+/\nhello from Mesos, through kubectl port-forward\n`))
		} else {
			Expect(os.Getenv("CI")).To(BeEmpty(), "CI installs busybox with httpd (make test-deps)")
			Expect(out).To(ContainSubstring("(kubectl port-forward needs a pod that listens"))
		}
		// kubectl top, through metrics-server, which scraped the executor: the pod idles
		// (0m and more) and its memory may round down to 0Mi.
		var metricsAddr string
		if metricsServer != "" {
			Expect(out).To(MatchRegexp(`\$ kubectl -n default top pod hello-mesos\nNAME\s+CPU\(cores\)\s+MEMORY\(bytes\)\s*\nhello-mesos\s+\d+m\s+\d+Mi\s*\n`))
			m := regexp.MustCompile(`==> metrics-server: https://(127\.[0-9.]+:\d+) `).FindStringSubmatch(out)
			Expect(m).To(HaveLen(2), "k8sm-local names where metrics-server listens")
			metricsAddr = m[1]
		} else {
			Expect(out).To(ContainSubstring("(kubectl top needs metrics-server: build it with `make test-deps`"))
		}

		// Nothing is left running: the apiserver of the kubeconfig is gone, and so is
		// metrics-server.
		cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(work, "kubeconfig"))
		Expect(err).NotTo(HaveOccurred())
		host := strings.TrimPrefix(strings.TrimPrefix(cfg.Host, "https://"), "http://")
		for _, addr := range []string{host, metricsAddr} {
			if addr == "" {
				continue
			}
			Eventually(func() error {
				c, err := net.DialTimeout("tcp", addr, time.Second)
				if err == nil {
					_ = c.Close()
				}
				return err
			}, 10*time.Second).Should(HaveOccurred(), "%s still answers", addr)
		}

		// It works a second time in a row, here with the MesosTasks in the manager's
		// memory alone: no MesosTask CRD, kubectl get mesostasks reads the served ones.
		out = run("--tasks-in-memory")
		Expect(out).To(MatchRegexp(`pod/hello-mesos\s+1/1\s+Running`))
		Expect(out).To(MatchRegexp(`mesostask.tasks.mesos.k8sm.io/hello-mesos\s+Running\s+TASK_RUNNING`))
		Expect(out).NotTo(ContainSubstring("mesostask.mesos.k8sm.io/"))
	})

	It("uses an existing Mesos master given with --mesos-master instead of starting the sim, and serves the MesosTasks API with --tasks-api", func() {
		assets, err := testenv.AssetsDir()
		Expect(err).NotTo(HaveOccurred())
		bin := GinkgoT().TempDir()
		build(bin, "k8sm-local", "manager", "k8sm-executor", "mesos-sim")

		// "Your Mesos": a mesos-sim of its own, whose agent starts the executor from the
		// path k8sm-local gives as its URI.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		addr := l.Addr().String()
		Expect(l.Close()).To(Succeed())
		sim := exec.Command(filepath.Join(bin, "mesos-sim"), "--listen", addr, "--agents", "1", "--exec", "--work-dir", GinkgoT().TempDir(), "--heartbeat-interval", "2s")
		var simOut bytes.Buffer
		sim.Stdout, sim.Stderr = &simOut, &simOut
		Expect(sim.Start()).To(Succeed())
		// SIGTERM: mesos-sim stops its agents' executors and their pods.
		DeferCleanup(func() { _ = sim.Process.Signal(syscall.SIGTERM); _ = sim.Wait() })
		Eventually(func() error {
			resp, err := http.Get("http://" + addr + "/health")
			if err == nil {
				_ = resp.Body.Close()
			}
			return err
		}, 20*time.Second, 100*time.Millisecond).Should(Succeed(), "mesos-sim: %s", simOut.String())

		// With --tasks-api too: the manager serves the MesosTasks through kube-apiserver.
		cmd := exec.Command(filepath.Join(bin, "k8sm-local"), "up", "--once", "--dir", GinkgoT().TempDir(), "--assets", assets, "--mesos-master", "http://"+addr,
			"--tasks-api")
		cmd.Dir = testenv.RepoRoot()
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "k8sm-local up: %s", out)
		Expect(string(out)).To(ContainSubstring("Using the Mesos master http://" + addr))
		Expect(string(out)).NotTo(ContainSubstring("mesos-sim: master"))
		Expect(string(out)).To(MatchRegexp(`pod/hello-mesos\s+1/1\s+Running`))
		Expect(string(out)).To(MatchRegexp(`get mesostasks\.tasks\.mesos\.k8sm\.io\n(?s:.*)\nhello-mesos\s+Running\s+TASK_RUNNING\s`))

		// The pod ran on that master's agent as a task of the k8sm framework, which
		// k8sm-local tore down on its way out: nothing of it is left running there.
		Expect(string(out)).To(ContainSubstring(`Deleting MesosCluster "local": Mesos kills its tasks`))
		resp, err := http.Get("http://" + addr + "/state")
		Expect(err).NotTo(HaveOccurred())
		defer func() { _ = resp.Body.Close() }()
		var st struct {
			Frameworks []struct {
				Name    string `json:"name"`
				Removed bool   `json:"removed"`
				Tasks   []struct {
					State string `json:"state"`
				} `json:"tasks"`
			} `json:"frameworks"`
		}
		Expect(json.NewDecoder(resp.Body).Decode(&st)).To(Succeed())
		Expect(st.Frameworks).To(ContainElement(And(HaveField("Name", "k8sm"), HaveField("Removed", true))))
		for _, fw := range st.Frameworks {
			for _, t := range fw.Tasks {
				Expect(t.State).To(Equal("TASK_KILLED"), "a task of the torn-down framework")
			}
		}
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

// busyboxHttpd says whether busybox with its httpd applet is in PATH, as k8sm-local
// needs for its port-forward pod.
func busyboxHttpd() bool {
	out, err := exec.Command("busybox", "--list").Output()
	return err == nil && strings.Contains("\n"+string(out), "\nhttpd\n")
}
