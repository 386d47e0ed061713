package mesossim

import (
	"maps"
	"slices"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// The machines' modes: a schedule makes its machines DRAINING, START_MAINTENANCE makes
// DRAINING machines DOWN (their agents removed), STOP_MAINTENANCE makes DOWN machines UP
// again (Mesos: docs/maintenance.md, src/master/http.cpp).

// msgMachineDown is why START_MAINTENANCE removes the agents of a machine
// (Master::Http::_startMaintenance).
const msgMachineDown = "Operator initiated 'Machine DOWN'"

// unavailabilityIn is the unavailability a schedule gives a machine, nil when it does not
// name the machine.
func unavailabilityIn(s maintenance.Schedule, id mesos.MachineID) *mesos.Unavailability {
	var out *mesos.Unavailability
	for _, w := range s.Windows {
		for _, mid := range w.MachineIDs {
			if sameMachine(mid, id) {
				u := w.Unavailability
				out = &u
			}
		}
	}
	return out
}

// updateScheduleLocked replaces the schedule with a valid one, as
// Master::Http::___updateMaintenanceSchedule does: every machine the master knows that
// the schedule leaves out goes UP without an unavailability (an UP machine no schedule
// named included), every machine it names that is DRAINING or DOWN takes its new
// unavailability, and every other machine it names goes DRAINING with its window's. Each
// change goes through Master::updateUnavailability, which rescinds the offers and inverse
// offers of the machine's agents whether or not the unavailability changed: any update
// rescinds every outstanding offer of every registered agent. The allocator then
// allocates at once (HierarchicalAllocatorProcess::updateUnavailability, generateOffers).
func (m *Master) updateScheduleLocked(s maintenance.Schedule) {
	for _, mach := range slices.Clone(m.maint.machines) {
		if u := unavailabilityIn(s, mach.key); u != nil {
			if mach.mode != mesos.UP {
				m.updateUnavailabilityLocked(mach, u)
			}
			continue
		}
		mach.mode = mesos.UP
		m.updateUnavailabilityLocked(mach, nil)
	}
	for _, w := range s.Windows {
		for _, id := range w.MachineIDs {
			mach := m.maint.findMachine(id)
			if mach != nil && mach.mode != mesos.UP {
				continue
			}
			if mach == nil {
				mach = &machine{key: id}
				m.maint.machines = append(m.maint.machines, mach)
			}
			mach.id, mach.mode = id, mesos.DRAINING
			u := w.Unavailability
			m.updateUnavailabilityLocked(mach, &u)
		}
	}
	m.maint.schedule = &s
	m.allocateSoonLocked()
}

// updateUnavailabilityLocked sets a machine's unavailability (none when nil), as
// Master::updateUnavailability does: each agent registered on it has its offers
// rescinded, then its inverse offers, and the allocator starts its maintenance anew
// (HierarchicalAllocatorProcess::updateUnavailability: no answers recorded, no inverse
// offer outstanding, every framework's inverse offer filters of the agent dropped).
func (m *Master) updateUnavailabilityLocked(mach *machine, u *mesos.Unavailability) {
	mach.unavailability = u
	for _, a := range m.agentsOnLocked(mach) {
		m.rescindOffersOfAgentLocked(a)
		m.resetAgentMaintenanceLocked(a)
	}
}

// startMaintenanceLocked brings machines DOWN as Master::Http::_startMaintenance does:
// the machines must be valid (maintenance::validation::machines), each known to the
// master (scheduled, or with an agent that registered on it) and DRAINING; then every
// agent registered on them is told to shut down and removed (machineDownLocked), and the
// machines are DOWN, in the registry too.
func (m *Master) startMaintenanceLocked(ids []mesos.MachineID) error {
	if err := m.machinesInModeLocked(ids, mesos.DRAINING, "down"); err != nil {
		return err
	}
	for _, id := range ids {
		for _, a := range m.agentsOnLocked(m.maint.findMachine(id)) {
			m.machineDownLocked(a)
		}
	}
	for _, id := range ids {
		m.maint.findMachine(id).mode = mesos.DOWN
	}
	return nil
}

// machineDownLocked removes an agent of a machine brought DOWN. The master sends it a
// ShutdownMessage, and the agent shuts its frameworks down, killing their executors and
// tasks and reporting none of it; the sim's agent process does not come back. The master
// removes it at once (Master::removeSlave, _removeSlave, with "Operator initiated 'Machine
// DOWN'"), not as unreachable nor gone: the allocator forgets the agent (its filters
// with it); every task the master holds there, a terminal one whose update is not
// acknowledged yet included, is sent TASK_LOST, REASON_SLAVE_REMOVED, SOURCE_MASTER,
// "Agent <hostname> removed: Operator initiated 'Machine DOWN'", with the task's executor
// id and no unreachable_time, whether the framework is PARTITION_AWARE or not, and is
// completed (its id free again); then the agent's offers are rescinded, its inverse
// offers too, and every connected framework gets FAILURE naming the agent
// (sendSlaveLost). Reconciliation then answers for its tasks as for an agent the master
// does not know (TASK_UNKNOWN).
func (m *Master) machineDownLocked(a *agent) {
	a.gone, a.removed, a.forgotten, a.shutDown = true, true, true, true
	msg := "Agent " + a.hostname + " removed: " + msgMachineDown
	for _, fw := range m.frameworks {
		for _, t := range fw.tasks {
			if t.agent != a || fw.removed || !t.heldByMaster() {
				continue
			}
			if !isTerminal(t.state) {
				t.state = mesos.TASK_LOST // Master::updateTask leaves a terminal state as it is
			}
			t.unreachable = false
			fw.send(updateEvent(taskStatus(fw, t, mesos.TASK_LOST, mesos.REASON_AGENT_REMOVED, msg)))
		}
	}
	m.shutdownAgentLocked(a)
	m.endAgentTasksLocked(a)
	clear(a.executors) // Master::removeExecutor, for each
	m.rescindOffersOfAgentLocked(a)
	m.dropFiltersOfAgentLocked(a)
	for _, fw := range m.frameworks {
		fw.send(&scheduler.Event{Type: scheduler.Event_FAILURE, Failure: &scheduler.Event_Failure{AgentID: &mesos.AgentID{Value: a.id}}})
	}
}

// endAgentTasksLocked stops the simulation of the tasks of an agent that shut down: they
// end with it, and nothing of them reaches the master.
func (m *Master) endAgentTasksLocked(a *agent) {
	for _, fw := range m.frameworks {
		for _, t := range fw.tasks {
			if t.agent != a {
				continue
			}
			select {
			case <-t.finished:
			default:
				close(t.finished)
			}
		}
	}
}

// stopMaintenanceLocked brings DOWN machines UP as Master::Http::_stopMaintenance does:
// the machines must be valid, known and DOWN; they go UP without an unavailability and
// leave the schedule (a window left without machines goes, and the schedule with its
// last window). Nothing is rescinded: no agent is registered on a DOWN machine.
func (m *Master) stopMaintenanceLocked(ids []mesos.MachineID) error {
	if err := m.machinesInModeLocked(ids, mesos.DOWN, "up"); err != nil {
		return err
	}
	for _, id := range ids {
		mach := m.maint.findMachine(id)
		mach.mode, mach.unavailability = mesos.UP, nil
	}
	s := m.maint.schedule
	if s == nil {
		return nil
	}
	var windows []maintenance.Window
	for _, w := range s.Windows {
		w.MachineIDs = slices.DeleteFunc(slices.Clone(w.MachineIDs), func(id mesos.MachineID) bool {
			return slices.ContainsFunc(ids, func(x mesos.MachineID) bool { return sameMachine(x, id) })
		})
		if len(w.MachineIDs) > 0 {
			windows = append(windows, w)
		}
	}
	s.Windows = windows
	if len(windows) == 0 {
		m.maint.schedule = nil
	}
	return nil
}

// MaintenanceStatus is the cluster's maintenance status, as GET_MAINTENANCE_STATUS
// answers it (Master::Http::_getMaintenanceStatus): each DRAINING machine with the latest
// answer of each framework to an inverse offer of an agent registered on it (the
// allocator's, kept until the machine's unavailability changes or the master fails
// over), and the DOWN machines; UP machines are not listed.
func (m *Master) MaintenanceStatus() maintenance.ClusterStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out maintenance.ClusterStatus
	for _, mach := range m.maint.machines {
		switch mach.mode {
		case mesos.DRAINING:
			dm := maintenance.ClusterStatus_DrainingMachine{ID: mach.key}
			for _, a := range m.agentsOnLocked(mach) {
				am := m.maint.agents[a.id]
				if am == nil {
					continue
				}
				for _, fwID := range slices.Sorted(maps.Keys(am.statuses)) {
					dm.Statuses = append(dm.Statuses, am.statuses[fwID])
				}
			}
			out.DrainingMachines = append(out.DrainingMachines, dm)
		case mesos.DOWN:
			out.DownMachines = append(out.DownMachines, mach.key)
		}
	}
	return out
}

