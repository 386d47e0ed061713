// Package testkubelet runs a real kubelet for tests: containerd and runc from the
// machine's packages (hack/install-test-deps.sh installs them) with containerd's root,
// state and socket in a temporary directory, a local image made from the static busybox
// binary (no registry is reachable) as both pod and sandbox image, and a kubelet built from
// the Go module proxy (hack/build-k8s-binaries.sh), standalone with a static pod
// directory, or registered with an API server (StartWith). Stop removes every pod,
// container, mount and process it started.
package testkubelet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/k8sm/k8sm/internal/testenv"
)

const (
	// Image is the local busybox image pods can use: /bin/busybox and its applets.
	Image = "k8sm.local/busybox:1"
	// PauseImage is the sandbox image: the same layer, sleeping.
	PauseImage = "k8sm.local/pause:1"

	namespace = "k8s.io"
)

// Busybox is the static busybox binary (Debian's busybox-static).
var Busybox = "/bin/busybox"

// Required says whether tests must fail, rather than skip, without a kubelet
// environment: in CI, or when K8SM_REQUIRE_KUBELET=1.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("K8SM_REQUIRE_KUBELET") == "1"
}

// TB is what Require needs of a test: a *testing.T, or Ginkgo's GinkgoT().
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// Require skips the test, or fails it where the kubelet environment is Required, when
// this machine cannot run it (Missing).
func Require(t TB) {
	t.Helper()
	if why := Missing(); why != "" {
		if Required() {
			t.Fatalf("cannot run a kubelet here: %s", why)
		}
		t.Skipf("cannot run a kubelet here: %s", why)
	}
}

// Missing says what this machine lacks to run the kubelet environment, or "" when
// nothing is missing.
func Missing() string {
	if os.Geteuid() != 0 {
		return "containers need root"
	}
	for _, b := range []string{"containerd", "runc", "ctr", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(b); err != nil {
			return b + " is not installed (hack/install-test-deps.sh installs containerd and runc)"
		}
	}
	if out, err := exec.Command(Busybox, "--help").CombinedOutput(); err != nil || !bytes.Contains(out, []byte("BusyBox")) {
		return Busybox + " is not a busybox binary (apt-get install busybox-static)"
	}
	if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
		return "no cgroup filesystem"
	}
	if _, err := KubeletBinary(); err != nil {
		return err.Error()
	}
	return ""
}

// KubeletBinary is $K8SM_KUBELET, else the kubelet testenv.ComponentBinary finds: in
// bin/k8s/<version>, where make test-deps builds it, the preferred version's or else the
// newest.
func KubeletBinary() (string, error) {
	if p := os.Getenv("K8SM_KUBELET"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("K8SM_KUBELET names no kubelet: %w", err)
		}
		return p, nil
	}
	return testenv.ComponentBinary("kubelet")
}

// Env is a running containerd and standalone kubelet.
type Env struct {
	// Dir holds everything the environment writes.
	Dir string
	// ManifestDir is the kubelet's static pod directory.
	ManifestDir string
	// URL is the kubelet's read-only port, e.g. http://127.0.0.1:10255.
	URL string
	// SecureURL is the kubelet's authenticated port (anonymous requests are allowed),
	// which also serves /runningpods/. Its certificate is CAFile, for the name NodeName.
	SecureURL string
	// CAFile is the kubelet's self-signed serving certificate.
	CAFile string
	// NodeName is the kubelet's node name.
	NodeName string

	sock       string
	bridge     string
	subnet     int
	containerd *exec.Cmd
	kubelet    *exec.Cmd
	// kubeletExited is closed once the kubelet process has been waited for.
	kubeletExited chan struct{}
}

// Options change how StartWith runs the kubelet.
type Options struct {
	// Kubeconfig, when set, is the kubeconfig of an API server the kubelet registers its
	// Node with (named NodeName), to run the pods bound to it as a cluster's kubelets do,
	// besides its static pods. A cluster DNS address is configured, as clusters have one
	// (without it, the kubelet warns of it in an event for every pod).
	Kubeconfig string
}

