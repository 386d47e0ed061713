//go:build linux

package process

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/executor"
)

// envStatusPods makes a copy of the test binary an executor that runs pods printing
// their /proc/self/status (runStatusPods): its value is "MODE:FILE".
const envStatusPods = "K8SM_TEST_STATUS_PODS"

func init() { testModes[envStatusPods] = runStatusPods }

// statusPods are the containers runStatusPods runs, by mode; inherited ones run this
// binary to print inherited() instead of their /proc/self/status.
var statusPods = map[string][]struct {
	name      string
	pod       *corev1.PodSecurityContext
	ctr       *corev1.SecurityContext
	inherited bool
}{
	"caps": {{"nobody", nil, nil, false}, {"root", nil, &corev1.SecurityContext{RunAsUser: i64(0)}, false}},
	"self": {{"plain", nil, nil, false},
		{"runtimedefault", &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}, nil, false}},
	"inherited": {{"nobody", nil, nil, true}, {"root", nil, &corev1.SecurityContext{RunAsUser: i64(0)}, true}},
}

// envInherited makes a copy of the test binary print what it has of what
// TestContainersInheritNoFileNorKeyringOfTheExecutor gives the executor (inherited):
// inheritedKey in its session keyring, inheritedFD open.
const (
	envInherited = "K8SM_TEST_INHERITED"
	inheritedKey = "k8sm-test-inherited-key"
	inheritedFD  = 37
)

func init() { testModes[envInherited] = func() int { fmt.Print(inherited()); return 0 } }

// inherited says "key=found" if the process finds inheritedKey in its session keyring
// (which takes possessing it), "fd37=open" if it has inheritedFD open, and its umask
// ("umask=0022"), a line each.
func inherited() string {
	out := ""
	if _, err := unix.KeyctlSearch(unix.KEY_SPEC_SESSION_KEYRING, "user", inheritedKey, 0); err == nil {
		out += "key=found\n"
	}
	if _, err := unix.FcntlInt(inheritedFD, unix.F_GETFD, 0); err == nil {
		out += fmt.Sprintf("fd%d=open\n", inheritedFD)
	}
	mask := unix.Umask(0)
	unix.Umask(mask)
	return out + fmt.Sprintf("umask=%04o\n", mask)
}

// runStatusPods prints its own /proc/self/status (and, after "== executor-inherited",
// inherited()), then runs the mode's containers, each printing theirs, one
// after the other, and writes it all to the file, each part after a line "== executor"
// or "== " and the container's name.
func runStatusPods() int {
	mode, file, _ := strings.Cut(os.Getenv(envStatusPods), ":")
	self, _ := os.ReadFile("/proc/self/status")
	out := "== executor\n" + string(self) + "== executor-inherited\n" + inherited()
	for _, c := range statusPods[mode] {
		p := scPod("", c.pod, c.ctr)
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		p.Spec.Containers[0].Command = []string{"cat", "/proc/self/status"}
		if c.inherited {
			p.Spec.Containers[0].Command = []string{os.Args[0]}
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: envInherited, Value: "1"}}
		}
		dir, err := os.MkdirTemp("", "k8sm-status-pod-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer func() { _ = os.RemoveAll(dir) }()
		done := make(chan struct{}, 100)
		if _, err := (&Runtime{}).Start(p, dir, func(r executor.Report) {
			if ended(r) {
				done <- struct{}{}
			}
		}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			return 4
		}
		out += "== " + c.name + "\n" + output(dir, "c", corev1.LogStreamStdout)
	}
	if os.WriteFile(file, []byte(out), 0o644) != nil {
		return 5
	}
	return 0
}

// runStatusPodsAs runs a copy of the test binary as runStatusPods (bin, with attr), and
// returns the status of each part.
func runStatusPodsAs(t *testing.T, bin, mode string, attr *syscall.SysProcAttr) map[string]map[string]string {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.SysProcAttr = attr
	return runStatusPodsWith(t, cmd, mode)
}

