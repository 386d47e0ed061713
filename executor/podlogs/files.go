package podlogs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// rotatedTimeFormat is the suffix the kubelet gives a rotated log: <n>.log.<timestamp>.
const rotatedTimeFormat = "20060102-150405"

// currentPath is the file an instance writes to: <dir>/<restart>.log, as the kubelet
// lays out /var/log/pods/<ns>_<pod>_<uid>/<container>/<restart>.log.
func currentPath(dir string, restart int) string {
	return filepath.Join(dir, strconv.Itoa(restart)+".log")
}

// logName is a file of a container's log directory, parsed.
type logName struct {
	name    string
	restart int
	// stamp and seq order the rotated files of an instance; stamp is empty for the
	// current file. seq tells apart files rotated within the same second, which the
	// kubelet (rotating at most every 10 s) never has, but a writer that rotates as it
	// writes can.
	stamp string
	seq   int
}

// parseLogName parses <n>.log, <n>.log.<stamp> and <n>.log.<stamp>.<seq>; other files
// (such as the kubelet's compressed .gz ones) are not this package's.
func parseLogName(name string) (logName, bool) {
	n, rest, ok := strings.Cut(name, ".log")
	r, err := strconv.Atoi(n)
	if !ok || err != nil || r < 0 || strconv.Itoa(r) != n {
		return logName{}, false
	}
	l := logName{name: name, restart: r}
	if rest == "" {
		return l, true
	}
	stamp, seq, hasSeq := strings.Cut(strings.TrimPrefix(rest, "."), ".")
	if !strings.HasPrefix(rest, ".") || len(stamp) != len(rotatedTimeFormat) {
		return logName{}, false
	}
	if _, err := time.Parse(rotatedTimeFormat, stamp); err != nil {
		return logName{}, false
	}
	l.stamp = stamp
	if hasSeq {
		if l.seq, err = strconv.Atoi(seq); err != nil || l.seq < 1 {
			return logName{}, false
		}
	}
	return l, true
}

// listLogs returns the parsed log files of dir.
func listLogs(dir string) ([]logName, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // A container that has written nothing yet.
	}
	if err != nil {
		return nil, err
	}
	var logs []logName
	for _, e := range entries {
		if l, ok := parseLogName(e.Name()); ok && e.Type().IsRegular() {
			logs = append(logs, l)
		}
	}
	return logs, nil
}

// rotatedPaths returns the rotated files of an instance, oldest first.
func rotatedPaths(dir string, restart int) ([]string, error) {
	logs, err := listLogs(dir)
	if err != nil {
		return nil, err
	}
	var rotated []logName
	for _, l := range logs {
		if l.restart == restart && l.stamp != "" {
			rotated = append(rotated, l)
		}
	}
	sort.Slice(rotated, func(i, j int) bool {
		if rotated[i].stamp != rotated[j].stamp {
			return rotated[i].stamp < rotated[j].stamp
		}
		return rotated[i].seq < rotated[j].seq
	})
	paths := make([]string, len(rotated))
	for i, l := range rotated {
		paths[i] = filepath.Join(dir, l.name)
	}
	return paths, nil
}

// rotatedPath returns the name the current file of an instance takes when it rotates
// at t: <n>.log.<timestamp>, or, if that would not sort after the files rotated before
// (rotated within the same second, or a clock set back), the last one's name with the
// next sequence number.
func rotatedPath(dir string, restart int, t time.Time) (string, error) {
	logs, err := listLogs(dir)
	if err != nil {
		return "", err
	}
	next := logName{stamp: t.UTC().Format(rotatedTimeFormat)}
	for _, l := range logs {
		if l.restart != restart || l.stamp == "" || l.stamp < next.stamp {
			continue
		}
		if l.stamp > next.stamp || l.seq >= next.seq {
			next = logName{stamp: l.stamp, seq: l.seq + 1}
		}
	}
	name := currentPath(dir, restart) + "." + next.stamp
	if next.seq > 0 {
		name += "." + strconv.Itoa(next.seq)
	}
	return name, nil
}

// removeOldInstances removes the files of the instances before restart-1: the kubelet
// keeps the current and the previous container's logs, no more.
func removeOldInstances(dir string, restart int) error {
	logs, err := listLogs(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range logs {
		if l.restart < restart-1 {
			if err := os.Remove(filepath.Join(dir, l.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
