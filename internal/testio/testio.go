// Package testio holds helpers that tests of several packages share: streams, and the
// modes of the files a test made.
package testio

import (
	"bytes"
	"sync"
)

// SyncBuffer is a buffer one goroutine writes (a log follower, a session's output
// stream) while a test reads it. Close does nothing, so that it serves as an
// io.WriteCloser too.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// Close does nothing.
func (*SyncBuffer) Close() error { return nil }

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