// Start runs containerd, imports the images and starts a standalone kubelet, and waits
// until the kubelet answers on its read-only port.
func Start() (*Env, error) { return StartWith(Options{}) }

// StartWith is Start with options.
func StartWith(o Options) (*Env, error) {
	if why := Missing(); why != "" {
		return nil, errors.New(why)
	}
	kubeletBin, _ := KubeletBinary()
	// Short: containerd's socket path must fit a sockaddr_un.
	dir, err := os.MkdirTemp("", "k8sm-kl-")
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir, ManifestDir: filepath.Join(dir, "manifests"), NodeName: "k8sm-test-node", sock: filepath.Join(dir, "c.sock")}
	// Environments may run side by side (test packages run in parallel): each has its
	// own bridge and subnet.
	e.subnet = 1 + os.Getpid()%250
	e.bridge = fmt.Sprintf("k8smt%d", e.subnet)
	ok := false
	defer func() {
		if !ok {
			e.Stop()
		}
	}()
	for _, d := range []string{e.ManifestDir, filepath.Join(dir, "cni"), filepath.Join(dir, "kubelet")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := e.startContainerd(); err != nil {
		return nil, err
	}
	for _, img := range []struct {
		ref             string
		entrypoint, cmd []string
	}{{Image, nil, []string{"sh"}}, {PauseImage, []string{"/bin/sleep", "2147483647"}, nil}} {
		tarball, err := imageArchive(Busybox, img.ref, img.entrypoint, img.cmd)
		if err != nil {
			return nil, fmt.Errorf("making %s: %w", img.ref, err)
		}
		if out, err := e.ctr(bytes.NewReader(tarball), "images", "import", "--no-unpack=false", "-"); err != nil {
			return nil, fmt.Errorf("importing %s: %v: %s", img.ref, err, out)
		}
	}
	if err := e.startKubelet(kubeletBin, o); err != nil {
		return nil, err
	}
	ok = true
	return e, nil
}

