package mesossim

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
	"github.com/mesos/mesos-go/api/v1/lib/master"
)

// Maintenance primitives (Mesos: docs/maintenance.md) as Mesos 1.12's master keeps them:
// the schedule and, per machine, its mode and unavailability (src/master/http.cpp:
// Master::Http::_updateMaintenanceSchedule and the handlers after it; the registry
// operations of src/master/maintenance.cpp), through the operator API calls
// UPDATE_MAINTENANCE_SCHEDULE, GET_MAINTENANCE_SCHEDULE, GET_MAINTENANCE_STATUS,
// START_MAINTENANCE and STOP_MAINTENANCE and the Go methods of the same names. Offers of
// an agent whose machine has an unavailability carry it, and the frameworks using the
// agent get inverse offers (inverse.go).
//
// A machine is a MachineID: hostname (not case-sensitive) and ip, each set or not. An
// agent's machine is its hostname and the ip of its pid (Master::registerSlave), both set:
// a MachineID that leaves one out names no agent.

// machine is an entry of the master's machines (Master::machines): a machine that was
// scheduled, or one an agent registered with this master on (Master::addSlave adds it,
// UP, and it is never taken out). Only those not UP are in the registry, and survive a
// master failover (Master::_recover).
type machine struct {
	// key is the id the entry was first made under, which GET_MAINTENANCE_STATUS shows.
	key mesos.MachineID
	// id is MachineInfo.id: the schedule's, from when the machine last went DRAINING;
	// the registry keeps it, and a failed-over master knows the machine by it.
	id             mesos.MachineID
	mode           mesos.MachineInfo_Mode
	unavailability *mesos.Unavailability
}

// maintenanceState is the master's maintenance state and the allocator's (inverse.go).
type maintenanceState struct {
	machines []*machine
	// schedule is the one schedule (Master::maintenance.schedules: none until one is
	// posted, none again once STOP_MAINTENANCE took its last machine out).
	schedule *maintenance.Schedule
	// inverse are the outstanding inverse offers by id (Master::inverseOffers).
	inverse map[string]*inverseOffer
	// agents is the allocator's maintenance of each agent whose machine has an
	// unavailability, by agent id (HierarchicalAllocatorProcess's Slave::maintenance).
	agents map[string]*agentMaintenance
}

func newMaintenance() *maintenanceState {
	return &maintenanceState{inverse: map[string]*inverseOffer{}, agents: map[string]*agentMaintenance{}}
}

// agentMachine is the machine of an agent: its hostname and the ip of its pid.
func agentMachine(a *agent) mesos.MachineID {
	hostname, ip := a.hostname, a.ip
	return mesos.MachineID{Hostname: &hostname, IP: &ip}
}

// sameMachine is Mesos's MachineID equality (include/mesos/type_utils.hpp): the same
// fields set, the hostnames equal but for ASCII case, the ips equal.
func sameMachine(x, y mesos.MachineID) bool {
	return (x.Hostname == nil) == (y.Hostname == nil) && asciiLower(x.GetHostname()) == asciiLower(y.GetHostname()) &&
		(x.IP == nil) == (y.IP == nil) && x.GetIP() == y.GetIP()
}

