package integration

import (
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/k8sm/k8sm/internal/mesossim"
	"github.com/k8sm/k8sm/internal/testenv"
)

// executorBuild is the k8sm-executor binary the specs that run real executors share,
// built once per suite run (into bin/, which git ignores) from this checkout.
var executorBuild struct {
	sync.Once
	path string
	out  []byte
	err  error
}

// executorBinary builds k8sm-executor, once, and returns its path.
func executorBinary() string {
	executorBuild.Do(func() {
		executorBuild.path = filepath.Join(testenv.RepoRoot(), "bin", "test", "k8sm-executor")
		build := exec.Command("go", "build", "-o", executorBuild.path, "./cmd/k8sm-executor")
		build.Dir = testenv.RepoRoot()
		executorBuild.out, executorBuild.err = build.CombinedOutput()
	})
	Expect(executorBuild.err).NotTo(HaveOccurred(), "building k8sm-executor: %s", executorBuild.out)
	return executorBuild.path
}

// startExecSim starts mesos-sim with one agent whose tasks run in real executor
// processes (exec mode), stopped when the spec (or container) ends; adjust changes its
// config first.
func startExecSim(adjust ...func(*mesossim.Config)) *mesossim.Master {
	cfg := mesossim.Config{Agents: 1, AgentResources: "cpus:4;mem:8192;disk:10000",
		HeartbeatInterval: time.Second, AllocationInterval: 100 * time.Millisecond, Exec: true, WorkDir: GinkgoT().TempDir()}
	for _, f := range adjust {
		f(&cfg)
	}
	sim, err := mesossim.New(cfg)
	Expect(err).NotTo(HaveOccurred())
	Expect(sim.Start("127.0.0.1:0")).To(Succeed())
	DeferCleanup(sim.Close)
	return sim
}
