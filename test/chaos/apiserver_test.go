package chaos

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// apiServer is the run's kube-apiserver, which restart-apiserver stops and starts again
// while etcd keeps the data. It comes back as it was: on the same port (envtest keeps
// SecureServing's port once chosen), with the same serving certificate and client CA
// (its certificate directory is the run's: envtest removes a directory it made itself
// on Stop and would make a new CA on Start, which no client of the run trusts), and with
// the same flags (the audit log goes on, appended to).
type apiServer struct {
	srv *envtest.APIServer

	mu      sync.Mutex // held while it stops or starts: one restart at a time
	down    bool
	outages []outage
}

// outage is one restart-apiserver, as it went.
type outage struct {
	stopped, started, up time.Time // stopped: Stop returned; started: Start was called; up: it answered /healthz
	leader               string    // the replica that led when it stopped
	fate                 leaderFate
}

// leaderFate is what became of the leader of when kube-apiserver stopped, checked when
// it is started again if the outage outlasted stepDownBound.
type leaderFate int

const (
	unchecked   leaderFate = iota // no leader, or a short outage
	steppedDown                   // it exited by itself, as it must
	stoppedByUs                   // a kill-leader or term-leader ended it meanwhile: nothing to tell
	keptLeading                   // it still ran: it went on leading without its Lease
)

// fateOf is the fate of a replica that led when kube-apiserver stopped at stopped, now.
func fateOf(l *replica, stopped, now time.Time) leaderFate {
	switch {
	case l == nil || now.Sub(stopped) <= stepDownBound:
		return unchecked
	case l.alive():
		return keptLeading
	case l.told.Load():
		return stoppedByUs
	}
	return steppedDown
}

// The manager's leader election is its default (cmd/manager): a leader tries to renew
// its Lease every retryPeriod, stops leading when it could not for renewDeadline, tries
// for releaseTimeout to release the Lease (LeaderElectionReleaseOnCancel) and exits. A
// leader that renewed just before kube-apiserver stopped must so be gone stepDownBound
// after: all of these, and a few seconds to exit on a loaded machine.
const (
	renewDeadline  = 4 * time.Second
	retryPeriod    = 500 * time.Millisecond
	releaseTimeout = renewDeadline / 2 // controller-runtime's leader election client timeout
	stepDownBound  = retryPeriod + renewDeadline + releaseTimeout + 3*time.Second
)

// apiServerDown draws how long kube-apiserver stays down before it is started again:
// half the time 2-10 s, which a leader may ride out (the outage, with the start, may
// still outlast its Lease), half the time 21-31 s, past stepDownBound, which no leader
// may: the run checks that it stepped down.
func apiServerDown(rng *rand.Rand) time.Duration {
	if rng.IntN(2) == 0 {
		return 2*time.Second + randDur(rng, 8*time.Second)
	}
	return stepDownBound + time.Second + randDur(rng, 10*time.Second)
}

// stop stops kube-apiserver (SIGTERM: it ends its requests and watches and exits).
func (a *apiServer) stop() (time.Duration, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down {
		return 0, errors.New("kube-apiserver is down already")
	}
	start := time.Now()
	err := a.srv.Stop()
	if err != nil && !strings.Contains(err.Error(), "timeout waiting for process") {
		return 0, fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	// A timeout is a stop too: envtest SIGKILLed it, after its requests had drained.
	a.down = true
	return time.Since(start), err
}

// start starts kube-apiserver again and waits until it answers /healthz; it tries three
// times, as a process that could not start is kube-apiserver's failure, not k8sm's.
func (a *apiServer) start(o outage) (time.Duration, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.srv.StartTimeout = 2 * time.Minute // a loaded 2-core machine starts it slowly
	var err error
	for range 3 {
		if err = a.srv.Start(); err == nil {
			break
		}
		_ = a.srv.Stop()
	}
	if err != nil {
		return 0, fmt.Errorf("starting kube-apiserver again: %w", err)
	}
	a.down = false
	o.up = time.Now()
	a.outages = append(a.outages, o)
	return o.up.Sub(o.started), nil
}

// isDown says whether kube-apiserver is stopped (or starting).
func (a *apiServer) isDown() bool {
	if !a.mu.TryLock() {
		return true // stopping or starting
	}
	defer a.mu.Unlock()
	return a.down
}

// waitUp waits until kube-apiserver answers again.
func (a *apiServer) waitUp() {
	for a.isDown() {
		time.Sleep(100 * time.Millisecond) // polling, not an assertion
	}
}

// keptLeading lists the leaders that outlived their Lease through an outage.
func (a *apiServer) keptLeading() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, o := range a.outages {
		if o.fate == keptLeading {
			out = append(out, fmt.Sprintf("manager %s led when kube-apiserver stopped at %s and still ran when it was started again %s later (a leader that cannot renew its Lease for %s must stop leading)",
				o.leader, o.stopped.Format("15:04:05.000"), o.started.Sub(o.stopped).Round(time.Millisecond), renewDeadline))
		}
	}
	return out
}

