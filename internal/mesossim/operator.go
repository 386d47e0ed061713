package mesossim

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
)

// The master's operator API (POST /api/v1), as much of it as frameworks and people use
// with the sim: GET_HEALTH, GET_VERSION, GET_AGENTS, GET_FRAMEWORKS, GET_EXECUTORS,
// GET_TASKS, TEARDOWN and the maintenance calls (maintenance.go), with Mesos's rules for
// methods, content types and Accept (src/master/http.cpp, Master::Http::api). Other calls
// are answered 501.

// simVersion is the Mesos version the sim answers as.
const simVersion = "1.12.0"

func (m *Master) serveOperator(w http.ResponseWriter, r *http.Request) {
	if _, ok := m.authenticated(w, r, realmReadWrite, m.cfg.AuthenticateHTTPReadWrite); !ok {
		return
	}
	ct, body, ok := readCall(w, r, 16<<20)
	if !ok {
		return
	}
	protobuf, ok := accepts(r)
	if !ok {
		writeError(w, http.StatusNotAcceptable, "Expecting 'Accept' to allow "+mediaJSON+" or "+mediaProtobuf)
		return
	}
	call, err := decodeOperatorCall(ct, body)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}

	var resp master.Response
	switch call.GetType() {
	case master.Call_UNKNOWN:
		writeError(w, http.StatusBadRequest, "Failed to validate master::Call: Expecting 'type' to be present")
		return
	case master.Call_GET_HEALTH:
		resp = master.Response{Type: master.Response_GET_HEALTH, GetHealth: &master.Response_GetHealth{Healthy: true}}
	case master.Call_GET_VERSION:
		resp = master.Response{Type: master.Response_GET_VERSION, GetVersion: &master.Response_GetVersion{
			VersionInfo: mesos.VersionInfo{Version: simVersion}}}
	case master.Call_GET_AGENTS:
		resp = master.Response{Type: master.Response_GET_AGENTS, GetAgents: m.getAgents()}
	case master.Call_GET_FRAMEWORKS:
		resp = master.Response{Type: master.Response_GET_FRAMEWORKS, GetFrameworks: m.getFrameworks()}
	case master.Call_GET_EXECUTORS:
		resp = master.Response{Type: master.Response_GET_EXECUTORS, GetExecutors: m.getExecutors()}
	case master.Call_GET_TASKS:
		resp = master.Response{Type: master.Response_GET_TASKS, GetTasks: m.getTasks()}
	case master.Call_TEARDOWN:
		if !m.teardown(call.GetTeardown().GetFrameworkID().Value) {
			writeError(w, http.StatusBadRequest, "No framework found with specified ID")
			return
		}
		w.WriteHeader(http.StatusOK) // Mesos's OK(), no body
		return
	case master.Call_GET_MAINTENANCE_SCHEDULE, master.Call_GET_MAINTENANCE_STATUS, master.Call_UPDATE_MAINTENANCE_SCHEDULE,
		master.Call_START_MAINTENANCE, master.Call_STOP_MAINTENANCE:
		mresp, merr := m.maintenanceCall(call)
		if merr != nil || mresp == nil {
			writeOK(w, merr) // the calls that change maintenance answer OK(), no body
			return
		}
		resp = *mresp
	default:
		writeError(w, http.StatusNotImplemented, fmt.Sprintf("%s is not implemented by mesos-sim", call.GetType()))
		return
	}

	var out []byte
	if protobuf {
		out, err = resp.Marshal()
		w.Header().Set("Content-Type", mediaProtobuf)
	} else {
		out, err = marshalJSON(&resp)
		w.Header().Set("Content-Type", mediaJSON)
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	_, _ = w.Write(out)
}

// decodeOperatorCall parses a call in its content type, as Master::Http::api does: from
// JSON, a call that lacks a field proto2 requires is refused, as stout's protobuf::parse
// refuses it (a schedule's window without its unavailability, say).
func decodeOperatorCall(contentType string, body []byte) (*master.Call, error) {
	var call master.Call
	if err := unmarshal(contentType, body, &call); err != nil {
		return nil, badRequest("Failed to parse body into Call: %v", err)
	}
	if contentType == mediaJSON {
		var raw any
		if json.Unmarshal(body, &raw) == nil {
			if missing := missingRequired(&call, raw); len(missing) > 0 {
				return nil, badRequest("Failed to convert JSON into Call protobuf: Missing required fields: %s", strings.Join(missing, ", "))
			}
		}
	}
	return &call, nil
}

// writeOK answers a call that changes the master: OK() without a body, or the error.
func writeOK(w http.ResponseWriter, err error) {
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	w.WriteHeader(http.StatusOK)
}