func (e *Env) startContainerd() error {
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
`, filepath.Join(e.Dir, "containerd"), filepath.Join(e.Dir, "state"), e.sock, e.sock+".ttrpc", PauseImage, filepath.Join(e.Dir, "cni"))
	// Pods get an address on a bridge of their own subnet: no gateway, no masquerade,
	// nothing routed off the machine.
	cni := fmt.Sprintf(`{"cniVersion":"0.4.0","name":"k8sm-test","plugins":[
  {"type":"bridge","bridge":%q,"isGateway":false,"ipMasq":false,"hairpinMode":true,
   "ipam":{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":"10.244.%d.0/24"}]]}},
  {"type":"loopback"}]}`, e.bridge, filepath.Join(e.Dir, "ipam"), e.subnet)
	if err := os.WriteFile(filepath.Join(e.Dir, "cni", "10-k8sm-test.conflist"), []byte(cni), 0o644); err != nil {
		return err
	}
	cfgFile := filepath.Join(e.Dir, "containerd.toml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		return err
	}
	log, err := os.Create(filepath.Join(e.Dir, "containerd.log"))
	if err != nil {
		return err
	}
	e.containerd = exec.Command("containerd", "--config", cfgFile)
	e.containerd.Stdout, e.containerd.Stderr = log, log
	e.containerd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := e.containerd.Start(); err != nil {
		return fmt.Errorf("starting containerd: %w", err)
	}
	return waitFor(30*time.Second, func() error {
		_, err := e.ctr(nil, "version")
		return err
	}, func() string { return tail(filepath.Join(e.Dir, "containerd.log")) })
}

func (e *Env) startKubelet(bin string, o Options) error {
	roPort, err := testenv.FreePort()
	if err != nil {
		return err
	}
	port, err := testenv.FreePort()
	if err != nil {
		return err
	}
	healthz, err := testenv.FreePort()
	if err != nil {
		return err
	}
	cfg := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
staticPodPath: %q
fileCheckFrequency: 1s
syncFrequency: 2s
address: 127.0.0.1
port: %d
readOnlyPort: %d
healthzBindAddress: 127.0.0.1
healthzPort: %d
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: unix://%s
imageServiceEndpoint: unix://%s
evictionHard:
  memory.available: "0%%"
  nodefs.available: "0%%"
  imagefs.available: "0%%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
localStorageCapacityIsolation: false
registerNode: %t
resolvConf: ""
serializeImagePulls: false
`, e.ManifestDir, port, roPort, healthz, e.sock, e.sock, o.Kubeconfig != "")
	if o.Kubeconfig != "" {
		cfg += "clusterDNS: [\"10.96.0.10\"]\nclusterDomain: cluster.local\n"
	}
	cfgFile := filepath.Join(e.Dir, "kubelet.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		return err
	}
	log, err := os.Create(filepath.Join(e.Dir, "kubelet.log"))
	if err != nil {
		return err
	}
	e.URL = "http://127.0.0.1:" + strconv.Itoa(roPort)
	e.SecureURL = "https://127.0.0.1:" + strconv.Itoa(port)
	e.CAFile = filepath.Join(e.Dir, "kubelet", "pki", "kubelet.crt")
	// The kubelet can exit as it starts: it bind-mounts its root directory onto itself
	// while it makes its pod-resources socket there, and the socket's rename may then
	// cross the new mount ("invalid cross-device link"). It is started again then.
	for attempt := 1; ; attempt++ {
		e.kubelet = exec.Command(bin, "--config", cfgFile, "--root-dir", filepath.Join(e.Dir, "kubelet"),
			"--cert-dir", filepath.Join(e.Dir, "kubelet", "pki"), "--hostname-override", e.NodeName, "--v", "2")
		if o.Kubeconfig != "" {
			e.kubelet.Args = append(e.kubelet.Args, "--kubeconfig", o.Kubeconfig)
		}
		e.kubelet.Stdout, e.kubelet.Stderr = log, log
		e.kubelet.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
		if err := e.kubelet.Start(); err != nil {
			return fmt.Errorf("starting the kubelet: %w", err)
		}
		e.kubeletExited = waited(e.kubelet)
		err := e.awaitKubelet(60 * time.Second)
		if !errors.Is(err, errKubeletExited) || attempt == 3 {
			return err
		}
		_, _ = fmt.Fprintf(log, "\n--- the kubelet exited as it started; starting it again (attempt %d) ---\n", attempt+1)
	}
}

// errKubeletExited is awaitKubelet's error when the kubelet ended before it answered.
var errKubeletExited = errors.New("the kubelet exited as it started")

// awaitKubelet waits at most d until the kubelet answers on its read-only port, and no
// longer once it has exited (errKubeletExited).
func (e *Env) awaitKubelet(d time.Duration) error {
	return waitFor(d, func() error {
		select {
		case <-e.kubeletExited:
			return final{errKubeletExited}
		default:
		}
		_, err := e.Pods()
		return err
	}, func() string { return tail(filepath.Join(e.Dir, "kubelet.log")) })
}

// PodList is the kubelet's /pods answer, reduced to what tests look at.
type PodList struct {
	Items []struct {
		Metadata struct {
			Name        string            `json:"name"`
			Namespace   string            `json:"namespace"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Status struct {
			Phase string `json:"phase"`
		} `json:"status"`
	} `json:"items"`
}

// Pods asks the kubelet for its pods.
func (e *Env) Pods() (*PodList, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(e.URL + "/pods")
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /pods: %s", resp.Status)
	}
	var l PodList
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		return nil, err
	}
	return &l, nil
}

// RunningContainers lists the containers containerd runs for the kubelet: their tasks
// that have not stopped. A stopped task (its processes are gone) stays listed until the
// kubelet's runtime deletes it, a moment later.
func (e *Env) RunningContainers() ([]string, error) {
	tasks, err := e.tasks()
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, t := range tasks {
		if t.status != "STOPPED" {
			ids = append(ids, t.id)
		}
	}
	return ids, nil
}

type task struct{ id, status string }

// tasks lists containerd's tasks, stopped ones too (`ctr tasks ls`: TASK PID STATUS).
func (e *Env) tasks() ([]task, error) {
	out, err := e.ctr(nil, "tasks", "ls")
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	var tasks []task
	for i, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if i == 0 || len(f) < 3 { // the header
			continue
		}
		tasks = append(tasks, task{id: f[0], status: f[len(f)-1]})
	}
	return tasks, nil
}

// Logs is the end of the kubelet's and containerd's logs, for failure messages.
func (e *Env) Logs() string {
	return "kubelet:\n" + tail(filepath.Join(e.Dir, "kubelet.log")) + "\ncontainerd:\n" + tail(filepath.Join(e.Dir, "containerd.log"))
}

// Stop removes the static pods, waits (briefly) for the kubelet to stop them, stops the
// kubelet, kills and removes whatever containers are left, stops containerd, unmounts
// what is still mounted under Dir and removes it.
func (e *Env) Stop() {
	if e.kubelet != nil && e.kubelet.Process != nil {
		entries, _ := os.ReadDir(e.ManifestDir)
		for _, f := range entries {
			_ = os.Remove(filepath.Join(e.ManifestDir, f.Name()))
		}
		_ = waitFor(30*time.Second, func() error {
			ids, err := e.RunningContainers()
			if err == nil && len(ids) > 0 {
				return fmt.Errorf("%d containers left", len(ids))
			}
			return nil
		}, func() string { return "" })
		stopWaited(e.kubelet, e.kubeletExited)
	}
	if e.containerd != nil && e.containerd.Process != nil {
		if ids, err := e.RunningContainers(); err == nil {
			for _, id := range ids {
				_, _ = e.ctr(nil, "tasks", "kill", "-s", "SIGKILL", id)
			}
			_ = waitFor(10*time.Second, func() error {
				if ids, _ := e.RunningContainers(); len(ids) > 0 {
					return errors.New("containers left")
				}
				return nil
			}, func() string { return "" })
		}
		tasks, _ := e.tasks()
		for _, t := range tasks {
			_, _ = e.ctr(nil, "tasks", "rm", "-f", t.id)
			_, _ = e.ctr(nil, "containers", "rm", t.id)
		}
		stop(e.containerd)
	}
	killShims(e.sock)
	unmountUnder(e.Dir)
	if e.bridge != "" {
		_ = exec.Command("ip", "link", "delete", e.bridge).Run()
	}
	if os.Getenv("K8SM_KEEP_KUBELET_DIR") == "" {
		_ = os.RemoveAll(e.Dir)
	}
}

func (e *Env) ctr(stdin io.Reader, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", e.sock, "--namespace", namespace}, args...)...)
	cmd.Stdin = stdin
	return cmd.CombinedOutput()
}

// stop ends a process with SIGTERM, then SIGKILL.
func stop(cmd *exec.Cmd) { stopWaited(cmd, waited(cmd)) }

// waited waits for a started process, and closes the channel it returns once it has.
func waited(cmd *exec.Cmd) chan struct{} {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	return done
}

// stopWaited ends a process waited for (done) with SIGTERM, then SIGKILL.
func stopWaited(cmd *exec.Cmd, done <-chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// killShims kills the containerd shims of this environment (they outlive containerd).
func killShims(sock string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(b, []byte("containerd-shim")) || !bytes.Contains(b, []byte(sock)) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// unmountUnder unmounts every mount below dir, deepest first.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	var points []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			points = append(points, f[1])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		_ = syscall.Unmount(points[i], syscall.MNT_DETACH)
	}
}

// final wraps an error of waitFor's f after which waiting is pointless (the process
// waited for has exited): waitFor returns it at once.
type final struct{ error }

func (f final) Unwrap() error { return f.error }

// waitFor calls f every 200 ms until it succeeds, returns a final error, or d has
// passed; its error ends with logs.
func waitFor(d time.Duration, f func() error, logs func() string) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if errors.As(err, new(final)) {
			return fmt.Errorf("%w\n%s", err, logs())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%v (after %s)\n%s", err, d, logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tail(file string) string {
	b, _ := os.ReadFile(file)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
