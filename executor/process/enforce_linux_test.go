//go:build linux

package process

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/executor"
)

// waitingFor waits until the pod's first container waits with reason, and returns the
// message.
func waitingFor(t *testing.T, rec *recorder, reason string) string {
	t.Helper()
	rep := rec.until(t, "the container waits with "+reason, func(r executor.Report) bool {
		cs := r.Status.ContainerStatuses
		return len(cs) > 0 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == reason
	})
	return rep.Status.ContainerStatuses[0].State.Waiting.Message
}

// A container that cannot start as its securityContext says waits with
// CreateContainerConfigError and the reason, as with the kubelet, and never runs.
func TestContainersThatCannotStartAsAskedWait(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name       string
		rt         *Runtime
		annotation string
		pod        *corev1.PodSecurityContext
		ctr        *corev1.SecurityContext
		want       string
	}{
		{"runAsNonRoot and runAsUser 0", &Runtime{}, "", nil, &corev1.SecurityContext{RunAsNonRoot: boolp(true), RunAsUser: i64(0)},
			`spec.containers[0].securityContext.runAsUser: container's runAsUser breaks non-root policy (pod: "ns/p", container: c)`},
		{"runAsNonRoot and a root default user", &Runtime{}, "0:0", &corev1.PodSecurityContext{RunAsNonRoot: boolp(true)}, nil,
			`spec.securityContext.runAsNonRoot: container has runAsNonRoot and would run as root`},
		{"an executor that is not root, asked for another user", &Runtime{self: &identity{UID: 1000, GID: 1000}}, "", nil,
			&corev1.SecurityContext{RunAsUser: i64(nobody)},
			"spec.containers[0].securityContext.runAsUser: the executor runs as uid 1000 and cannot run a container as uid 65534"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ran := filepath.Join(sharedDir(t), "ran")
			p := scPod(tc.annotation, tc.pod, tc.ctr)
			p.Spec.Containers[0].Command = []string{"touch", ran}
			h, rec, _ := startWith(t, tc.rt, p)
			if msg := waitingFor(t, rec, "CreateContainerConfigError"); !strings.Contains(msg, tc.want) {
				t.Fatalf("message %q, want %q", msg, tc.want)
			}
			h.Kill(0)
			if rep := rec.until(t, "the pod ended", ended); !rep.Killed {
				t.Fatalf("%+v", rep)
			}
			if _, err := os.Stat(ran); err == nil {
				t.Fatal("the container ran")
			}
		})
	}
}

// A container that is not root writes in its working directory and its emptyDir
// volumes, not in its log files nor next to them.
func TestANonRootContainerWritesItsDirectoriesButNotItsLogs(t *testing.T) {
	requireRoot(t)
	script := `echo a > f && echo cwd
echo b > ../../../volumes/data/f && echo volume
(echo c >> ../stdout) 2>/dev/null && echo wrote-stdout
(echo c >> ../stderr) 2>/dev/null && echo wrote-stderr
(echo c > ../x) 2>/dev/null && echo wrote-beside-logs
true`
	for _, tc := range []struct {
		name    string
		pod     *corev1.PodSecurityContext
		mode    os.FileMode
		group   uint32
		fileGID uint32 // of the file the container made in the volume
		umask   int    // the executor's, as its agent may leave it
	}{
		{"nobody, no fsGroup: a volume every user may write", nil, os.ModeDir | 0o777, 0, nobody, 0o022},
		{"fsGroup: a volume of that group, setgid", &corev1.PodSecurityContext{RunAsUser: i64(1234), RunAsGroup: i64(1234), FSGroup: i64(4242)},
			os.ModeDir | os.ModeSetgid | 0o775, 4242, 4242, 0o022},
		{"nobody, the executor's umask 077", nil, os.ModeDir | 0o777, 0, nobody, 0o077},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := syscall.Umask(tc.umask)
			t.Cleanup(func() { syscall.Umask(old) })
			p := scPod("", tc.pod, nil)
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			p.Spec.Containers[0].Command = []string{"sh", "-c", script}
			_, rec, dir := startWith(t, &Runtime{}, p)
			rec.until(t, "the pod ended", ended)
			out := output(dir, "c", corev1.LogStreamStdout)
			if out != "cwd\nvolume\n" {
				t.Fatalf("the container says %q, want cwd and volume only", out)
			}
			vol, err := os.Stat(filepath.Join(dir, "volumes", "data"))
			if err != nil || vol.Mode() != tc.mode || vol.Sys().(*syscall.Stat_t).Gid != tc.group {
				t.Fatalf("volume %v %v, want mode %v group %d", vol.Mode(), err, tc.mode, tc.group)
			}
			f, err := os.Stat(filepath.Join(dir, "volumes", "data", "f"))
			if err != nil || f.Sys().(*syscall.Stat_t).Gid != tc.fileGID {
				t.Fatalf("the container's file in the volume: %v %+v, want group %d", err, f, tc.fileGID)
			}
		})
	}
}

