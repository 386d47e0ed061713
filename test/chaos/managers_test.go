package chaos

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// acquiredLease is what client-go's leader election logs when a replica becomes leader
// ("Successfully acquired lease" through the manager's logger, lower case through klog).
const acquiredLease = "uccessfully acquired lease"

// managers runs the manager's two replicas with leader election, as deployed.
type managers struct {
	bin, kubeconfig, logDir string
	logf                    func(format string, args ...any)
	// memory: the managers keep the MesosTasks in memory (--mesostask-storage=memory).
	memory bool
	// tasksAPIPorts, with the MesosTasks in memory, is where each slot serves them, as
	// its pod (replicaPodName) says: the standby follows the leader's there.
	tasksAPIPorts [2]int

	mu       sync.Mutex
	replicas [2]*replica
	starts   int
	stopped  bool
	// selfExits are the replicas that exited without being told to (and were started
	// again): a manager that loses its lease exits; one that crashes does too.
	selfExits []string
}

// replica is one manager process.
type replica struct {
	name    string // slot and start, e.g. "a-3"
	slot    int
	cmd     *exec.Cmd
	log     *leaseWatch
	exited  chan struct{}
	told    atomic.Bool // the run stopped it
	started time.Time
}

func (p *replica) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// errStopped is a start after the run stopped every replica.
var errStopped = errors.New("the replicas are stopped")

// start starts the replica of a slot: --leader-elect in namespace default, probes on a
// free loopback port, metrics off.
func (ms *managers) start(slot int) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.stopped {
		return errStopped
	}
	ms.starts++
	name := fmt.Sprintf("%c-%d", 'a'+slot, ms.starts)
	f, err := os.Create(filepath.Join(ms.logDir, "manager-"+name+".log"))
	if err != nil {
		return err
	}
	args := []string{"--leader-elect", "--leader-election-namespace=default",
		"--health-probe-bind-address=127.0.0.1:0", "--metrics-bind-address=0"}
	if *flagLogLevel != "" {
		args = append(args, "--zap-log-level="+*flagLogLevel)
	}
	cmd := exec.Command(ms.bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+ms.kubeconfig)
	if ms.memory {
		cmd.Args = append(cmd.Args, "--mesostask-storage=memory", fmt.Sprintf("--tasks-api-bind-address=127.0.0.1:%d", ms.tasksAPIPorts[slot]))
		cmd.Env = append(cmd.Env, "POD_NAME="+replicaPodName(slot))
	}
	w := &leaseWatch{f: f}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return fmt.Errorf("starting the manager: %w", err)
	}
	p := &replica{name: name, slot: slot, cmd: cmd, log: w, exited: make(chan struct{}), started: time.Now()}
	go func() {
		err := cmd.Wait()
		_ = f.Close()
		close(p.exited)
		if !p.told.Load() {
			ms.exitedByItself(p, err)
		}
	}()
	ms.replicas[slot] = p
	return nil
}

// crashBackOff is how long a replica that exited within crashBackOff of its start waits
// before its slot starts again, as kubelet backs a crashing container off: a replica
// started while kube-apiserver is down (restart-apiserver) exits at once.
const crashBackOff = 3 * time.Second

// exitedByItself notes a replica that exited untold and starts its slot again.
func (ms *managers) exitedByItself(p *replica, err error) {
	ms.mu.Lock()
	if ms.stopped {
		ms.mu.Unlock()
		return
	}
	ms.selfExits = append(ms.selfExits, fmt.Sprintf("%s (%v)", p.name, err))
	ms.mu.Unlock()
	ms.logf("manager %s exited by itself (%v): see manager-%s.log; starting its slot again", p.name, err, p.name)
	if time.Since(p.started) < crashBackOff {
		time.Sleep(crashBackOff) // back-off, not an assertion
	}
	if err := ms.start(p.slot); errors.Is(err, errStopped) {
		return
	} else if err != nil {
		ms.logf("starting manager slot %d again: %v", p.slot, err)
	}
}

// exits lists the replicas that exited untold.
func (ms *managers) exits() []string {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]string(nil), ms.selfExits...)
}