// failoverMaintenanceLocked is what of maintenance a master failover keeps: the schedule
// and the machines that are not UP, from the registry (Master::_recover), known by their
// MachineInfo.id; the machines of the agents that register again at once are known
// again (Master::addSlave). The inverse offers, the answers to them and the allocator's
// maintenance state live in memory only: the allocator takes each agent anew.
func (m *Master) failoverMaintenanceLocked() {
	clear(m.maint.inverse)
	m.maint.machines = slices.DeleteFunc(m.maint.machines, func(mach *machine) bool { return mach.mode == mesos.UP })
	for _, mach := range m.maint.machines {
		mach.key = mach.id
	}
	for _, a := range m.agents {
		if a.registered() {
			m.noteMachineLocked(a)
		}
		m.resetAgentMaintenanceLocked(a)
	}
}

// machinesInModeLocked checks the machines of a START_ or STOP_MAINTENANCE as
// Master::Http::_startMaintenance and _stopMaintenance do: valid, each known to the
// master and in mode, else 400 with their message (to bring them down, or up).
func (m *Master) machinesInModeLocked(ids []mesos.MachineID, mode mesos.MachineInfo_Mode, to string) error {
	if why := validateMachines(ids); why != "" {
		return badRequest("%s", why)
	}
	for _, id := range ids {
		mach := m.maint.findMachine(id)
		if mach == nil {
			return badRequest("Machine '%s' is not part of a maintenance schedule", machineJSON(id))
		}
		if mach.mode != mode {
			return badRequest("Machine '%s' is not in %s mode and cannot be brought %s", machineJSON(id), mode, to)
		}
	}
	return nil
}
