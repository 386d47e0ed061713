package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/uuid"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	corev1 "k8s.io/api/core/v1"
)

// DefaultKillGrace is the grace period of a KILL whose task has no kill policy.
const DefaultKillGrace = 3 * time.Second

// AnnotationTaskID is set on the pod a runtime is given: the Mesos task that runs it. A
// pod launched again (same pod, new task) tells its runs apart by it.
const AnnotationTaskID = "mesos.k8sm.io/task-id"

// Executor runs the pods the agent launches, many per executor.
type Executor struct {
	Config  config.Config
	Runtime Runtime
	Log     logr.Logger
	// KeepEndedSandboxes and KeepEndedFor bound the sandboxes of ended pods kept
	// (prune.go); 0 takes the defaults.
	KeepEndedSandboxes int
	KeepEndedFor       time.Duration
	// Messages, when set, is told of each subscription and takes the framework's
	// messages (messages.go).
	Messages MessageHandler
	// random returns a number in [0, 1) for the waits before subscribing again;
	// math/rand's when nil.
	random func() float64

	sender     calls.Sender
	subscriber calls.Sender

	mu           sync.Mutex
	tasks        map[string]*task
	unackedTasks map[string]mesos.TaskInfo
	// unacked are the updates the agent has not acknowledged, in the order they were
	// made: resent in that order, so each task's updates keep theirs.
	unacked []unackedUpdate
	// acked is told of each acknowledgement.
	acked chan struct{}
	// kick wakes the resender before its next tick: a subscription delivered the
	// updates that others of their tasks were waiting for.
	kick chan struct{}
	// shutdownDone is made on SHUTDOWN, and closed when its work is done.
	shutdownDone chan struct{}
	// ended are the forgotten tasks whose sandboxes are kept, oldest first.
	ended []endedTask
	// killingState: the framework registered TASK_KILLING_STATE (the latest SUBSCRIBED
	// says), and is told TASK_KILLING of a pod being killed (kill.go).
	killingState bool
}

// unackedUpdate is an update waiting for the agent's acknowledgement.
//
// The agent's status update manager forwards a task's updates in the order they reach
// the agent, so an update goes out only once every earlier update of its task has been
// delivered: the agent answered the UPDATE, or the SUBSCRIBE, that carried it. Until
// then it waits, unsent, for the resender (or the next subscription) to send it after
// them. An update marked sent when a SUBSCRIBE carrying it was made, say, would let a
// later one go out while that SUBSCRIBE failed: the framework would hear TASK_FINISHED
// before the TASK_RUNNING the next subscription carries.
type unackedUpdate struct {
	call mexec.Call_Update
	// delivered: the agent took it (it may still lose it by restarting, and a
	// subscription carries it again).
	delivered bool
	// sending counts the calls carrying it that have not been answered yet; the
	// resender leaves such an update to them.
	sending int
}

type task struct {
	mu   sync.Mutex
	info mesos.TaskInfo
	// pod is the pod the task runs, with the status last reported (nil: not decoded).
	pod     *corev1.Pod
	handle  Handle
	lastKey string
	// state is the state of the last update made.
	state mesos.TaskState
	// killing: a KILL came for a framework that takes TASK_KILLING (startKilling).
	killing  bool
	terminal bool
	done     chan struct{}
}