// summary says how the outages went.
func (a *apiServer) summary() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.outages) == 0 {
		return "none"
	}
	var down, longest time.Duration
	fates := map[leaderFate]int{}
	for _, o := range a.outages {
		d := o.up.Sub(o.stopped)
		down += d
		longest = max(longest, d)
		fates[o.fate]++
	}
	return fmt.Sprintf("%d, down %s in all, longest %s; the leader had to step down in %d (did so by itself %d, was stopped by a fault meanwhile %d)",
		len(a.outages), down.Round(time.Second), longest.Round(time.Second), len(a.outages)-fates[unchecked], fates[steppedDown], fates[stoppedByUs])
}

// restartAPIServer stops kube-apiserver, and starts it again after down; the leader of
// when it stopped must have exited by then if down outlasts its Lease's renewal.
func (r *run) restartAPIServer(down time.Duration) error {
	r.api.waitUp() // pacing: a restart waits for the one before
	var o outage
	l := r.mgrs.leader()
	if l != nil {
		o.leader = l.name
	}
	took, err := r.api.stop()
	if !r.api.isDown() {
		return err
	}
	o.stopped = time.Now()
	r.t.Logf("kube-apiserver stopped (in %s, %v; leader %q); starting it again in %s", took.Round(time.Millisecond), err, o.leader, down)
	r.ends.schedule("apiserver", down, func() {
		o.started = time.Now()
		if o.fate = fateOf(l, o.stopped, o.started); o.fate == keptLeading {
			r.t.Logf("manager %s still runs %s after kube-apiserver stopped: it kept leading", l.name, o.started.Sub(o.stopped).Round(time.Millisecond))
		}
		took, err := r.api.start(o)
		if err != nil {
			r.runError("%v", err)
			return
		}
		r.t.Logf("kube-apiserver up again (started in %s, down %s)", took.Round(time.Millisecond), time.Since(o.stopped).Round(time.Millisecond))
	})
	return nil
}

// apiPatience is how long the load's and the checker's own API calls wait for
// kube-apiserver to come back before the run fails: a restart takes seconds to tens of
// seconds on a loaded machine.
const apiPatience = 2 * time.Minute

// apiRetry calls fn until it succeeds, fails for good, or apiPatience has passed: the
// load's and the checker's API calls ride a restart-apiserver out, so a failure the run
// reports is the operator's.
func apiRetry(fn func() error) error {
	deadline := time.Now().Add(apiPatience)
	wait := 100 * time.Millisecond
	for {
		err := fn()
		if err == nil || !transient(err) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(wait) // backing off while kube-apiserver is away
		wait = min(2*wait, 2*time.Second)
	}
}

// transient says whether an API error may go away by itself: kube-apiserver refused the
// connection, closed it, timed out or answered 429 or 5xx (stopping or starting). An
// answer of 4xx (not found, conflict, invalid) is final.
func transient(err error) bool {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		code := st.Status().Code
		return code == 429 || code >= 500
	}
	return true
}
