package process

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/k8sm/k8sm/executor"
	"github.com/k8sm/k8sm/executor/kubeletapi"
	"github.com/k8sm/k8sm/executor/podlogs"
)

// output is what a container's first instance wrote to stream (corev1.LogStreamStdout
// or LogStreamStderr), as its log has it so far.
func output(sandbox, container, stream string) string {
	var b bytes.Buffer
	_ = podlogs.Read(context.Background(), podlogs.Source{Dir: logDir(sandbox, container)}, &corev1.PodLogOptions{Stream: &stream}, &b)
	return b.String()
}

// readLog reads a container's log through the Provider, as /containerLogs does.
func readLog(t *testing.T, rt *Runtime, ctx context.Context, container string, opts corev1.PodLogOptions) (string, error) {
	t.Helper()
	var b bytes.Buffer
	err := rt.ContainerLogs(ctx, "ns", "p", container, &opts, &b)
	return b.String(), err
}

func stdoutOnly() *string { s := corev1.LogStreamStdout; return &s }

// A container's output is written as CRI lines, one log per instance, and read back as
// the kubelet reads it: tail, since, timestamps, previous, follow.
func TestLogsAreCRILinesReadAsTheKubeletReadsThem(t *testing.T) {
	counter := filepath.Join(sharedDir(t), "n")
	p := shPod(corev1.RestartPolicyAlways, `n=$(cat `+counter+` 2>/dev/null || echo 0); echo $((n+1)) > `+counter+`
echo "one run$n"; echo "err run$n" >&2; echo "two run$n"
[ "$n" -ge 1 ] && exec sleep 300; exit 1`)
	rt := &Runtime{}
	_, rec, dir := startWith(t, rt, p)
	rec.until(t, "the container runs again", func(r executor.Report) bool {
		cs := r.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount == 1 && cs[0].State.Running != nil
	})
	raw, err := os.ReadFile(filepath.Join(dir, "containers", "c0", "logs", "0.log"))
	if err != nil {
		t.Fatal(err)
	}
	cri := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z (stdout F (one|two) run0|stderr F err run0)$`)
	if lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n"); len(lines) != 3 || !cri.MatchString(lines[0]) || !cri.MatchString(lines[1]) || !cri.MatchString(lines[2]) {
		t.Fatalf("the first instance's log file is %q, not 3 CRI lines", raw)
	}
	ctx := context.Background()
	eventually(t, "the second instance's output is in its log", func() bool {
		out, _ := readLog(t, rt, ctx, "c0", corev1.PodLogOptions{Stream: stdoutOnly()})
		return out == "one run1\ntwo run1\n"
	})
	for _, tc := range []struct {
		name string
		opts corev1.PodLogOptions
		want string
	}{
		{"previous", corev1.PodLogOptions{Previous: true, Stream: stdoutOnly()}, "one run0\ntwo run0\n"},
		{"stderr", corev1.PodLogOptions{Stream: ptr.To(corev1.LogStreamStderr)}, "err run1\n"},
		{"tail", corev1.PodLogOptions{TailLines: ptr.To[int64](1), Stream: stdoutOnly()}, "two run1\n"},
		{"since, later", corev1.PodLogOptions{SinceTime: &metav1.Time{Time: time.Now().Add(time.Hour)}}, ""},
	} {
		if out, err := readLog(t, rt, ctx, "c0", tc.opts); err != nil || out != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, out, err, tc.want)
		}
	}
	out, err := readLog(t, rt, ctx, "c0", corev1.PodLogOptions{Timestamps: true, Stream: stdoutOnly()})
	if stamped := regexp.MustCompile(`^(\S+Z (one|two) run1\n){2}$`); err != nil || !stamped.MatchString(out) {
		t.Errorf("with timestamps: %q, %v", out, err)
	}
	// Following the running instance waits for more until the client goes.
	fctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if out, err := readLog(t, rt, fctx, "c0", corev1.PodLogOptions{Follow: true, Stream: stdoutOnly()}); out != "one run1\ntwo run1\n" || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("following the running instance: %q, %v; want its lines, then the deadline", out, err)
	}
	if _, err := readLog(t, rt, ctx, "nope", corev1.PodLogOptions{}); statusCode(err) != 404 {
		t.Errorf("an unknown container: %v, want a 404", err)
	}
	if err := rt.ContainerLogs(ctx, "ns", "nope", "c0", &corev1.PodLogOptions{}, io.Discard); statusCode(err) != 404 {
		t.Errorf("an unknown pod: %v, want a 404", err)
	}
}

func statusCode(err error) int {
	var se *kubeletapi.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// Following an instance returns once it ended, with all it wrote; the pod is listed,
// ended, with its final status.
func TestFollowingALogEndsWithItsInstance(t *testing.T) {
	rt := &Runtime{}
	_, rec, _ := startWith(t, rt, shPod(corev1.RestartPolicyNever, `echo first; sleep 1; echo last`))
	rec.until(t, "the container runs", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if out, err := readLog(t, rt, ctx, "c0", corev1.PodLogOptions{Follow: true}); out != "first\nlast\n" || err != nil {
		t.Errorf("following: %q, %v; want both lines, then the end", out, err)
	}
	rec.until(t, "the pod ended", ended)
	if pods := rt.Pods(); len(pods) != 1 || pods[0].Name != "p" || pods[0].Status.Phase != corev1.PodSucceeded || len(pods[0].Spec.Containers) != 1 {
		t.Errorf("Pods() = %+v, want the ended pod, Succeeded", pods)
	}
}

// failingWriter is a log that cannot be written.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// A container that writes much more than a pipe holds is never blocked: not by a log
// that rotates, not by one that cannot be written.
func TestAChattyContainerIsNotBlocked(t *testing.T) {
	chatty := `pad=$(printf '%0200d' 0); i=0; while [ $i -lt 2000 ]; do echo "line $i $pad"; i=$((i+1)); done; echo done`
	t.Run("rotating", func(t *testing.T) {
		rt := &Runtime{registry: registry{logMaxSize: 64 << 10}}
		_, rec, dir := startWith(t, rt, shPod(corev1.RestartPolicyNever, chatty))
		if rep := rec.until(t, "the pod ended", ended); rep.Status.Phase != corev1.PodSucceeded {
			t.Fatalf("phase %s", rep.Status.Phase)
		}
		files, _ := os.ReadDir(logDir(dir, "c0"))
		if len(files) != podlogs.DefaultMaxFiles {
			t.Errorf("%d log files, want %d (rotated)", len(files), podlogs.DefaultMaxFiles)
		}
		if out, err := readLog(t, rt, context.Background(), "c0", corev1.PodLogOptions{TailLines: ptr.To[int64](1)}); out != "done\n" || err != nil {
			t.Errorf("the last line: %q, %v", out, err)
		}
	})
	t.Run("failing", func(t *testing.T) {
		rt := &Runtime{registry: registry{wrapLog: func(io.Writer) io.Writer { return failingWriter{} }}}
		_, rec, _ := startWith(t, rt, shPod(corev1.RestartPolicyNever, chatty))
		if rep := rec.until(t, "the pod ended", ended); rep.Status.Phase != corev1.PodSucceeded {
			t.Fatalf("phase %s", rep.Status.Phase)
		}
	})
}