// Run subscribes to the agent and serves events until SHUTDOWN, or until the agent is
// gone (at once without checkpointing, after MESOS_RECOVERY_TIMEOUT with it), or ctx
// ends (SIGTERM): then it kills every pod first. Before subscribing it claims its
// sandbox and has its runtime sweep what ended runs left (runs.go).
func (e *Executor) Run(ctx context.Context) error {
	e.tasks, e.unackedTasks, e.unacked = map[string]*task{}, map[string]mesos.TaskInfo{}, nil
	e.acked, e.kick = make(chan struct{}, 1), make(chan struct{}, 1)
	// Taken before the runtime starts any process.
	sender, subscriber := e.connect(takeAuthenticationToken())
	release := e.claimAndSweep()
	defer release()
	e.mu.Lock() // SendMessage reads it from other goroutines
	e.sender = sender
	e.mu.Unlock()
	e.subscriber = subscriber

	resendCtx, stopResend := context.WithCancel(ctx)
	defer stopResend()
	go e.resend(resendCtx)

	disconnected := time.Now()
	for {
		subscribed, err := e.subscribeOnce(ctx)
		if done := e.shutdownStarted(); done != nil {
			<-done
			e.Log.Info("Shutting down as the agent asked")
			return nil
		}
		if ctx.Err() != nil {
			return e.stopped()
		}
		if err != nil {
			e.Log.Info("Lost the agent", "error", err.Error())
		}
		if subscribed {
			// The recovery clock starts when a subscription ends, however it ended (an
			// agent restart usually resets the connection).
			disconnected = time.Now()
		}
		// With the agent gone no update goes out anyway.
		if !e.Config.Checkpoint {
			e.killAll(context.Background(), false, e.Config.ExecutorShutdownGracePeriod, time.Now().Add(e.Config.ExecutorShutdownGracePeriod+time.Second))
			return fmt.Errorf("disconnected from the agent and checkpointing is off: %v", err)
		}
		if time.Since(disconnected) > e.Config.RecoveryTimeout {
			e.killAll(context.Background(), false, e.Config.ExecutorShutdownGracePeriod, time.Now().Add(e.Config.ExecutorShutdownGracePeriod+time.Second))
			return fmt.Errorf("could not subscribe to the agent again within %s", e.Config.RecoveryTimeout)
		}
		select {
		case <-time.After(e.resubscribeWait()):
		case <-ctx.Done():
			return e.stopped()
		}
	}
}

// DefaultSubscriptionBackoffMax bounds the wait before subscribing again where
// MESOS_SUBSCRIPTION_BACKOFF_MAX does not: the agent's default
// executor_reregistration_timeout.
const DefaultSubscriptionBackoffMax = 2 * time.Second

// resubscribeWait is how long to wait before subscribing again: a random time up to
// MESOS_SUBSCRIPTION_BACKOFF_MAX, as Mesos's own executor libraries wait. The agent
// sets that to its executor_reregistration_timeout, the time it gives its executors to
// come back after it restarted before it destroys them: a wait that grew up to it, as
// a doubling one does, could land just after that window closed.
func (e *Executor) resubscribeWait() time.Duration {
	limit := e.Config.SubscriptionBackoffMax
	if limit <= 0 {
		limit = DefaultSubscriptionBackoffMax
	}
	random := rand.Float64
	if e.random != nil {
		random = e.random
	}
	return time.Duration(random() * float64(limit))
}

// stopped ends a Run whose context ended (the executor got SIGTERM or SIGINT): no pod
// outlives the executor, so each is killed, with the grace SHUTDOWN gives.
func (e *Executor) stopped() error {
	e.Log.Info("Stopping: killing every pod")
	grace := e.Config.ExecutorShutdownGracePeriod
	start := time.Now()
	// The pods' updates cannot go on the context that ended: they go on this one, within
	// the grace, else the agent reports the tasks failed with the executor.
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(grace))
	defer cancel()
	e.killAll(ctx, true, grace*3/4, start.Add(grace*9/10))
	// Updates whose sends were under way on the context that ended are sent again (the
	// same update twice, by its uuid), else a send that failed once this one passed it
	// would hold back its task's terminal update.
	e.sendUnsent(ctx, true)
	return nil
}

// claimAndSweep claims this run's sandbox and, when the runtime is a Sweeper, has it
// stop what the framework's ended executor runs on this agent left. It returns what
// releases the claim.
func (e *Executor) claimAndSweep() (release func()) {
	dir := RunDir(e.Config)
	if dir == "" {
		return func() {}
	}
	release, err := Claim(dir)
	if err != nil {
		e.Log.Info("Cannot claim the sandbox: a later executor cannot tell whether this one ended", "sandbox", dir, "error", err.Error())
		release = func() {}
	}
	if s, ok := e.Runtime.(Sweeper); ok {
		s.Sweep(OtherRuns(dir), Ended)
	}
	return release
}

// shutdownStarted returns what closes when the SHUTDOWN's work is done, or nil before
// any SHUTDOWN.
func (e *Executor) shutdownStarted() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.shutdownDone
}

