package process

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	utilexec "k8s.io/utils/exec"

	"github.com/k8sm/k8sm/executor"
	"github.com/k8sm/k8sm/executor/kubeletapi"
)

type closingBuffer struct{ bytes.Buffer }

func (*closingBuffer) Close() error { return nil }

// runningPod starts p and waits for its container c to run.
func runningPod(t *testing.T, rt *Runtime, p *corev1.Pod) *recorder {
	t.Helper()
	_, rec, _ := startWith(t, rt, p)
	rec.until(t, "the container runs", func(r executor.Report) bool {
		cs := r.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Running != nil
	})
	return rec
}

func execIn(t *testing.T, rt *Runtime, container string, stdin io.Reader, tty bool, cmd ...string) (string, string, error) {
	t.Helper()
	var out, errs closingBuffer
	var stderr io.WriteCloser = &errs
	if tty {
		stderr = nil
	}
	err := rt.Exec(context.Background(), "ns", "p", container, cmd, stdin, &out, stderr, tty, nil)
	return out.String(), errs.String(), err
}

// Exec runs as the container: its user, with its streams; exit codes reach the client.
func TestExecRunsAsTheContainer(t *testing.T) {
	requireRoot(t)
	rt := &Runtime{}
	p := scPod("", &corev1.PodSecurityContext{RunAsUser: i64(1234), RunAsGroup: i64(2345)}, nil)
	p.Spec.Containers[0].Command = []string{"sleep", "300"}
	p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "GREETING", Value: "hi"}}
	runningPod(t, rt, p)
	if out, _, err := execIn(t, rt, "c", nil, false, "sh", "-c", "id -u; id -g; echo $GREETING"); out != "1234\n2345\nhi\n" || err != nil {
		t.Errorf("id: %q, %v; want the container's uid, gid and env", out, err)
	}
	_, errs, err := execIn(t, rt, "c", nil, false, "sh", "-c", "echo oops >&2; exit 3")
	var exit utilexec.ExitError
	if !errors.As(err, &exit) || !exit.Exited() || exit.ExitStatus() != 3 || errs != "oops\n" {
		t.Errorf("exit 3: %v, stderr %q; want an ExitError with 3", err, errs)
	}
	if out, _, err := execIn(t, rt, "c", strings.NewReader("from stdin"), false, "cat"); out != "from stdin" || err != nil {
		t.Errorf("cat: %q, %v", out, err)
	}
	if out, _, err := execIn(t, rt, "c", nil, true, "sh", "-c", "test -t 0 && test -t 1 && echo terminal"); out != "terminal\r\n" || err != nil {
		t.Errorf("with a tty: %q, %v", out, err)
	}
	if _, _, err := execIn(t, rt, "nope", nil, false, "true"); statusCode(err) != 404 {
		t.Errorf("an unknown container: %v, want a 404", err)
	}
}

// A container that is not running takes no exec.
func TestExecNeedsARunningContainer(t *testing.T) {
	rt := &Runtime{}
	_, rec, _ := startWith(t, rt, shPod(corev1.RestartPolicyNever, "exit 0"))
	rec.until(t, "the pod ended", ended)
	req := kubeletapi.StreamRequest{Verb: kubeletapi.VerbExec, Namespace: "ns", Pod: "p", Container: "c0", Command: []string{"true"}}
	if err := rt.CheckStream(context.Background(), req); statusCode(err) != 400 {
		t.Errorf("CheckStream: %v, want a 400", err)
	}
	if _, _, err := execIn(t, rt, "c0", nil, false, "true"); statusCode(err) != 400 {
		t.Errorf("Exec: %v, want a 400", err)
	}
}

// The container's seccomp filter holds what exec runs too.
func TestExecIsHeldToTheContainersSeccompProfile(t *testing.T) {
	requireRoot(t)
	bin := copyTestBinary(t)
	rt := &Runtime{}
	p := scPod("", &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}, nil)
	p.Spec.Containers[0].Command = []string{"sleep", "300"}
	runningPod(t, rt, p)
	out, _, err := execIn(t, rt, "c", nil, false, "env", envSyscalls+"=1", bin)
	if err != nil || !strings.Contains(out, "keyctl=EPERM\n") || !strings.Contains(out, "unshare=EPERM\n") {
		t.Fatalf("the system calls ended:\n%s(%v), want them denied", out, err)
	}
}
