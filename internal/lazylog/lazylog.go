// Package lazylog defers a logger's WithValues until a line is written.
//
// controller-runtime gives every reconcile a logger with the controller, the object and
// a reconcile id (WithValues), and zap encodes those values at once, into a buffer of
// its own: most reconciles log nothing, and that encoding was a tenth of the manager's
// allocations in a burst of pods. A logger from Wrap keeps the values and hands them to
// the sink with the line instead, so the output is the same.
package lazylog

import "github.com/go-logr/logr"

// Wrap returns l with WithValues deferred to the lines it writes.
func Wrap(l logr.Logger) logr.Logger {
	s := l.GetSink()
	if s == nil {
		return l
	}
	if _, ok := s.(*sink); ok {
		return l
	}
	// The sink's Info and Error are one frame more between the caller and the
	// underlying sink, which reports the caller's file and line.
	if cd, ok := s.(logr.CallDepthLogSink); ok {
		s = cd.WithCallDepth(1)
	}
	return logr.New(&sink{under: s})
}

// sink holds the values of WithValues for the lines of its underlying sink.
type sink struct {
	under  logr.LogSink
	values []any
}

var (
	_ logr.LogSink          = &sink{}
	_ logr.CallDepthLogSink = &sink{}
)

// Init does nothing: the underlying sink was set up when its own logger was made.
func (s *sink) Init(logr.RuntimeInfo) {}

func (s *sink) Enabled(level int) bool { return s.under.Enabled(level) }

func (s *sink) Info(level int, msg string, keysAndValues ...any) {
	s.under.Info(level, msg, s.with(keysAndValues)...)
}

func (s *sink) Error(err error, msg string, keysAndValues ...any) {
	s.under.Error(err, msg, s.with(keysAndValues)...)
}

// with is the held values, then a line's own: the order WithValues would give them.
func (s *sink) with(keysAndValues []any) []any {
	if len(s.values) == 0 {
		return keysAndValues
	}
	all := make([]any, 0, len(s.values)+len(keysAndValues))
	return append(append(all, s.values...), keysAndValues...)
}

func (s *sink) WithValues(keysAndValues ...any) logr.LogSink {
	values := make([]any, 0, len(s.values)+len(keysAndValues))
	values = append(append(values, s.values...), keysAndValues...)
	return &sink{under: s.under, values: values}
}

func (s *sink) WithName(name string) logr.LogSink {
	return &sink{under: s.under.WithName(name), values: s.values}
}

func (s *sink) WithCallDepth(depth int) logr.LogSink {
	under, ok := s.under.(logr.CallDepthLogSink)
	if !ok {
		return s
	}
	return &sink{under: under.WithCallDepth(depth), values: s.values}
}