// A pod's directory in the sandbox is closed to the users of other pods: from its rootfs
// a container reaches every pod's directory by `..`, and pods that run as other users
// must not read or write each other's rootfs and volumes. The users of one pod pass.
func TestPodsOfOtherUsersCannotReachEachOthersDirectories(t *testing.T) {
	requireRoot(t)
	pods := t.TempDir() // as the executor's sandbox/pods: every user may pass
	if err := os.Chmod(pods, 0o755); err != nil {
		t.Fatal(err)
	}
	rt := &Runtime{}
	vol := []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}

	b := scPod("", &corev1.PodSecurityContext{RunAsUser: i64(2000)}, nil)
	b.Name, b.UID, b.Spec.Volumes = "b", testUID+"-b", vol
	b.Spec.Containers = []corev1.Container{
		{Name: "writer", Command: []string{"sh", "-c", "echo secret > ../../../volumes/data/f && echo secret > mine && exec sleep 300"}},
		{Name: "reader", Command: []string{"sh", "-c", "until cat ../../../volumes/data/f; do sleep 0.1; done; exec sleep 300"},
			SecurityContext: &corev1.SecurityContext{RunAsUser: i64(2001)}},
	}
	bDir := filepath.Join(pods, "b")
	startIn(t, rt, b, bDir)
	eventually(t, "the other user of pod b reads its volume", func() bool { return output(bDir, "reader", corev1.LogStreamStdout) == "secret\n" })

	a := scPod("", &corev1.PodSecurityContext{RunAsUser: i64(3000)}, nil)
	a.Name, a.UID = "a", testUID+"-a"
	a.Spec.RestartPolicy = corev1.RestartPolicyNever
	a.Spec.Containers[0].Command = []string{"sh", "-c", `cat ../../../../b/volumes/data/f ../../../../b/containers/writer/rootfs/mine
echo intruder > ../../../../b/volumes/data/g
ls ../../../../b
echo done`}
	aDir := filepath.Join(pods, "a")
	_, rec := startIn(t, rt, a, aDir)
	rec.until(t, "pod a ended", ended)
	if out := output(aDir, "c", corev1.LogStreamStdout); out != "done\n" {
		t.Errorf("pod a, another user, read or listed pod b's directory: %q", out)
	}
	if _, err := os.Stat(filepath.Join(bDir, "volumes", "data", "g")); err == nil {
		t.Errorf("pod a, another user, wrote into pod b's volume")
	}
	if errs := output(aDir, "c", corev1.LogStreamStderr); strings.Count(errs, "Permission denied") != 4 {
		t.Errorf("pod a's errors: %q, want 4 refusals", errs)
	}
}

