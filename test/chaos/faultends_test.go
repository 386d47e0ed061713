package chaos

import (
	"sort"
	"sync"
	"time"
)

// faultEnds are the ends of faults that last (heal, master up, updates back to normal),
// by resource, with the time each resource is busy until.
type faultEnds struct {
	mu    sync.Mutex
	until map[string]time.Time
	ends  map[string]func()
	timer map[string]*time.Timer
}

// busyUntil says until when a resource is taken by a lasting fault: while its end has
// not run, at least a moment from now. Its timer fires at the time it was scheduled
// for, and a fault that waited until that time would otherwise come first and take the
// end's place (schedule): a master taken out of ZooKeeper would never be announced again.
func (e *faultEnds) busyUntil(res string) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.until[res]
	if now := time.Now(); ok && !t.After(now) {
		return now.Add(endPoll)
	}
	return t
}

// endPoll is how soon a resource whose end is due is looked at again.
const endPoll = 10 * time.Millisecond

// schedule runs end after d, unless endAll runs it first.
func (e *faultEnds) schedule(res string, d time.Duration, end func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.until == nil {
		e.until, e.ends, e.timer = map[string]time.Time{}, map[string]func(){}, map[string]*time.Timer{}
	}
	e.until[res] = time.Now().Add(d)
	e.ends[res] = end
	e.timer[res] = time.AfterFunc(d, func() { e.run(res) })
}

// run ends the fault on a resource, once.
func (e *faultEnds) run(res string) {
	e.mu.Lock()
	end := e.ends[res]
	delete(e.ends, res)
	delete(e.until, res)
	if t := e.timer[res]; t != nil {
		t.Stop()
	}
	delete(e.timer, res)
	e.mu.Unlock()
	if end != nil {
		end()
	}
}

// endAll ends every lasting fault now.
func (e *faultEnds) endAll() {
	e.mu.Lock()
	var res []string
	for r := range e.ends {
		res = append(res, r)
	}
	e.mu.Unlock()
	sort.Strings(res)
	for _, r := range res {
		e.run(r)
	}
}
