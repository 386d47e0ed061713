package chaos

import (
	"context"
	"net/http"
	"time"
)

// readLagCap is the most a read (GET, LIST) is held back in stale-reads: the leading
// replica renews its Lease with a GET and a PUT every second within a 4 s renew
// deadline, and a fault that made it step down would test leader election, not stale
// caches. Watches, which leader election does not use, lag by the whole delay.
const readLagCap = time.Second

// setLag holds back what the managers read by d (0 ends it): each chunk of a watch, in
// the order it came, and the answers of GETs and LISTs (at most readLagCap). Their
// informers' caches lag behind the API server by that much: a manager sees its own
// writes, and everyone else's, late.
func (p *apiProxy) setLag(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lag = d
}

// lagOf is the lag now, for a chunk of a watch or (capped) for a read; it counts what
// it holds back.
func (p *apiProxy) lagOf(watch bool) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lag <= 0 {
		return 0
	}
	if !watch {
		p.injected["lagged-read"]++
		return min(p.lag, readLagCap)
	}
	p.injected["lagged-watch-chunk"]++
	return p.lag
}

// lagged passes r on with its answer held back: a read's by the lag when it came, each
// chunk of a watch's by the lag at the time it came from kube-apiserver. A watch is
// always passed through a lagWriter, since a stale-reads fault may begin while it is
// open.
func (p *apiProxy) lagged(w http.ResponseWriter, r *http.Request, watch bool) {
	lag := func() time.Duration { return p.lagOf(true) }
	if !watch {
		d := p.lagOf(false)
		if d <= 0 {
			p.rp.ServeHTTP(w, r)
			return
		}
		lag = func() time.Duration { return d }
	}
	lw := newLagWriter(r.Context(), w, lag)
	defer lw.finish()
	p.rp.ServeHTTP(lw, r)
}

// lagWriter is a ResponseWriter that writes each chunk of an answer, and flushes it, a
// lag after it was written to it, in order: a chunk is never written before the one
// before it.
type lagWriter struct {
	w    http.ResponseWriter
	ctx  context.Context
	lag  func() time.Duration
	last time.Time // when the last chunk is due
	ch   chan lagChunk
	done chan struct{}
}

type lagChunk struct {
	b   []byte
	due time.Time
}

func newLagWriter(ctx context.Context, w http.ResponseWriter, lag func() time.Duration) *lagWriter {
	lw := &lagWriter{w: w, ctx: ctx, lag: lag, ch: make(chan lagChunk, 1024), done: make(chan struct{})}
	go lw.deliver()
	return lw
}

func (lw *lagWriter) Header() http.Header { return lw.w.Header() }

// WriteHeader passes the status on at once: it comes before any chunk, and what is
// held back is the data.
func (lw *lagWriter) WriteHeader(code int) {
	lw.w.WriteHeader(code)
	if f, ok := lw.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (lw *lagWriter) Write(b []byte) (int, error) {
	due := time.Now().Add(lw.lag())
	if due.Before(lw.last) {
		due = lw.last
	}
	lw.last = due
	select {
	case lw.ch <- lagChunk{b: append([]byte(nil), b...), due: due}:
		return len(b), nil
	case <-lw.ctx.Done():
		return 0, lw.ctx.Err()
	}
}

// Flush does nothing: each chunk is flushed as it is written.
func (lw *lagWriter) Flush() {}

func (lw *lagWriter) deliver() {
	defer close(lw.done)
	f, _ := lw.w.(http.Flusher)
	for c := range lw.ch {
		if lw.ctx.Err() != nil {
			continue // the client went: nothing to deliver to
		}
		if wait := time.Until(c.due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-lw.ctx.Done():
				t.Stop()
				continue
			}
		}
		if _, err := lw.w.Write(c.b); err != nil {
			continue
		}
		if f != nil {
			f.Flush()
		}
	}
}

// finish waits until every chunk written is delivered (or the client went): the
// ResponseWriter may not be used once the handler returned.
func (lw *lagWriter) finish() {
	close(lw.ch)
	<-lw.done
}
