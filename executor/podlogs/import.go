package podlogs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Import writes a container instance's log, as a kubelet answers /containerLogs with
// timestamps=true (one "<RFC3339Nano> <line>" per line), into dir as the instance's
// log file, so that Read serves it as it serves a log written here (as stdout: the
// kubelet's answer does not say which stream a line came from). A line whose timestamp
// does not parse keeps the one before it. A line longer than DefaultMaxLine is written
// as partial records, as the writer writes it, and so is a last line without a newline,
// which Read then answers without one, as the kubelet did. It replaces what the
// instance's file held.
func Import(dir string, restart int, r io.Reader) error {
	if err := MakeDir(dir); err != nil {
		return err
	}
	path := currentPath(dir, restart)
	tmp := path + ".import"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fileMode)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	err = importLines(w, bufio.NewReaderSize(r, 64<<10))
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("importing a container's log into %s: %w", dir, err)
	}
	return os.Rename(tmp, path)
}

// importLines writes the records of the lines of br to w, holding at most
// DefaultMaxLine of a line.
func importLines(w io.Writer, br *bufio.Reader) error {
	var (
		last      time.Time
		line, rec []byte
		// inLine: some of the line being read has been read.
		inLine bool
	)
	write := recordSink(func(partial bool, content []byte) error {
		rec = appendRecord(rec[:0], last, Stdout, partial, content)
		_, err := w.Write(rec)
		return err
	})
	for {
		// A piece is at most the reader's buffer: the first piece of a line holds its
		// timestamp.
		piece, err := br.ReadSlice('\n')
		if !inLine && len(piece) > 0 {
			inLine = true
			if ts, rest, ok := bytes.Cut(piece, []byte{' '}); ok {
				if t, perr := time.Parse(timeFormatIn, string(ts)); perr == nil {
					last, piece = t, rest
				}
			}
		}
		whole := err == nil
		if whole {
			piece = piece[:len(piece)-1]
		}
		line = append(line, piece...)
		var werr error
		if line, werr = write.writePieces(line, DefaultMaxLine); werr != nil {
			return werr
		}
		switch {
		case whole:
			if werr := write.writeLine(line, DefaultMaxLine, false); werr != nil {
				return werr
			}
			line, inLine = line[:0], false
		case errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			if inLine && len(line) > 0 {
				// The log ends in the middle of a line.
				return write.writeLine(line, DefaultMaxLine, true)
			}
			return nil
		default:
			return err
		}
	}
}

// Has says whether dir holds a log file of any instance.
func Has(dir string) bool {
	logs, err := listLogs(dir)
	return err == nil && len(logs) > 0
}