// runStatusPodsWith runs cmd, which runs the test binary, as runStatusPods.
func runStatusPodsWith(t *testing.T, cmd *exec.Cmd, mode string) map[string]map[string]string {
	t.Helper()
	parts := map[string]map[string]string{}
	for name, out := range runPodsWith(t, cmd, mode) {
		parts[name] = procStatus(out)
	}
	return parts
}

// runPodsWith runs cmd, which runs the test binary, as runStatusPods, and returns what
// each part printed.
func runPodsWith(t *testing.T, cmd *exec.Cmd, mode string) map[string]string {
	t.Helper()
	file := filepath.Join(sharedDir(t), "status")
	cmd.Env = append(os.Environ(), envStatusPods+"="+mode+":"+file)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(file)
	parts := map[string]string{}
	for _, part := range strings.Split(string(b), "== ")[1:] {
		name, out, _ := strings.Cut(part, "\n")
		parts[name] = out
	}
	return parts
}

// An executor whose threads have inheritable and ambient capabilities (here
// CAP_NET_ADMIN, which no container may have) passes none to its containers.
func TestInheritableCapabilitiesDoNotReachContainers(t *testing.T) {
	requireRoot(t)
	parts := runStatusPodsAs(t, os.Args[0], "caps", &syscall.SysProcAttr{AmbientCaps: []uintptr{12}}) // CAP_NET_ADMIN
	if ex := parts["executor"]; ex["CapInh"] != "0000000000001000" || ex["CapAmb"] != "0000000000001000" {
		t.Fatalf("the executor has inheritable %s and ambient %s: this test no longer shows anything", ex["CapInh"], ex["CapAmb"])
	}
	for who, eff := range map[string]string{"nobody": "0000000000000000", "root": "00000000a80425fb"} {
		st := parts[who]
		if st["CapInh"] != "0000000000000000" || st["CapAmb"] != "0000000000000000" || st["CapEff"] != eff || st["CapPrm"] != eff {
			t.Errorf("%s: inheritable %s, ambient %s, permitted %s, effective %s; want none, none, %s, %s",
				who, st["CapInh"], st["CapAmb"], st["CapPrm"], st["CapEff"], eff, eff)
		}
	}
}

// An executor that is not root runs its containers as itself. It cannot limit their
// bounding set, so it sets no_new_privs instead: no setuid program gains anything; and
// it installs the RuntimeDefault filter under it.
func TestAnExecutorThatIsNotRootRunsContainersAsItself(t *testing.T) {
	requireRoot(t)
	parts := runStatusPodsAs(t, copyTestBinary(t), "self", &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000}})
	if ex := parts["executor"]; !strings.HasPrefix(ex["Uid"], "1000\t") || ex["CapBnd"] == "0000000000000000" {
		t.Fatalf("the executor runs as %s with bounding set %s: this test no longer shows anything", ex["Uid"], ex["CapBnd"])
	}
	for who, seccomp := range map[string]string{"plain": "0", "runtimedefault": "2"} {
		st := parts[who]
		if !strings.HasPrefix(st["Uid"], "1000\t") || !strings.HasPrefix(st["Gid"], "1000\t") || st["CapEff"] != "0000000000000000" ||
			st["NoNewPrivs"] != "1" || st["Seccomp"] != seccomp {
			t.Errorf("%s: uid %s gid %s, effective %s, no_new_privs %s, seccomp %s; want 1000, 1000, none, 1, %s",
				who, st["Uid"], st["Gid"], st["CapEff"], st["NoNewPrivs"], st["Seccomp"], seccomp)
		}
	}
}

// An executor that is root without CAP_SYS_ADMIN (in a container, say) may not install
// a seccomp filter without no_new_privs: it sets no_new_privs for the containers with
// RuntimeDefault, and only for them.
func TestRuntimeDefaultWithoutCapSysAdmin(t *testing.T) {
	requireRoot(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) is not installed")
	}
	parts := runStatusPodsWith(t, exec.Command(setpriv, "--bounding-set=-sys_admin", os.Args[0], "-test.run=^$"), "self")
	if ex := parts["executor"]; !strings.HasPrefix(ex["Uid"], "0\t") || capSet(ex["CapEff"])&(1<<21) != 0 {
		t.Fatalf("the executor runs as %s with %s: this test no longer shows anything", ex["Uid"], ex["CapEff"])
	}
	for who, want := range map[string][2]string{"plain": {"0", "0"}, "runtimedefault": {"1", "2"}} {
		if st := parts[who]; st["NoNewPrivs"] != want[0] || st["Seccomp"] != want[1] {
			t.Errorf("%s: no_new_privs %s, seccomp %s; want %s, %s", who, st["NoNewPrivs"], st["Seccomp"], want[0], want[1])
		}
	}
}

