package podlogs

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// The streams a container writes, as the CRI log format names them.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

const (
	// timeFormat is RFC3339Nano with a fixed width, as containerd writes it: the
	// timestamps of a file then sort as text too.
	timeFormat = "2006-01-02T15:04:05.000000000Z07:00"
	// timeFormatIn also reads timestamps written without trailing zeros.
	timeFormatIn = time.RFC3339Nano

	// recordOverhead is what a record adds to its content: timestamp, stream, tag,
	// separators and newline.
	recordOverhead = len("2006-01-02T15:04:05.000000000Z stdout P \n")

	tagFull    = "F"
	tagPartial = "P"
)

// record is one line of a log file: a whole line of output (F), or a piece of one (P)
// that the following records of the same stream continue.
type record struct {
	time    time.Time
	stream  string
	partial bool
	// content is the output, without the newline that ends the record.
	content []byte
}

// recordSink takes records: one with its partial tag and content.
type recordSink func(partial bool, content []byte) error

// writeLine writes line in records of at most max bytes, partial but the last one,
// which is partial too when unfinished (a line its stream ended in).
func (write recordSink) writeLine(line []byte, max int, unfinished bool) error {
	for len(line) > max {
		if err := write(true, line[:max]); err != nil {
			return err
		}
		line = line[max:]
	}
	return write(unfinished, line)
}

// writePieces writes, as partial records, the pieces of max bytes of an unfinished
// line that has more than max, and returns what is left of it, moved to its start: a
// line held while it is read holds at most max bytes.
func (write recordSink) writePieces(pending []byte, max int) ([]byte, error) {
	for len(pending) > max {
		if err := write(true, pending[:max]); err != nil {
			return pending, err
		}
		pending = append(pending[:0], pending[max:]...)
	}
	return pending, nil
}

// appendRecord appends the record line for content to b.
func appendRecord(b []byte, t time.Time, stream string, partial bool, content []byte) []byte {
	b = t.UTC().AppendFormat(b, timeFormat)
	b = append(b, ' ')
	b = append(b, stream...)
	b = append(b, ' ')
	if partial {
		b = append(b, tagPartial...)
	} else {
		b = append(b, tagFull...)
	}
	b = append(b, ' ')
	b = append(b, content...)
	return append(b, '\n')
}

var errMalformed = errors.New("malformed CRI log record")

// parseRecord parses a record line, given without its newline. content aliases line.
func parseRecord(line []byte) (record, error) {
	var r record
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return r, errMalformed
	}
	t, err := time.Parse(timeFormatIn, string(ts))
	if err != nil {
		return r, fmt.Errorf("%w: %v", errMalformed, err)
	}
	s, rest, ok := bytes.Cut(rest, []byte{' '})
	stream, known := streamName(s)
	if !ok || !known {
		return r, errMalformed
	}
	tags, content, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return r, errMalformed
	}
	// Tags are ':'-separated for future use; the first says whether the line is whole,
	// as the kubelet reads it.
	first, _, _ := bytes.Cut(tags, []byte{':'})
	r.time, r.stream, r.partial, r.content = t, stream, string(first) == tagPartial, content
	return r, nil
}

// parseHeader reads what the tail scan needs of a record: its stream and tag.
func parseHeader(line []byte) (stream string, partial bool, err error) {
	_, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return "", false, errMalformed
	}
	s, rest, ok := bytes.Cut(rest, []byte{' '})
	stream, known := streamName(s)
	if !ok || !known {
		return "", false, errMalformed
	}
	tags, _, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return "", false, errMalformed
	}
	first, _, _ := bytes.Cut(tags, []byte{':'})
	return stream, string(first) == tagPartial, nil
}

// streamName returns the constant naming stream s, without allocating.
func streamName(s []byte) (string, bool) {
	switch string(s) {
	case Stdout:
		return Stdout, true
	case Stderr:
		return Stderr, true
	}
	return "", false
}
