package mesossim

import (
	"net"
	"net/http"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// Observer is told what the master receives from frameworks and sends them, so that a
// test can hold a framework to Mesos's rules from the master's side (test/chaos: no task
// launched while an earlier launch of it is live, no update acknowledged before the
// framework persisted it). Set it in Config.Observer; nil functions are not called.
type Observer struct {
	// Launch is called for every task of a LAUNCH or LAUNCH_GROUP operation in an ACCEPT
	// the master processes, before it checks the task, with the master's lock held: it
	// must return quickly and must not call the master.
	Launch func(ObservedLaunch)
	// Update is called for every status update sent to a subscribed framework, from an
	// agent or from the master (reconciliation answers, partitions), and again for every
	// resend and duplicate, before the framework can receive it (an update its stream
	// cannot take is called for, then lost with the stream), with the master's lock
	// held: it must return quickly and must not call the master.
	Update func(frameworkID string, status mesos.TaskStatus)
	// Ended is called when the master records that a task ended: a terminal status its
	// agent reported, which Master::updateTask takes for the task's state (a status's
	// latest_state), freeing its resources. That is often before the update is sent: an
	// agent sends a task's updates one at a time, each once the one before is
	// acknowledged (a KILL's TASK_KILLED waits behind its TASK_KILLING). Called with the
	// master's lock held: it must return quickly and must not call the master.
	Ended func(frameworkID string, status mesos.TaskStatus)
	// Acknowledge is called for every ACKNOWLEDGE call the master receives, before the
	// master applies it and before the call is answered, without the master's lock: the
	// framework waits for its answer while Acknowledge runs, so it may look at what the
	// framework wrote before it acknowledged.
	Acknowledge func(frameworkID string, ack scheduler.Call_Acknowledge)
	// Subscribed is called when a framework subscribes (or subscribes again), as the
	// master sends it SUBSCRIBED, with the master's lock held: it must return quickly and
	// must not call the master.
	Subscribed func(frameworkID string)
	// Called is called for every call of a subscribed framework the master takes (its
	// stream id checked), before it is applied, with the master's lock held: it must
	// return quickly and must not call the master.
	Called func(frameworkID string, call scheduler.Call_Type)
	// Offered is called for every batch of offers sent to a framework, with how many
	// it holds, with the master's lock held: it must return quickly and must not call
	// the master.
	Offered func(frameworkID string, offers int)
	// Connected is called for every connection the master's HTTP server accepts, from
	// its serving goroutine: it must return quickly and must not call the master.
	Connected func()
}

// ObservedLaunch is one task a framework asked the master to launch.
type ObservedLaunch struct {
	FrameworkID string
	AgentID     string
	Task        mesos.TaskInfo
	// Live lists the tasks of the same id, in any framework, that the master took for
	// live (in a non-terminal state, TASK_UNREACHABLE included) when the launch came.
	Live []LiveTask
}

// LiveTask is a task the master knows in a non-terminal state.
type LiveTask struct {
	FrameworkID string
	AgentID     string
	State       mesos.TaskState
}

// observeLaunchesLocked tells the observer of the tasks an ACCEPT launches.
func (m *Master) observeLaunchesLocked(fw *framework, acc *scheduler.Call_Accept) {
	o := m.cfg.Observer
	if o == nil || o.Launch == nil {
		return
	}
	for _, op := range acc.Operations {
		for _, ti := range launchTasks(op) {
			o.Launch(ObservedLaunch{FrameworkID: fw.id, AgentID: ti.AgentID.Value, Task: ti, Live: m.liveTasksLocked(ti.TaskID.Value)})
		}
	}
}

// liveTasksLocked lists the non-terminal tasks of an id in every framework.
func (m *Master) liveTasksLocked(taskID string) []LiveTask {
	var live []LiveTask
	for _, fw := range m.frameworks {
		if t := fw.tasks[taskID]; t != nil && !isTerminal(t.state) {
			live = append(live, LiveTask{FrameworkID: fw.id, AgentID: t.agent.id, State: t.state})
		}
	}
	return live
}

// observeAcknowledge tells the observer of an ACKNOWLEDGE call before it is applied.
func (m *Master) observeAcknowledge(call *scheduler.Call) {
	o := m.cfg.Observer
	if o == nil || o.Acknowledge == nil || call.Type != scheduler.Call_ACKNOWLEDGE || call.GetAcknowledge() == nil {
		return
	}
	o.Acknowledge(call.FrameworkID.Value, *call.GetAcknowledge())
}

// observeSent tells the observer of an update sent on a framework's stream.
func (fw *framework) observeSent(e *scheduler.Event) {
	if fw.observer == nil || fw.observer.Update == nil || e.Type != scheduler.Event_UPDATE || e.Update == nil {
		return
	}
	fw.observer.Update(fw.id, e.Update.Status)
}

// observeEnded tells the observer of a task's end the master recorded.
func (m *Master) observeEnded(t *task, st mesos.TaskStatus) {
	if o := m.cfg.Observer; o != nil && o.Ended != nil {
		o.Ended(t.fw.id, st)
	}
}

// observeConn tells the observer of each connection the master accepts.
func (m *Master) observeConn(_ net.Conn, state http.ConnState) {
	if o := m.cfg.Observer; o != nil && o.Connected != nil && state == http.StateNew {
		o.Connected()
	}
}