// An executor's open files and session keyring, which its parent may have left it (a
// Mesos agent that systemd runs has a session keyring of its own), reach no container,
// root or not: runc closes every file but the standard ones as it execs a container's
// process, and gives it a new session keyring. Nor does its umask: a container starts
// with the container runtimes' 022.
func TestContainersInheritNoFileNorKeyringOfTheExecutor(t *testing.T) {
	requireRoot(t)
	// This test's thread joins a new session keyring and forks the executor, which
	// inherits it; the thread ends with the test (it is never unlocked), and the
	// keyring with it.
	runtime.LockOSThread()
	if _, _, e := syscall.RawSyscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0); e != 0 {
		t.Skipf("the kernel gives no session keyring: %v", e)
	}
	if _, err := unix.AddKey("user", inheritedKey, []byte("s3cret"), unix.KEY_SPEC_SESSION_KEYRING); err != nil {
		t.Fatal(err)
	}
	leaked, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = leaked.Close() }()
	// Which the containers run too; the executor gets a umask of 077, as an agent may
	// leave it.
	cmd := exec.Command("/bin/sh", "-c", `umask 077; exec "$0" -test.run='^$'`, copyTestBinary(t))
	cmd.ExtraFiles = make([]*os.File, inheritedFD-2)
	cmd.ExtraFiles[inheritedFD-3] = leaked // not closed on exec in the executor
	parts := runPodsWith(t, cmd, "inherited")
	for _, tc := range []struct{ what, sign string }{
		{"the executor's session keyring", "key=found"},
		{"the executor's open file", fmt.Sprintf("fd%d=open", inheritedFD)},
	} {
		if !strings.Contains(parts["executor-inherited"], tc.sign) {
			t.Fatalf("the executor has not %s: this test no longer shows anything:\n%s", tc.what, parts["executor-inherited"])
		}
		for _, who := range []string{"nobody", "root"} {
			if out, ok := parts[who]; !ok || strings.Contains(out, tc.sign) {
				t.Errorf("%s: the container has %s (ran: %t): %q", who, tc.what, ok, out)
			}
		}
	}
	if !strings.Contains(parts["executor-inherited"], "umask=0077") {
		t.Fatalf("the executor's umask is not 077: this test no longer shows anything:\n%s", parts["executor-inherited"])
	}
	for _, who := range []string{"nobody", "root"} {
		if out := parts[who]; !strings.Contains(out, "umask=0022") {
			t.Errorf("%s: the container's umask is not the container runtimes' 022: %q", who, out)
		}
	}
}

func capSet(hex string) uint64 {
	v, err := strconv.ParseUint(hex, 16, 64)
	if err != nil {
		return ^uint64(0)
	}
	return v
}

// Where the kernel has no close_range (before 5.11), the helper marks each open file
// but the standard ones to be closed at exec, one by one.
func TestCloseOnExecEachMarksEveryFileButTheStandardOnes(t *testing.T) {
	fd, err := syscall.Open(os.DevNull, syscall.O_RDONLY, 0) // without O_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Close(fd) }()
	stdin, err := unix.FcntlInt(0, unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := closeOnExecEach(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		fd   int
		want int
	}{{"an inherited file", fd, unix.FD_CLOEXEC}, {"stdin", 0, stdin}} {
		if got, err := unix.FcntlInt(uintptr(tc.fd), unix.F_GETFD, 0); err != nil || got != tc.want {
			t.Errorf("%s: flags %#x (%v), want %#x", tc.name, got, err, tc.want)
		}
	}
}
