package podlogs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// segment is one file of an instance's log, open.
type segment struct {
	f *os.File
	// end is where the file ended, at its last whole record, when it was opened: what a
	// read that does not follow reads, and what the tail scan counts lines in.
	end int64
}

// instance is the log of one container instance, as a reader sees it.
type instance struct {
	dir     string
	restart int
	segs    []*segment
}

// openInstance opens the files of an instance, oldest first. ErrNotFound when it has
// none.
func openInstance(dir string, restart int) (*instance, error) {
	in := &instance{dir: dir, restart: restart}
	segs, err := in.openFrom(nil)
	if err != nil {
		return nil, err
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("%w: no log of instance %d in %s", ErrNotFound, restart, dir)
	}
	in.segs = segs
	return in, nil
}

func (in *instance) close() {
	for _, s := range in.segs {
		if s.f != nil {
			_ = s.f.Close()
			s.f = nil
		}
	}
}

// openFrom opens the files that come after the file after (all, if nil): the rotated
// ones, then the current one. The current file is opened first: every file rotated
// before it is then listed, and a file listed after it (rotated since) is left for the
// next call, which finds it after this one. If after is no longer listed, a rotation
// removed it, and every file listed is newer.
func (in *instance) openFrom(after os.FileInfo) ([]*segment, error) {
	cur, err := openSegment(currentPath(in.dir, in.restart))
	if err != nil {
		return nil, err
	}
	var curInfo os.FileInfo
	if cur != nil {
		if curInfo, err = cur.f.Stat(); err != nil {
			_ = cur.f.Close()
			return nil, err
		}
	}
	rotated, err := rotatedPaths(in.dir, in.restart)
	if err != nil {
		closeSegments([]*segment{cur})
		return nil, err
	}
	start, end := 0, len(rotated)
	for i, p := range rotated {
		st, err := os.Stat(p)
		switch {
		case err != nil:
		case after != nil && os.SameFile(st, after):
			start = i + 1
		case curInfo != nil && os.SameFile(st, curInfo):
			end = i
		}
	}
	var segs []*segment
	for _, p := range rotated[start:max(start, end)] {
		s, err := openSegment(p)
		if err != nil {
			closeSegments(append(segs, cur))
			return nil, err
		}
		if s != nil {
			segs = append(segs, s)
		}
	}
	if cur != nil {
		segs = append(segs, cur)
	}
	return segs, nil
}

// openSegment opens path; nil if it is gone (a rotation removed it, or the current file
// is between its rename and its successor).
func openSegment(path string) (*segment, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	end, err := lastRecordEnd(f)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &segment{f: f, end: end}, nil
}

func closeSegments(segs []*segment) {
	for _, s := range segs {
		if s != nil {
			_ = s.f.Close()
		}
	}
}

// lastRecordEnd returns the offset after the last newline of f: a record being written
// is not read until it is whole.
func lastRecordEnd(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 4096)
	for end := st.Size(); end > 0; {
		n := min(int64(len(buf)), end)
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, err
		}
		for i := n - 1; i >= 0; i-- {
			if buf[i] == '\n' {
				return end - n + i + 1, nil
			}
		}
		end -= n
	}
	return 0, nil
}

// rotated reports whether the last file open is no longer the current file, and then
// opens the files that followed it. false while the current file is between its rename
// and its successor.
func (in *instance) rotated() (bool, error) {
	last, err := in.segs[len(in.segs)-1].f.Stat()
	if err != nil {
		return false, err
	}
	cur, err := os.Stat(currentPath(in.dir, in.restart))
	if errors.Is(err, fs.ErrNotExist) || err == nil && os.SameFile(cur, last) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	segs, err := in.openFrom(last)
	if err != nil {
		return false, err
	}
	in.segs = append(in.segs, segs...)
	return len(segs) > 0, nil
}
