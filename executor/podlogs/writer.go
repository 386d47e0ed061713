package podlogs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Defaults of Options, the kubelet's and containerd's.
const (
	// DefaultMaxSize is the kubelet's containerLogMaxSize.
	DefaultMaxSize = 10 << 20
	// DefaultMaxFiles is the kubelet's containerLogMaxFiles.
	DefaultMaxFiles = 5
	// DefaultMaxLine is containerd's max_container_log_line_size: a longer line is
	// written as partial (P) records of this many bytes, then a full (F) one.
	DefaultMaxLine = 16 << 10
)

// The modes of the logs' directories and files: the executor's alone. A log holds
// whatever its container printed, which only users with the pods/log permission may
// read (through the kubelet API): not the agent's other users, nor the executor's
// group (root's, where it runs as root, which a pod may be allowed to run as). The
// executor is the one reader, as the user that wrote them.
const (
	dirMode  = 0o700
	fileMode = 0o600
)

// MakeDir makes a log directory, or a directory that holds them, or gives one an
// earlier executor made its mode (the executor's alone): the directory guards the
// files, those written with looser modes before included. The directories it makes on
// the way get that mode too.
func MakeDir(dir string) error {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return err
	}
	return os.Chmod(dir, dirMode)
}

// Options bound a container's log.
type Options struct {
	// MaxSize is the size a log file does not grow past: a record that would take it
	// past is written to a new file, the old one being rotated. 0 means DefaultMaxSize;
	// negative turns rotation off, as the kubelet's containerLogMaxSize does.
	MaxSize int64
	// MaxFiles is how many files an instance keeps, the current one included; the
	// oldest rotated ones are removed. 0 means DefaultMaxFiles; the kubelet requires
	// more than 1.
	MaxFiles int
	// MaxLine is the content of the longest record; 0 means DefaultMaxLine.
	MaxLine int
	// Clock stamps the records; nil means time.Now.
	Clock func() time.Time
	// Log reports what a write cannot return, such as a failed rotation (the output is
	// still written, to the file it would have left).
	Log logr.Logger
}

// Log is the log of one container instance. Its streams may be written concurrently.
type Log struct {
	dir     string
	restart int
	opts    Options

	mu   sync.Mutex
	f    *os.File
	size int64
	buf  []byte

	stdout, stderr *streamWriter
}

// Open starts (or, for an executor that recovers a running container, continues) the
// log of instance restart in dir, and removes the instances before the previous one.
func Open(dir string, restart int, opts Options) (*Log, error) {
	if opts.MaxSize == 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.MaxFiles == 0 {
		opts.MaxFiles = DefaultMaxFiles
	}
	if opts.MaxLine == 0 {
		opts.MaxLine = DefaultMaxLine
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	switch {
	case restart < 0:
		return nil, fmt.Errorf("invalid restart count %d", restart)
	case opts.MaxFiles < 2:
		return nil, fmt.Errorf("invalid MaxFiles %d, must be > 1", opts.MaxFiles)
	case opts.MaxLine < 1 || (opts.MaxSize > 0 && int64(opts.MaxLine+recordOverhead) > opts.MaxSize):
		// A record (content, timestamp, stream and tag) must fit in a file.
		return nil, fmt.Errorf("invalid MaxLine %d for MaxSize %d", opts.MaxLine, opts.MaxSize)
	}
	if err := MakeDir(dir); err != nil {
		return nil, err
	}
	if err := removeOldInstances(dir, restart); err != nil {
		opts.Log.Error(err, "Cannot remove the logs of old container instances", "dir", dir)
	}
	f, err := os.OpenFile(currentPath(dir, restart), os.O_CREATE|os.O_WRONLY|os.O_APPEND, fileMode)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	l := &Log{dir: dir, restart: restart, opts: opts, f: f, size: st.Size()}
	l.stdout, l.stderr = newStreamWriter(l, Stdout), newStreamWriter(l, Stderr)
	return l, nil
}

// Stream returns the writer of stream name (Stdout or Stderr). Closing it writes the
// line it holds, unfinished, as a partial record, as containerd does when the
// container's stream ends.
func (l *Log) Stream(name string) io.WriteCloser {
	switch name {
	case Stdout:
		return l.stdout
	case Stderr:
		return l.stderr
	}
	return badStream(name)
}

// Close closes both streams and the file.
func (l *Log) Close() error {
	err := errors.Join(l.stdout.Close(), l.stderr.Close())
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return err
	}
	err = errors.Join(err, l.f.Close())
	l.f = nil
	return err
}

