package podlogs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// ErrNotFound is returned for an instance without logs: one that has not started, or
// the previous one of a container that has not restarted.
var ErrNotFound = errors.New("container log not found")

// pollInterval is how often a reader following a log looks for more.
var pollInterval = 200 * time.Millisecond

// Source is the log of a container, as its runtime knows it.
type Source struct {
	// Dir holds the container's log files.
	Dir string
	// Restart is the container's restart count, as its status reports it: the
	// instance read (the one before it with Previous). If that instance has not started
	// (the container waits to restart), the one before it is read either way.
	Restart int
	// Ended is closed once that instance has ended and its streams are closed: a read
	// that follows it then writes what is left and returns. nil while it runs.
	Ended <-chan struct{}
}

// Read writes the log of src to w as the kubelet answers /containerLogs with opts:
// Timestamps, SinceSeconds/SinceTime, TailLines, LimitBytes, Follow, Previous and
// Stream. Following returns when ctx ends (with its error) or when the instance has
// ended and all it wrote has been read. opts is assumed valid (kubeletapi validates
// it as the kubelet does).
func Read(ctx context.Context, src Source, opts *corev1.PodLogOptions, w io.Writer) error {
	if opts == nil {
		opts = &corev1.PodLogOptions{}
	}
	s, err := newSink(opts, w, time.Now())
	if err != nil {
		return err
	}
	in, ended, err := openSource(src, opts.Previous)
	if err != nil {
		return err
	}
	defer in.close()
	var start position
	if opts.TailLines != nil && *opts.TailLines >= 0 {
		if start, s.skip, err = tailStart(in, *opts.TailLines, s.want); err != nil {
			return err
		}
	}
	r := &reader{in: in, sink: s, follow: opts.Follow}
	if err := r.seek(start); err != nil {
		return err
	}
	err = r.run(ctx, ended)
	if errors.Is(err, errLimit) {
		return nil
	}
	return err
}

// openSource opens the instance a read is about, as the kubelet picks the container
// whose log it reads: the current instance, or, with previous, the one before it (the
// container status's lastState). An instance not started yet (the container waits to
// restart, CrashLoopBackOff) has no log: the kubelet then reads lastState, the last
// instance, for both.
func openSource(src Source, previous bool) (*instance, <-chan struct{}, error) {
	restart, ended := src.Restart, src.Ended
	if previous {
		restart, ended = restart-1, closedChan
	}
	if restart < 0 {
		return nil, nil, fmt.Errorf("%w: no instance before the first", ErrNotFound)
	}
	in, err := openInstance(src.Dir, restart)
	if errors.Is(err, ErrNotFound) && !previous && restart > 0 {
		last, lastErr := openInstance(src.Dir, restart-1)
		if !errors.Is(lastErr, ErrNotFound) {
			return last, closedChan, lastErr
		}
	}
	return in, ended, err
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// newSink applies opts as the kubelet does: since is the later of SinceTime and now
// minus SinceSeconds.
func newSink(opts *corev1.PodLogOptions, w io.Writer, now time.Time) (*sink, error) {
	s := &sink{w: w, timestamps: opts.Timestamps, remain: -1}
	if opts.SinceSeconds != nil {
		s.since = now.Add(-time.Duration(*opts.SinceSeconds) * time.Second)
	}
	if opts.SinceTime != nil && opts.SinceTime.After(s.since) {
		s.since = opts.SinceTime.Time
	}
	if opts.LimitBytes != nil {
		if *opts.LimitBytes <= 0 {
			return s, nil // kubeletapi refuses it; read nothing rather than everything
		}
		s.remain = *opts.LimitBytes
	}
	switch {
	case opts.Stream == nil || *opts.Stream == corev1.LogStreamAll:
		s.want = [2]bool{true, true}
	case *opts.Stream == corev1.LogStreamStdout:
		s.want[0] = true
	case *opts.Stream == corev1.LogStreamStderr:
		s.want[1] = true
	default:
		return nil, fmt.Errorf("invalid stream type %q", *opts.Stream)
	}
	return s, nil
}

// reader reads an instance's files forward, from a position, into the sink.
type reader struct {
	in     *instance
	sink   *sink
	follow bool

	seg   int
	off   int64
	br    *bufio.Reader
	carry []byte
}

func (r *reader) seek(p position) error {
	r.seg, r.off = p.seg, p.off
	s := r.in.segs[r.seg]
	if _, err := s.f.Seek(p.off, io.SeekStart); err != nil {
		return err
	}
	var src io.Reader = s.f
	if !r.follow {
		// Without Follow the log is read as it was when it was opened.
		src = io.LimitReader(s.f, s.end-p.off)
	}
	if r.br == nil {
		r.br = bufio.NewReaderSize(src, 64<<10)
	} else {
		r.br.Reset(src)
	}
	r.carry = r.carry[:0]
	return nil
}

// run reads to the end; following, it waits for more until the instance has ended.
func (r *reader) run(ctx context.Context, ended <-chan struct{}) error {
	for {
		done := !r.follow || isClosed(ended)
		if err := r.drain(); err != nil {
			return err
		}
		if r.follow {
			// The file ends: a rotation, if the current file is another one now.
			more, err := r.in.rotated()
			if err != nil {
				return err
			}
			if more {
				continue
			}
		}
		if done {
			return r.sink.finish()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ended:
		case <-time.After(pollInterval):
		}
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// drain reads the records there are, moving on through the files opened.
func (r *reader) drain() error {
	for {
		line, err := r.next()
		if errors.Is(err, io.EOF) {
			if r.seg == len(r.in.segs)-1 {
				return nil
			}
			// A rotated file is whole: a piece of a record at its end will not be.
			if err := r.in.segs[r.seg].f.Close(); err != nil {
				return err
			}
			r.in.segs[r.seg].f = nil
			if err := r.seek(position{r.seg + 1, 0}); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		rec, err := parseRecord(line[:len(line)-1])
		if err != nil {
			continue // As the kubelet, skip what is not a record.
		}
		if err := r.sink.record(rec); err != nil {
			return err
		}
	}
}

// next returns the next whole record line, newline included. At the end of the file a
// piece of a record is kept, to be completed by what is written next.
func (r *reader) next() ([]byte, error) {
	if len(r.carry) > 0 && r.carry[len(r.carry)-1] == '\n' {
		r.carry = r.carry[:0]
	}
	for {
		chunk, err := r.br.ReadSlice('\n')
		r.carry = append(r.carry, chunk...)
		switch {
		case err == nil:
			return r.carry, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, err
		}
	}
}