// asciiLower is stout's strings::lower: ASCII letters only.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// machineJSON is a MachineID as Mesos words it in its messages (stringify of
// JSON::protobuf): the fields set, in field order, without spaces.
func machineJSON(id mesos.MachineID) string {
	var parts []string
	if id.Hostname != nil {
		parts = append(parts, `"hostname":`+jsonString(*id.Hostname))
	}
	if id.IP != nil {
		parts = append(parts, `"ip":`+jsonString(*id.IP))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// jsonString quotes a string as Mesos's JSON writer does: quote, backslash and control
// characters escaped, everything else as it is.
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\f':
			b.WriteString(`\f`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteString(strings.ToUpper(strconv.FormatUint(uint64(c)>>4, 16) + strconv.FormatUint(uint64(c)&15, 16)))
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// findMachine is the master's entry of a machine, nil when it has none.
func (s *maintenanceState) findMachine(id mesos.MachineID) *machine {
	for _, mach := range s.machines {
		if sameMachine(mach.key, id) {
			return mach
		}
	}
	return nil
}

// machineOfLocked is the entry of an agent's machine.
func (m *Master) machineOfLocked(a *agent) *machine { return m.maint.findMachine(agentMachine(a)) }

// noteMachineLocked makes an entry, UP, for the machine of an agent that registers, if
// the master has none (Master::addSlave).
func (m *Master) noteMachineLocked(a *agent) {
	if m.machineOfLocked(a) == nil {
		id := agentMachine(a)
		m.maint.machines = append(m.maint.machines, &machine{key: id, id: id, mode: mesos.UP})
	}
}

// agentsOnLocked are the agents registered on a machine (Machine::slaves): a partitioned
// or removed agent leaves it, an agent that restarts stays.
func (m *Master) agentsOnLocked(mach *machine) []*agent {
	var out []*agent
	for _, a := range m.agents {
		if a.registered() && sameMachine(mach.key, agentMachine(a)) {
			out = append(out, a)
		}
	}
	return out
}

// agentRegisteredLocked is what registering an agent does to maintenance: the master
// knows its machine, and the allocator takes the machine's unavailability for the agent
// (Master::addSlave, HierarchicalAllocatorProcess::addSlave).
func (m *Master) agentRegisteredLocked(a *agent) {
	m.noteMachineLocked(a)
	m.resetAgentMaintenanceLocked(a)
}

// refuseOnDownMachineLocked refuses an agent that registers, or registers again, while
// its machine is DOWN (Master::registerSlave, reregisterSlave): the master tells it to
// shut down ("Machine is `DOWN`"), and it does, its executors and tasks killed unreported.
// The master's view of it does not change: an unreachable agent stays unreachable, a
// recovered one recovered. Nil when the machine is not DOWN.
func (m *Master) refuseOnDownMachineLocked(a *agent) error {
	if mach := m.machineOfLocked(a); mach == nil || mach.mode != mesos.DOWN {
		return nil
	}
	m.shutdownAgentLocked(a)
	m.endAgentTasksLocked(a)
	a.shutDown = true
	return &httpError{http.StatusConflict, "agent " + a.name() + " was refused and told to shut down: Machine is `DOWN`"}
}

// UpdateMaintenanceSchedule replaces the maintenance schedule, as the operator call
// UPDATE_MAINTENANCE_SCHEDULE does; a schedule Mesos refuses is a 400 error with its
// message.
func (m *Master) UpdateMaintenanceSchedule(s maintenance.Schedule) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if why := m.validateScheduleLocked(s); why != "" {
		return badRequest("%s", why)
	}
	m.updateScheduleLocked(cloneSchedule(s))
	return nil
}

// MaintenanceSchedule is the maintenance schedule, as GET_MAINTENANCE_SCHEDULE answers.
func (m *Master) MaintenanceSchedule() maintenance.Schedule {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.maint.schedule == nil {
		return maintenance.Schedule{}
	}
	return cloneSchedule(*m.maint.schedule)
}

// StartMaintenance brings machines DOWN, as the operator call START_MAINTENANCE does.
func (m *Master) StartMaintenance(machines ...mesos.MachineID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.startMaintenanceLocked(machines)
}

// StopMaintenance brings DOWN machines back UP, as the operator call STOP_MAINTENANCE
// does.
func (m *Master) StopMaintenance(machines ...mesos.MachineID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stopMaintenanceLocked(machines)
}

// AgentMachine is the machine of an agent (by hostname, hostname:port or id), as the
// master matches agents to the machines of a schedule.
func (m *Master) AgentMachine(hostname string) (mesos.MachineID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.agentByHostname(hostname)
	if a == nil {
		return mesos.MachineID{}, noAgent(hostname)
	}
	return agentMachine(a), nil
}

// cloneSchedule is a deep copy of a schedule.
func cloneSchedule(s maintenance.Schedule) maintenance.Schedule {
	b, err := s.Marshal()
	var out maintenance.Schedule
	if err != nil || out.Unmarshal(b) != nil {
		return s
	}
	return out
}

// maintenanceCall answers the maintenance calls of the operator API, as
// Master::Http::api does once validation::master::call::validate has checked the call
// carries its message; nil for the calls answered 200 OK without a body.
func (m *Master) maintenanceCall(call *master.Call) (*master.Response, error) {
	missing := func(field string) error {
		return badRequest("Failed to validate master::Call: Expecting '%s' to be present", field)
	}
	switch call.GetType() {
	case master.Call_GET_MAINTENANCE_SCHEDULE:
		s := m.MaintenanceSchedule()
		return &master.Response{Type: master.Response_GET_MAINTENANCE_SCHEDULE,
			GetMaintenanceSchedule: &master.Response_GetMaintenanceSchedule{Schedule: s}}, nil
	case master.Call_GET_MAINTENANCE_STATUS:
		return &master.Response{Type: master.Response_GET_MAINTENANCE_STATUS,
			GetMaintenanceStatus: &master.Response_GetMaintenanceStatus{Status: m.MaintenanceStatus()}}, nil
	case master.Call_UPDATE_MAINTENANCE_SCHEDULE:
		if call.UpdateMaintenanceSchedule == nil {
			return nil, missing("update_maintenance_schedule")
		}
		return nil, m.UpdateMaintenanceSchedule(call.UpdateMaintenanceSchedule.Schedule)
	case master.Call_START_MAINTENANCE:
		if call.StartMaintenance == nil {
			return nil, missing("start_maintenance")
		}
		return nil, m.StartMaintenance(call.StartMaintenance.Machines...)
	default: // STOP_MAINTENANCE
		if call.StopMaintenance == nil {
			return nil, missing("stop_maintenance")
		}
		return nil, m.StopMaintenance(call.StopMaintenance.Machines...)
	}
}

// validateScheduleLocked is maintenance::validation::schedule (src/master/
// maintenance.cpp): every window names machines and a duration that is not negative,
// every machine is valid and appears once, and no DOWN machine leaves the schedule.
func (m *Master) validateScheduleLocked(s maintenance.Schedule) string {
	var updated []mesos.MachineID
	for _, w := range s.Windows {
		if len(w.MachineIDs) == 0 {
			return "List of machines in the maintenance window is empty"
		}
		if d := w.Unavailability.Duration; d != nil && d.Nanoseconds < 0 {
			return "Unavailability 'duration' is negative"
		}
		for _, id := range w.MachineIDs {
			if why := validateMachine(id); why != "" {
				return why
			}
			if slices.ContainsFunc(updated, func(u mesos.MachineID) bool { return sameMachine(u, id) }) {
				return "Machine '" + machineJSON(id) + "' appears more than once in the schedule"
			}
			updated = append(updated, id)
		}
	}
	for _, mach := range m.maint.machines {
		if mach.mode == mesos.DOWN && !slices.ContainsFunc(updated, func(u mesos.MachineID) bool { return sameMachine(u, mach.key) }) {
			return "Machine '" + machineJSON(mach.key) + "' is deactivated and cannot be removed from the schedule"
		}
	}
	return ""
}

// validateMachines is maintenance::validation::machines, for START_MAINTENANCE and
// STOP_MAINTENANCE.
func validateMachines(ids []mesos.MachineID) string {
	if len(ids) == 0 {
		return "List of machines is empty"
	}
	for i, id := range ids {
		if why := validateMachine(id); why != "" {
			return why
		}
		if slices.ContainsFunc(ids[:i], func(u mesos.MachineID) bool { return sameMachine(u, id) }) {
			return "Machine '" + machineJSON(id) + "' appears more than once in the schedule"
		}
	}
	return ""
}

// validateMachine is maintenance::validation::machine: a hostname or an ip, and an ip
// that is an IPv4 address.
func validateMachine(id mesos.MachineID) string {
	switch {
	case id.GetHostname() == "" && id.GetIP() == "":
		return "Both 'hostname' and 'ip' for a machine are empty"
	case id.GetIP() != "" && !validIPv4(id.GetIP()):
		return "Failed to parse IPv4: " + id.GetIP() // stout's net::IP::parse(ip, AF_INET)
	}
	return ""
}

// validIPv4 is inet_pton(AF_INET) as glibc reads a C string: four dotted decimal
// numbers up to 255, without leading zeros.
func validIPv4(s string) bool {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	octets, cur, sawDigit := 0, 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if sawDigit && cur == 0 {
				return false
			}
			if cur = cur*10 + int(c-'0'); cur > 255 {
				return false
			}
			if !sawDigit {
				if octets++; octets > 4 {
					return false
				}
				sawDigit = true
			}
		case c == '.' && sawDigit:
			if octets == 4 {
				return false
			}
			cur, sawDigit = 0, false
		default:
			return false
		}
	}
	return octets == 4
}
