package podlogs

import (
	"bytes"
	"errors"
)

// position is a place in an instance's log: a file of it, and an offset in that file.
type position struct {
	seg int
	off int64
}

// errStop ends a backward scan early.
var errStop = errors.New("stop")

// tailStart finds where the last n lines of the wanted streams start, and how many
// lines the reader then skips: the lines the log ends with are counted back to where
// every wanted stream is between two lines (the kubelet counts records instead, and so
// cuts a line longer than 16 KiB; the partial records are joined here before counting).
func tailStart(in *instance, n int64, want [2]bool) (position, int64, error) {
	t := tailScan{n: n, want: want}
	if n == 0 {
		// No lines: start at the end, or before the lines it is in the middle of.
		last := len(in.segs) - 1
		t.candidate(position{last, in.segs[last].end})
	}
	for i := len(in.segs) - 1; i >= 0; i-- {
		err := scanBack(in.segs[i], func(off int64, line []byte) error {
			return t.record(position{i, off}, line)
		})
		if errors.Is(err, errStop) {
			return t.cand, t.candLines - n, nil
		}
		if err != nil {
			return position{}, 0, err
		}
	}
	if t.found {
		// The start of the log is between lines of every stream.
		return t.cand, t.candLines - n, nil
	}
	return position{}, 0, nil
}

// tailScan is the state of the backward scan.
type tailScan struct {
	n    int64
	want [2]bool
	// lines counts the lines whose last record has been scanned: an F record, or a P
	// record the log ends with (the line being written, or the one the stream ended in).
	lines int64
	seen  [2]bool
	// cand is a start with at least n lines after it, if found; it is one once the
	// record before it in each wanted stream ends a line (or there is none).
	found     bool
	cand      position
	candLines int64
	unchecked [2]bool
}

func (t *tailScan) candidate(p position) {
	t.found, t.cand, t.candLines, t.unchecked = true, p, t.lines, t.want
}

// record takes the record at p, the one before those scanned so far.
func (t *tailScan) record(p position, line []byte) error {
	stream, partial, err := parseHeader(line)
	if err != nil {
		return nil // As the kubelet, skip what is not a record.
	}
	i := streamIndex(stream)
	if !t.want[i] {
		return nil
	}
	if t.found && t.unchecked[i] {
		if partial {
			// The line this record is in goes on after the candidate: start before it.
			t.count(i, partial)
			t.candidate(p)
			return nil
		}
		t.unchecked[i] = false
		if !t.unchecked[0] && !t.unchecked[1] {
			return errStop
		}
	}
	t.count(i, partial)
	if !t.found && t.lines >= t.n {
		t.candidate(p)
	}
	return nil
}

func (t *tailScan) count(i int, partial bool) {
	if !partial || !t.seen[i] {
		t.lines++
	}
	t.seen[i] = true
}

// scanBack calls fn with the records of s, last first, and the offset of each.
func scanBack(s *segment, fn func(off int64, line []byte) error) error {
	const chunk = 32 << 10
	var carry []byte // the records after pos not yet given to fn; they end with '\n'
	for pos := s.end; pos > 0; {
		n := min(chunk, pos)
		pos -= n
		data := make([]byte, n, n+int64(len(carry)))
		if _, err := s.f.ReadAt(data, pos); err != nil {
			return err
		}
		data = append(data, carry...)
		end := len(data)
		for {
			j := bytes.LastIndexByte(data[:end-1], '\n')
			if j < 0 {
				break
			}
			if err := fn(pos+int64(j+1), data[j+1:end-1]); err != nil {
				return err
			}
			end = j + 1
		}
		carry = data[:end]
	}
	if len(carry) > 0 {
		return fn(0, carry[:len(carry)-1])
	}
	return nil
}