// shutDown serves SHUTDOWN: it kills every pod and ends the subscription (endStream)
// once the agent has acknowledged their terminal updates, the event loop taking the
// acknowledgements meanwhile; Run returns then. The agent destroys the executor's
// container when MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD is over, and reports the tasks it
// has no terminal update of failed (REASON_EXECUTOR_TERMINATED): the pods get three
// quarters of it, and the executor gives up waiting at nine tenths, to exit in time.
func (e *Executor) shutDown(endStream context.CancelFunc) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.shutdownDone != nil {
		return
	}
	done := make(chan struct{})
	e.shutdownDone = done
	grace := e.Config.ExecutorShutdownGracePeriod
	by := time.Now().Add(grace * 9 / 10)
	go func() {
		defer close(done)
		defer endStream()
		ctx, cancel := context.WithDeadline(context.Background(), by)
		defer cancel()
		e.killAll(ctx, true, grace*3/4, by)
		e.awaitAcknowledged(by)
	}()
}

// awaitAcknowledged waits until the agent acknowledged every update, or until by.
func (e *Executor) awaitAcknowledged(by time.Time) {
	timeout := time.NewTimer(time.Until(by))
	defer timeout.Stop()
	for {
		e.mu.Lock()
		left := len(e.unacked)
		e.mu.Unlock()
		if left == 0 {
			return
		}
		select {
		case <-e.acked:
		case <-timeout.C:
			e.Log.Info("Exiting with updates the agent has not acknowledged", "updates", left)
			return
		}
	}
}

// subscribeOnce subscribes (resending unacknowledged tasks and updates) and handles
// events until the stream ends; subscribed says whether the agent took the subscription.
func (e *Executor) subscribeOnce(ctx context.Context) (subscribed bool, err error) {
	e.mu.Lock()
	var tasks []mesos.TaskInfo
	for _, t := range e.unackedTasks {
		tasks = append(tasks, t)
	}
	var updates []mexec.Call_Update
	var uuids [][]byte
	for i := range e.unacked {
		updates = append(updates, e.unacked[i].call)
		uuids = append(uuids, e.unacked[i].call.Status.UUID)
		e.unacked[i].sending++ // the subscription carries it
	}
	e.mu.Unlock()
	// A SHUTDOWN ends the stream (cancel) when its work is done.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := e.subscriber.Send(sctx, calls.NonStreaming(calls.Subscribe(tasks, updates)))
	// The agent answers once it has taken the subscription's updates: the updates made
	// meanwhile, which waited for them, go out now. A subscription that failed delivered
	// nothing: the resender sends its updates, in order, before those.
	e.sent(uuids, err == nil)
	if err != nil {
		return false, err
	}
	select {
	case e.kick <- struct{}{}:
	default:
	}
	defer func() { _ = resp.Close() }()
	for {
		var ev mexec.Event
		if err := resp.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				return true, nil
			}
			return true, err
		}
		if ev.GetType() == mexec.Event_SHUTDOWN {
			e.shutDown(cancel)
			continue
		}
		e.handle(ctx, &ev)
	}
}

// handle serves one event but SHUTDOWN (shutDown).
func (e *Executor) handle(ctx context.Context, ev *mexec.Event) {
	switch ev.GetType() {
	case mexec.Event_SUBSCRIBED:
		e.Log.Info("Subscribed to the agent", "agent", ev.GetSubscribed().AgentInfo.GetHostname())
		e.mu.Lock()
		e.killingState = takesKilling(ev.GetSubscribed().FrameworkInfo)
		e.mu.Unlock()
		if e.Messages != nil {
			e.Messages.Subscribed(ev.GetSubscribed().AgentInfo)
		}
	case mexec.Event_LAUNCH:
		e.launch(ctx, ev.GetLaunch().Task)
	case mexec.Event_LAUNCH_GROUP:
		for _, t := range ev.GetLaunchGroup().TaskGroup.Tasks {
			e.launch(ctx, t)
		}
	case mexec.Event_KILL:
		k := ev.GetKill()
		grace := DefaultKillGrace
		e.mu.Lock()
		t := e.tasks[k.TaskID.Value]
		e.mu.Unlock()
		if t != nil {
			grace = killGrace(t, grace)
		}
		if k.KillPolicy.GetGracePeriod() != nil {
			grace = time.Duration(k.KillPolicy.GetGracePeriod().GetNanoseconds())
		}
		e.kill(ctx, k.TaskID.Value, grace)
	case mexec.Event_ACKNOWLEDGED:
		a := ev.GetAcknowledged()
		e.mu.Lock()
		for i := range e.unacked {
			if st := e.unacked[i].call.Status; bytes.Equal(st.UUID, a.UUID) {
				e.unacked = append(e.unacked[:i], e.unacked[i+1:]...)
				if isTerminal(st.GetState()) {
					e.forgetLocked(a.TaskID.Value, time.Now())
				}
				break
			}
		}
		delete(e.unackedTasks, a.TaskID.Value)
		e.mu.Unlock()
		select {
		case e.acked <- struct{}{}:
		default:
		}
	case mexec.Event_MESSAGE:
		e.Log.V(2).Info("Message from the framework", "bytes", len(ev.GetMessage().Data))
		if e.Messages != nil {
			e.Messages.Message(ev.GetMessage().Data)
		}
	case mexec.Event_ERROR:
		e.Log.Info("Error from the agent", "message", ev.GetError().Message)
	case mexec.Event_HEARTBEAT:
	default:
		e.Log.V(1).Info("Ignoring an unknown event", "type", ev.GetType().String())
	}
}