// writeRecord writes one record, whole: the streams share the file, and a reader must
// never see a record of one inside a record of the other.
func (l *Log) writeRecord(stream string, partial bool, content []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return os.ErrClosed
	}
	l.buf = appendRecord(l.buf[:0], l.opts.Clock(), stream, partial, content)
	if l.opts.MaxSize > 0 && l.size > 0 && l.size+int64(len(l.buf)) > l.opts.MaxSize {
		if err := l.rotate(); err != nil {
			l.opts.Log.Error(err, "Cannot rotate a container log", "dir", l.dir, "restart", l.restart)
		}
	}
	n, err := l.f.Write(l.buf)
	l.size += int64(n)
	return err
}

// rotate renames the current file <n>.log.<timestamp>, starts a new one, and removes
// the oldest rotated files past MaxFiles. A reader following the log holds the renamed
// file open and finishes it before it moves on.
func (l *Log) rotate() error {
	current := currentPath(l.dir, l.restart)
	rotated, err := rotatedPath(l.dir, l.restart, l.opts.Clock())
	if err != nil {
		return err
	}
	if err := os.Rename(current, rotated); err != nil {
		return err
	}
	f, err := os.OpenFile(current, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, fileMode)
	if err != nil {
		// Keep writing where it was, under its name.
		return errors.Join(err, os.Rename(rotated, current))
	}
	old := l.f
	l.f, l.size = f, 0
	if err := old.Close(); err != nil {
		l.opts.Log.Error(err, "Cannot close a rotated container log", "file", rotated)
	}
	return l.removeExcess()
}

// removeExcess removes the oldest rotated files, keeping MaxFiles in all.
func (l *Log) removeExcess() error {
	rotated, err := rotatedPaths(l.dir, l.restart)
	if err != nil {
		return err
	}
	var errs []error
	for i := 0; i < len(rotated)-(l.opts.MaxFiles-1); i++ {
		errs = append(errs, os.Remove(rotated[i]))
	}
	return errors.Join(errs...)
}

// streamWriter cuts a stream's output into records: a line per record, a line longer
// than MaxLine in pieces. An unfinished line waits for its end (or for MaxLine bytes,
// or Close), as containerd waits for it.
type streamWriter struct {
	l    *Log
	name string
	// records writes the stream's records to l.
	records recordSink

	mu      sync.Mutex
	pending []byte
	line    []byte
	closed  bool
}

func newStreamWriter(l *Log, name string) *streamWriter {
	return &streamWriter{l: l, name: name, records: func(partial bool, content []byte) error {
		return l.writeRecord(name, partial, content)
	}}
}

func (s *streamWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, os.ErrClosed
	}
	for rest := p; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			s.pending = append(s.pending, rest...)
			break
		}
		s.line = append(append(s.line[:0], s.pending...), rest[:i]...)
		s.pending, rest = s.pending[:0], rest[i+1:]
		if err := s.writeLine(s.line, false); err != nil {
			return 0, err
		}
	}
	// What is pending is part of a line longer than MaxLine once it has more: write
	// that much as a piece now.
	var err error
	if s.pending, err = s.records.writePieces(s.pending, s.l.opts.MaxLine); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeLine writes line in records of at most MaxLine bytes, partial but the last one.
// unfinished marks a line the stream ended in: its last record is partial too.
func (s *streamWriter) writeLine(line []byte, unfinished bool) error {
	return s.records.writeLine(line, s.l.opts.MaxLine, unfinished)
}

// Close writes the unfinished line, if any.
func (s *streamWriter) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if len(s.pending) == 0 {
		return nil
	}
	err := s.writeLine(s.pending, true)
	s.pending = nil
	return err
}

// badStream is the writer of a stream that is neither stdout nor stderr.
type badStream string

func (b badStream) Write([]byte) (int, error) {
	return 0, fmt.Errorf("podlogs: unknown stream %q", string(b))
}

func (badStream) Close() error { return nil }