// leader is the live replica that acquired the lease last, or nil.
func (ms *managers) leader() *replica {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	var leader *replica
	var at time.Time
	for _, p := range ms.replicas {
		if p == nil || !p.alive() {
			continue
		}
		if ok, when := p.log.acquired(); ok && (leader == nil || when.After(at)) {
			leader, at = p, when
		}
	}
	return leader
}

// waitLeader waits until a replica leads.
func (ms *managers) waitLeader(timeout time.Duration) (*replica, error) {
	deadline := time.Now().Add(timeout)
	for {
		if l := ms.leader(); l != nil {
			return l, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no manager replica acquired the lease within %s", timeout)
		}
		time.Sleep(100 * time.Millisecond) // polling for a leader, not an assertion
	}
}

// disruptLeader sends the leader, once it led for tenure, a signal (SIGKILL: it dies
// holding the lease; SIGTERM: it releases the lease and exits), waits for it to exit and
// starts its slot again.
func (ms *managers) disruptLeader(sig syscall.Signal, tenure time.Duration) error {
	l, err := ms.waitLeader(2 * time.Minute)
	if err != nil {
		return err
	}
	time.Sleep(time.Until(l.log.since().Add(tenure))) // pacing: the leader gets to work first
	if !l.alive() {
		return ms.disruptLeader(sig, tenure) // it went meanwhile
	}
	l.told.Store(true)
	if err := l.cmd.Process.Signal(sig); err != nil {
		return err
	}
	select {
	case <-l.exited:
	case <-time.After(45 * time.Second):
		_ = l.cmd.Process.Kill()
		<-l.exited
		ms.logf("manager %s did not exit within 45s of %s: killed", l.name, sig)
	}
	ms.logf("manager %s (leader since %s) got %s; starting its slot again", l.name, l.log.since().Format("15:04:05.000"), sig)
	return ms.start(l.slot)
}

// killAll SIGKILLs every replica (they die holding whatever they hold), runs between
// while none runs, and starts every slot again, whatever between returned.
func (ms *managers) killAll(between func() error) error {
	ms.mu.Lock()
	replicas := ms.replicas
	ms.mu.Unlock()
	kill(replicas)
	err := between()
	for slot := range replicas {
		if serr := ms.start(slot); serr != nil && !errors.Is(serr, errStopped) {
			return errors.Join(err, serr)
		}
	}
	return err
}

// stopAll ends every replica.
func (ms *managers) stopAll() {
	ms.mu.Lock()
	ms.stopped = true
	replicas := ms.replicas
	ms.mu.Unlock()
	kill(replicas)
}

// kill SIGKILLs the live replicas and waits for them to exit.
func kill(replicas [2]*replica) {
	for _, p := range replicas {
		if p != nil && p.alive() {
			p.told.Store(true)
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
}

// leaseWatch writes a replica's output to its log file and notes when it acquired the
// leader election lease.
type leaseWatch struct {
	f    *os.File
	mu   sync.Mutex
	tail []byte
	at   time.Time
}

func (w *leaseWatch) Write(b []byte) (int, error) {
	w.mu.Lock()
	if w.at.IsZero() {
		w.tail = append(w.tail, b...)
		if bytes.Contains(w.tail, []byte(acquiredLease)) {
			w.at = time.Now()
			w.tail = nil
		} else if len(w.tail) > len(acquiredLease) {
			w.tail = w.tail[len(w.tail)-len(acquiredLease):]
		}
	}
	w.mu.Unlock()
	return w.f.Write(b)
}

func (w *leaseWatch) since() time.Time {
	_, at := w.acquired()
	return at
}

func (w *leaseWatch) acquired() (bool, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.at.IsZero(), w.at
}

// replicaPodName is the name of a slot's pod, with the MesosTasks in memory.
func replicaPodName(slot int) string { return fmt.Sprintf("manager-%c", 'a'+slot) }

// ledWithCopies counts, in the replicas' logs, the leaders that started from a copy of
// the MesosTasks (with them in memory): a copy of their own, or one another replica
// kept, which they asked for (taskapi's handoff).
func (ms *managers) ledWithCopies() (own, asked int) {
	files, _ := filepath.Glob(filepath.Join(ms.logDir, "manager-*.log"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		held := bytes.Count(b, []byte("Holding the MesosTasks of the copy kept"))
		took := bytes.Count(b, []byte("Took the copy another replica kept"))
		own, asked = own+held-took, asked+took
	}
	return own, asked
}