// launch starts one pod task.
func (e *Executor) launch(ctx context.Context, info mesos.TaskInfo) {
	id := info.TaskID.Value
	e.mu.Lock()
	if _, dup := e.tasks[id]; dup {
		e.mu.Unlock()
		return
	}
	t := &task{info: info, done: make(chan struct{})}
	e.tasks[id] = t
	e.unackedTasks[id] = info
	e.mu.Unlock()

	pod, err := DecodePod(info.Data, e.Runtime.Supports)
	if err != nil {
		e.update(ctx, t, mesos.TASK_FAILED, nil, "Cannot run the pod: "+err.Error(), mesos.REASON_TASK_INVALID.Enum())
		return
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[AnnotationTaskID] = id
	t.mu.Lock()
	t.pod = pod.DeepCopy()
	t.pod.Status = corev1.PodStatus{Phase: corev1.PodPending}
	t.mu.Unlock()
	e.update(ctx, t, mesos.TASK_STARTING, &corev1.PodStatus{Phase: corev1.PodPending}, "", nil)
	sandbox := e.sandboxOf(id)
	h, err := e.Runtime.Start(pod, sandbox, func(r Report) { e.report(ctx, t, pod, r) })
	if err != nil {
		e.update(ctx, t, mesos.TASK_FAILED, nil, "Cannot run the pod: "+err.Error(), mesos.REASON_TASK_INVALID.Enum())
		return
	}
	t.mu.Lock()
	t.handle = h
	t.mu.Unlock()
	e.Log.Info("Launched a pod", "task", id, "pod", pod.Namespace+"/"+pod.Name)
}

// report turns a runtime report into a task update. Its state is chosen and its update
// made under t.mu, as startKilling marks the task killing and reports TASK_KILLING: a
// report that found the pod RUNNING before a KILL cannot go out after its TASK_KILLING.
// Holding t.mu while the update goes out takes no lock the runtime holds while it
// reports, nor waits for the runtime: nothing done under t.mu calls into it.
func (e *Executor) report(ctx context.Context, t *task, pod *corev1.Pod, r Report) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pod != nil {
		t.pod.Status = *r.Status.DeepCopy()
	}
	e.updateLocked(ctx, t, reportedState(t, r), &r.Status, r.Message, nil)
	_ = pod
}

// update sends a task status update with the pod's status as data, once per change,
// and keeps it until the agent acknowledges it.
func (e *Executor) update(ctx context.Context, t *task, state mesos.TaskState, ps *corev1.PodStatus, msg string, reason *mesos.TaskStatus_Reason) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e.updateLocked(ctx, t, state, ps, msg, reason)
}

