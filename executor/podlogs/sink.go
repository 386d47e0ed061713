package podlogs

import (
	"errors"
	"io"
	"time"
)

// maxJoin bounds the line a reader joins from partial records before it writes what it
// has: a stream that never ends its line must not make the reader hold all of it.
const maxJoin = 1 << 20

// errLimit ends a read that has written LimitBytes.
var errLimit = errors.New("limit reached")

// sink turns records into the lines a reader writes: it joins a stream's partial records
// into the line they are pieces of, and applies the options that select lines.
type sink struct {
	w          io.Writer
	timestamps bool
	since      time.Time
	// remain is what LimitBytes leaves to write; negative is unlimited.
	remain int64
	// skip is how many lines to drop first, what the tail scan found before the last
	// TailLines lines.
	skip int64
	// want says which streams are read: want[0] stdout, want[1] stderr.
	want [2]bool

	lines [2]joinedLine
	seq   int
	out   []byte
}

// joinedLine is the line a stream is in the middle of.
type joinedLine struct {
	active bool
	// started: the line has been written in part (it grew past maxJoin); drop: it was
	// not selected, and its rest is not either.
	started, drop bool
	time          time.Time
	seq           int
	buf           []byte
}

func streamIndex(stream string) int {
	if stream == Stderr {
		return 1
	}
	return 0
}

// record takes the next record of the log.
func (s *sink) record(r record) error {
	i := streamIndex(r.stream)
	if !s.want[i] {
		return nil
	}
	l := &s.lines[i]
	if !l.active {
		s.seq++
		*l = joinedLine{active: true, time: r.time, seq: s.seq, buf: l.buf[:0]}
	}
	l.buf = append(l.buf, r.content...)
	if r.partial {
		if len(l.buf) < maxJoin {
			return nil
		}
		err := s.write(l)
		l.buf = l.buf[:0]
		return err
	}
	l.buf = append(l.buf, '\n')
	l.active = false
	return s.write(l)
}

// finish writes the lines the log ends in the middle of, oldest first; the kubelet
// writes them too, without a newline.
func (s *sink) finish() error {
	first, second := &s.lines[0], &s.lines[1]
	if second.active && (!first.active || second.seq < first.seq) {
		first, second = second, first
	}
	for _, l := range []*joinedLine{first, second} {
		if !l.active {
			continue
		}
		l.active = false
		if err := s.write(l); err != nil {
			return err
		}
	}
	return nil
}

// write writes what l holds. The first piece of a line decides whether the line is
// written: the tail's skip, then the since time of its first record, which also prefixes
// it with Timestamps.
func (s *sink) write(l *joinedLine) error {
	first := !l.started
	if first {
		l.started = true
		if s.skip > 0 {
			s.skip--
			l.drop = true
		} else {
			l.drop = l.time.Before(s.since)
		}
	}
	if l.drop {
		return nil
	}
	s.out = s.out[:0]
	if s.timestamps && first {
		s.out = append(l.time.AppendFormat(s.out, timeFormat), ' ')
	}
	s.out = append(s.out, l.buf...)
	if s.remain >= 0 && int64(len(s.out)) > s.remain {
		s.out = s.out[:s.remain]
	}
	n, err := s.w.Write(s.out)
	if s.remain >= 0 {
		s.remain -= int64(n)
	}
	if err != nil {
		return err
	}
	if n < len(s.out) {
		return io.ErrShortWrite
	}
	if s.remain == 0 {
		return errLimit
	}
	return nil
}
