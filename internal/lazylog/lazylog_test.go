package lazylog

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	uberzap "go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// logThrough writes the same lines through l, from the same source lines whichever
// logger it is given, so that their callers match too.
func logThrough(l logr.Logger) {
	l = l.WithName("controller").WithValues("controller", "pod", "namespace", "ns")
	l = l.WithValues("name", "p1").WithName("reconcile")
	l.Info("Reconciling", "phase", "Running")
	l.V(1).Info("Detail", "n", 2)
	l.V(2).Info("Hidden")
	l.Error(errors.New("boom"), "Failed", "attempt", 3)
	l.WithValues("reconcileID", "r-1").WithCallDepth(0).Info("With an id")
	sibling := l.WithValues("other", true)
	l.Info("Not the sibling's values")
	sibling.Info("The sibling's")
}

func capture() (logr.Logger, *[]string) {
	var lines []string
	l := funcr.New(func(prefix, args string) { lines = append(lines, prefix+" "+args) },
		funcr.Options{LogCaller: funcr.All, Verbosity: 1})
	return l, &lines
}

// A wrapped logger writes exactly what the logger it wraps writes, callers included.
func TestSameOutput(t *testing.T) {
	direct, want := capture()
	logThrough(direct)
	under, got := capture()
	logThrough(Wrap(under))
	if !slices.Equal(*got, *want) {
		t.Fatalf("wrapped logger wrote\n%q\nthe logger itself\n%q", *got, *want)
	}
	if len(*want) != 6 {
		t.Fatalf("wrote %d lines, want 6", len(*want))
	}
}

// counting is a sink that counts its WithValues calls and keeps its lines' values.
type counting struct {
	withValues *int
	values     []any
	lines      *[][]any
}

func (c counting) Init(logr.RuntimeInfo)  {}
func (c counting) Enabled(level int) bool { return level == 0 }
func (c counting) Info(_ int, _ string, kv ...any) {
	*c.lines = append(*c.lines, append(slices.Clone(c.values), kv...))
}
func (c counting) Error(_ error, _ string, kv ...any) { c.Info(0, "", kv...) }
func (c counting) WithValues(kv ...any) logr.LogSink {
	*c.withValues++
	c.values = append(slices.Clone(c.values), kv...)
	return c
}
func (c counting) WithName(string) logr.LogSink { return c }

// WithValues costs the sink nothing until a line is written, and then the line carries
// the values.
func TestDeferred(t *testing.T) {
	calls, lines := 0, [][]any{}
	l := Wrap(logr.New(counting{withValues: &calls, lines: &lines}))
	l = l.WithValues("a", 1).WithValues("b", 2)
	l.V(1).Info("Not written")
	if calls != 0 || len(lines) != 0 {
		t.Fatalf("the sink had %d WithValues calls and %d lines before any line was written", calls, len(lines))
	}
	l.Info("Written", "c", 3)
	if calls != 0 || len(lines) != 1 || !slices.Equal(lines[0], []any{"a", 1, "b", 2, "c", 3}) {
		t.Fatalf("got %d WithValues calls and lines %v; want none, and [[a 1 b 2 c 3]]", calls, lines)
	}
	if Wrap(l).GetSink() != l.GetSink() {
		t.Fatal("wrapping a wrapped logger again wraps it twice")
	}
	if Wrap(logr.Discard()).GetSink() != nil {
		t.Fatal("a discarding logger is wrapped")
	}
}

// The same through the manager's logger (controller-runtime's zap, callers on).
func TestSameOutputZap(t *testing.T) {
	zapLogger := func(w *bytes.Buffer) logr.Logger {
		enc := zapcore.NewJSONEncoder(zapcore.EncoderConfig{MessageKey: "msg", LevelKey: "level", NameKey: "logger",
			CallerKey: "caller", EncodeLevel: zapcore.LowercaseLevelEncoder, EncodeCaller: zapcore.ShortCallerEncoder})
		return zap.New(zap.WriteTo(w), zap.Encoder(enc), zap.Level(zapcore.Level(-1)), zap.RawZapOpts(uberzap.AddCaller()))
	}
	var want, got bytes.Buffer
	logThrough(zapLogger(&want))
	logThrough(Wrap(zapLogger(&got)))
	if got.String() != want.String() {
		t.Fatalf("wrapped logger wrote\n%s\nthe logger itself\n%s", got.String(), want.String())
	}
	if !strings.Contains(want.String(), `"caller":"lazylog/lazylog_test.go:`) {
		t.Fatalf("no caller in\n%s", want.String())
	}
}

// What a reconcile's logger costs when the reconcile logs nothing, as controller-runtime
// makes it: the object's namespace and name, then a reconcile id.
func BenchmarkReconcileLogger(b *testing.B) {
	base := zap.New(zap.WriteTo(io.Discard))
	for _, c := range []struct {
		name string
		l    logr.Logger
	}{{"zap", base}, {"wrapped", Wrap(base)}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l := c.l.WithValues("Pod", "ns/p1", "namespace", "ns", "name", "p1")
				l = l.WithValues("reconcileID", "4b1f0e9c-0000-4000-8000-000000000000")
				l.V(1).Info("Not written")
			}
		})
	}
}