// Exec probes run as their container, held to the same settings.
func TestExecProbesRunAsTheirContainer(t *testing.T) {
	requireRoot(t)
	p := scPod("", &corev1.PodSecurityContext{RunAsUser: i64(4321)}, &corev1.SecurityContext{AllowPrivilegeEscalation: boolp(false),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}})
	p.Spec.RestartPolicy = corev1.RestartPolicyAlways
	p.Spec.Containers[0].Command = []string{"sh", "-c", "echo ok > ready; exec sleep 300"}
	p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: 1, FailureThreshold: 1, ProbeHandler: corev1.ProbeHandler{
		Exec: &corev1.ExecAction{Command: []string{"sh", "-c", `test "$(id -u)" = 4321 && cat ready &&
grep -q "^NoNewPrivs:[[:space:]]*1$" /proc/self/status && grep -q "^Seccomp:[[:space:]]*2$" /proc/self/status`}}}}
	_, rec, _ := startWith(t, &Runtime{}, p)
	rec.until(t, "ready", func(r executor.Report) bool {
		return len(r.Status.ContainerStatuses) == 1 && r.Status.ContainerStatuses[0].Ready
	})
}

// What keeps the helper from exec'ing the command is the container's StartError, with
// the reason.
func TestTheHelpersFailureIsTheStartError(t *testing.T) {
	requireRoot(t)
	private := t.TempDir() // root's, 0700
	file := filepath.Join(sharedDir(t), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		command    []string
		workingDir string
		want       string
	}{
		{"no such command", []string{"k8sm-no-such-command"}, "", `exec: "k8sm-no-such-command": executable file not found in $PATH`},
		{"a workingDir its user may not enter", []string{"true"}, private, "workingDir: stat " + private + ": permission denied"},
		{"a command its user may not run", []string{filepath.Join(private, "x")}, "", "permission denied"},
		{"a workingDir that is a file", []string{"true"}, file, "workingDir: " + file + " is not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := scPod("", nil, nil)
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			p.Spec.Containers[0].Command, p.Spec.Containers[0].WorkingDir = tc.command, tc.workingDir
			rep, _ := runToEnd(t, &Runtime{}, p)
			term := rep.Status.ContainerStatuses[0].State.Terminated
			if term == nil || term.Reason != "StartError" || term.ExitCode != 128 || !strings.Contains(term.Message, tc.want) {
				t.Fatalf("terminated %+v, want StartError with %q", term, tc.want)
			}
		})
	}
}

// A workingDir that is not on the host is made in the container's rootfs, by its user.
func TestAWorkingDirNotOnTheHostIsMadeInTheRootFS(t *testing.T) {
	requireRoot(t)
	p := scPod("", nil, nil)
	p.Spec.RestartPolicy = corev1.RestartPolicyNever
	p.Spec.Containers[0].Command = []string{"sh", "-c", "pwd; stat -c %u ."}
	p.Spec.Containers[0].WorkingDir = "/k8sm-no-such-dir/app"
	rep, out := runToEnd(t, &Runtime{}, p)
	if rep.Status.Phase != corev1.PodSucceeded || !strings.HasSuffix(out, "/containers/c/rootfs/k8sm-no-such-dir/app\n65534\n") {
		t.Fatalf("phase %s, the container says %q", rep.Status.Phase, out)
	}
}

// A container's log is the executor's alone: a container that runs in the executor's
// group (root's, where a cluster allows pods to ask for it) neither lists nor reads it,
// and neither would another pod's, even under a umask that takes nothing away.
func TestAContainerInTheExecutorsGroupReadsNoLog(t *testing.T) {
	requireRoot(t)
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	p := scPod("", &corev1.PodSecurityContext{RunAsUser: i64(1234), RunAsGroup: i64(int64(os.Getegid()))}, nil)
	p.Spec.RestartPolicy = corev1.RestartPolicyNever
	p.Spec.Containers[0].Command = []string{"sh", "-c", `echo started
ls ../logs >/dev/null 2>&1 && echo listed
cat ../logs/0.log >/dev/null 2>&1 && echo read
true`}
	_, rec, dir := startWith(t, &Runtime{}, p)
	rec.until(t, "the pod ended", ended)
	if out := output(dir, "c", corev1.LogStreamStdout); out != "started\n" {
		t.Errorf("the container says %q, want it neither listed nor read its log", out)
	}
	for _, f := range []string{logDir(dir, "c"), filepath.Join(logDir(dir, "c"), "0.log")} {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: %v, %v: want no access for its group and others", f, st.Mode(), err)
		}
	}
}