// updateLocked is update with t.mu held.
func (e *Executor) updateLocked(ctx context.Context, t *task, state mesos.TaskState, ps *corev1.PodStatus, msg string, reason *mesos.TaskStatus_Reason) {
	if t.terminal {
		return
	}
	var data []byte
	var healthy *bool
	if ps != nil {
		data, _ = json.Marshal(ps)
		if hasProbes(t) {
			ok := podReady(ps)
			healthy = &ok
		}
	}
	key := state.String() + "\x00" + msg + "\x00" + string(data)
	if key == t.lastKey {
		return
	}
	t.lastKey, t.state = key, state
	u := uuid.New()
	now := float64(time.Now().UnixNano()) / 1e9
	execID := mesos.ExecutorID{Value: e.Config.ExecutorID}
	status := mesos.TaskStatus{
		TaskID: t.info.TaskID, State: state.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum(),
		ExecutorID: &execID, UUID: u[:], Data: data, Healthy: healthy, Timestamp: &now, Reason: reason,
	}
	if msg != "" {
		status.Message = &msg
	}
	e.mu.Lock()
	// An earlier update of the task that has not been delivered goes first: this one
	// waits for the resender, which sends it after that one.
	behind := false
	for _, p := range e.unacked {
		behind = behind || (!p.delivered && p.call.Status.TaskID == status.TaskID)
	}
	// On a context that ended (the executor is stopping) it cannot go out: it is kept
	// before the task is done, for stopped to send it.
	send := !behind && ctx.Err() == nil
	pending := unackedUpdate{call: mexec.Call_Update{Status: status}}
	if send {
		pending.sending = 1
	}
	e.unacked = append(e.unacked, pending)
	e.mu.Unlock()
	if isTerminal(state) {
		// Done once its terminal update is kept for sending (shutDown waits for it).
		t.terminal = true
		close(t.done)
	}
	if !send {
		return
	}
	err := calls.SendNoData(ctx, e.sender, calls.NonStreaming(calls.Update(status)))
	if err != nil {
		e.Log.Info("Could not send an update; sending it again", "task", t.info.TaskID.Value, "state", state.String(), "error", err.Error())
	}
	e.sent([][]byte{u[:]}, err == nil)
}

// sent records that a call carrying the updates with those uuids was answered, and
// whether the agent took them.
func (e *Executor) sent(uuids [][]byte, delivered bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range uuids {
		for i := range e.unacked {
			if p := &e.unacked[i]; bytes.Equal(p.call.Status.UUID, id) {
				p.sending--
				p.delivered = p.delivered || delivered
			}
		}
	}
}

// resendEvery is how often updates that could not be sent are tried again.
const resendEvery = time.Second

// resend sends, in order, the updates whose sending failed (an agent answers 503 while
// it recovers from a restart, say), until one fails again.
func (e *Executor) resend(ctx context.Context) {
	t := time.NewTicker(resendEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.pruneSandboxes(time.Now())
		case <-e.kick:
		}
		e.sendUnsent(ctx, false)
	}
}

// sendUnsent sends, in order, the updates not delivered yet whose tasks' earlier updates
// were, until one fails again. An update a call under way carries is left to that call
// (and its task's later updates wait for it) unless again: then it is sent once more.
func (e *Executor) sendUnsent(ctx context.Context, again bool) {
	for {
		e.mu.Lock()
		var next *mesos.TaskStatus
		waiting := map[string]bool{} // tasks with an update not delivered before
		for i := range e.unacked {
			p := &e.unacked[i]
			id := p.call.Status.TaskID.Value
			if p.delivered || waiting[id] {
				continue
			}
			waiting[id] = true
			if p.sending == 0 || again {
				st := p.call.Status
				next = &st
				p.sending++
				break
			}
		}
		e.mu.Unlock()
		if next == nil {
			return
		}
		err := calls.SendNoData(ctx, e.sender, calls.NonStreaming(calls.Update(*next)))
		e.sent([][]byte{next.UUID}, err == nil)
		if err != nil {
			return
		}
	}
}

func hasProbes(t *task) bool {
	return bytes.Contains(t.info.Data, []byte(`"readinessProbe"`)) || bytes.Contains(t.info.Data, []byte(`"livenessProbe"`))
}

// podReady is whether the pod's containers are ready, the task's health: its
// ContainersReady, else its Ready. Not Ready where it is there: a pod with readiness
// gates is not Ready until other controllers set their conditions on the API pod, which
// the runtime never sees (a kubelet's static pod keeps ReadinessGatesNotReady for good);
// the manager weighs the gates itself.
func podReady(s *corev1.PodStatus) bool {
	var ready *corev1.PodCondition
	for i := range s.Conditions {
		switch c := &s.Conditions[i]; c.Type {
		case corev1.ContainersReady:
			return c.Status == corev1.ConditionTrue
		case corev1.PodReady:
			ready = c
		}
	}
	return ready != nil && ready.Status == corev1.ConditionTrue
}

func isTerminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR, mesos.TASK_LOST, mesos.TASK_DROPPED:
		return true
	}
	return false
}