// getAgents lists the registered agents, as GET_AGENTS does: partitioned and removed
// agents are not registered any more and are left out; those a failed-over master
// recovered from its registry and that have not registered with it yet are listed apart,
// as recovered_agents, each its AgentInfo (readonly_handler.cpp, jsonifyGetAgents).
func (m *Master) getAgents() *master.Response_GetAgents {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := &master.Response_GetAgents{}
	for _, a := range m.agents {
		if a.recovered {
			port := a.port
			out.RecoveredAgents = append(out.RecoveredAgents, mesos.AgentInfo{ID: &mesos.AgentID{Value: a.id}, Hostname: a.hostname,
				Port: &port, Resources: a.total.toResources("", true), Attributes: a.attrs, Domain: a.domain})
		}
		if !a.registered() {
			continue
		}
		offered := newPool()
		for _, o := range m.offers {
			if o.agent == a {
				offered.add(o.res)
			}
		}
		allocated := a.total.clone()
		allocated.subtract(a.free)
		allocated.subtract(offered)
		port := a.port
		hostname := a.hostname
		// AgentInfo.port is the port the agent listens on (slave.cpp: Slave::initialize
		// sets it from its own pid), and pid is that libprocess pid.
		out.Agents = append(out.Agents, master.Response_GetAgents_Agent{
			AgentInfo: mesos.AgentInfo{
				ID: &mesos.AgentID{Value: a.id}, Hostname: hostname, Port: &port,
				Resources: a.total.toResources("", true), Attributes: a.attrs, Domain: a.domain,
			},
			Active:             a.connected(), // false while it restarts
			Version:            simVersion,
			PID:                ptr(fmt.Sprintf("slave(1)@%s:%d", a.ip, a.port)),
			TotalResources:     a.total.toResources("", true),
			AllocatedResources: allocated.toResources("", true),
			OfferedResources:   offered.toResources("", true),
		})
	}
	return out
}

// getExecutors lists the executors the master knows, as GET_EXECUTORS does
// (readonly_handler.cpp): each framework's on each agent it holds them for, with the
// ExecutorInfo of their launch, the framework id filled in where the launch left it
// out (Master::_accept). An agent's executors leave the master with the agent when it
// is partitioned or removed (__removeSlave), and with the executor when it ends; a
// failed-over master knows them once the agent has registered with it.
func (m *Master) getExecutors() *master.Response_GetExecutors {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := &master.Response_GetExecutors{}
	for _, a := range m.agents {
		if !a.registered() {
			continue
		}
		keys := make([]string, 0, len(a.executors))
		for k := range a.executors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fwID, _, _ := strings.Cut(k, "/")
			if m.frameworks[fwID] == nil {
				continue
			}
			info := a.executors[k]
			if info.FrameworkID == nil {
				info.FrameworkID = &mesos.FrameworkID{Value: fwID}
			}
			out.Executors = append(out.Executors, master.Response_GetExecutors_Executor{ExecutorInfo: info, AgentID: mesos.AgentID{Value: a.id}})
		}
	}
	return out
}

// getFrameworks lists the frameworks the master knows, removed ones under completed.
func (m *Master) getFrameworks() *master.Response_GetFrameworks {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := &master.Response_GetFrameworks{}
	for _, id := range slices.Sorted(maps.Keys(m.frameworks)) {
		fw := m.frameworks[id]
		if fw.unknown {
			continue // a failed-over master knows it once an agent of it registers again
		}
		info := fw.info
		info.ID = &mesos.FrameworkID{Value: fw.id}
		f := master.Response_GetFrameworks_Framework{
			FrameworkInfo: info, Active: fw.stream != nil && !fw.removed, Connected: fw.stream != nil,
			Recovered:      fw.recovered && !fw.removed,
			RegisteredTime: timeInfo(fw.registered), ReregisteredTime: timeInfo(fw.reregistered),
		}
		for _, o := range m.offers {
			if o.fw == fw {
				f.Offers = append(f.Offers, m.offerProto(o))
			}
		}
		f.InverseOffers = m.inverseOffersOfLocked(fw)
		if fw.removed {
			out.CompletedFrameworks = append(out.CompletedFrameworks, f)
		} else {
			out.Frameworks = append(out.Frameworks, f)
		}
	}
	return out
}

// timeInfo is t as Mesos's TimeInfo, nil when zero.
func timeInfo(t time.Time) *mesos.TimeInfo {
	if t.IsZero() {
		return nil
	}
	return &mesos.TimeInfo{Nanoseconds: t.UnixNano()}
}

// HoldResources takes resources of an agent away from the frameworks, as another
// framework's tasks (or a reservation for another role) would: they stay in the agent's
// total in GET_AGENTS but are never offered. resources is in the --resources form.
func (m *Master) HoldResources(hostname, resources string) error {
	p, err := ParseResources(resources)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.agentByHostname(hostname)
	if a == nil {
		return noAgent(hostname)
	}
	if !a.free.contains(p) {
		return fmt.Errorf("agent %s has not %s free", hostname, resources)
	}
	a.free.subtract(p)
	a.held.add(p)
	return nil
}

// teardown removes a framework as a Mesos operator's TEARDOWN does (Master::Http::_teardown,
// then Master::removeFramework, as its failover timeout would): false when the master
// does not know it, or removed it already.
func (m *Master) teardown(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	fw := m.frameworks[id]
	if fw == nil || fw.removed || fw.unknown {
		return false
	}
	m.removeFrameworkLocked(fw)
	return true
}
