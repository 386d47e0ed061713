package podlogs

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"
)

// Import writes a container instance's log, as a kubelet answers /containerLogs with
// timestamps=true (one "<RFC3339Nano> <line>" per line), into dir as the instance's
// log file, so that Read serves it as it serves a log written here (as stdout: the
// kubelet's answer does not say which stream a line came from). A line whose timestamp
// does not parse keeps the one before it. It replaces what the instance's file held.
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
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var last time.Time
	var rec []byte
	for sc.Scan() {
		line := sc.Bytes()
		content := line
		if ts, rest, ok := bytes.Cut(line, []byte{' '}); ok {
			if t, err := time.Parse(timeFormatIn, string(ts)); err == nil {
				last, content = t, rest
			}
		}
		rec = appendRecord(rec[:0], last, Stdout, false, content)
		if _, err := w.Write(rec); err != nil {
			break
		}
	}
	err = sc.Err()
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

// Has says whether dir holds a log file of any instance.
func Has(dir string) bool {
	logs, err := listLogs(dir)
	return err == nil && len(logs) > 0
}
