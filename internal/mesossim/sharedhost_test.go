package mesossim

import (
	"fmt"
	"net/http"
	"sort"
	"testing"

	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	mastercalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// TestAgentsShareAHostname: agents started on one host with one --hostname serve on
// ports of their own, and say so where Mesos does — each offer's url (master.cpp:
// Master::offer, from the agent's pid) and GET_AGENTS (AgentInfo.port, set by the agent
// from its own address in slave.cpp: Slave::initialize; pid) — so that a framework can
// tell them apart. The fault API names them hostname:port.
func TestAgentsShareAHostname(t *testing.T) {
	m := startSim(t, Config{Agents: 3, AgentHostname: "127.0.0.1"})
	c := subscribe(t, m, info())
	ports := map[int32]string{}
	for len(ports) < 3 {
		for _, o := range c.next(scheduler.Event_OFFERS).GetOffers().Offers {
			if o.Hostname != "127.0.0.1" || o.URL.Address.GetHostname() != "127.0.0.1" {
				t.Fatalf("offer of %q (url %v), want hostname 127.0.0.1", o.Hostname, o.URL)
			}
			ports[o.URL.Address.Port] = o.AgentID.Value
		}
	}
	var got []string
	resp := operatorCall(t, m.URL(), string(codecs.MediaTypeProtobuf), mastercalls.GetAgents())
	for _, a := range resp.GetGetAgents().Agents {
		port := a.AgentInfo.GetPort()
		if ports[port] != a.AgentInfo.ID.Value || a.GetPID() != fmt.Sprintf("slave(1)@127.0.0.1:%d", port) {
			t.Errorf("GET_AGENTS %s port %d pid %s; offers say port %d is %s", a.AgentInfo.ID.Value, port, a.GetPID(), port, ports[port])
		}
		got = append(got, fmt.Sprintf("%s:%d", a.AgentInfo.Hostname, port))
	}
	sort.Strings(got)
	if fmt.Sprint(got) != "[127.0.0.1:5051 127.0.0.1:5052 127.0.0.1:5053]" {
		t.Fatalf("agents %v", got)
	}
	if code := faultOverHTTP(t, m, "/faults/partition?agent=127.0.0.1:5052"); code != http.StatusAccepted {
		t.Fatalf("partition of 127.0.0.1:5052 = %d", code)
	}
	failed := c.next(scheduler.Event_FAILURE).GetFailure().AgentID.Value
	if failed != ports[5052] {
		t.Fatalf("FAILURE of %s, want the agent on port 5052 (%s)", failed, ports[5052])
	}
}

// TestAgentsWithLoopbackIPs: with LoopbackIPs each agent has an address of its own,
// said where Mesos says an agent's address — the offer's url.ip and the pid in
// GET_AGENTS — so that what an executor serves on its agent's address (the kubelet API)
// is reached at that agent's Node.
func TestAgentsWithLoopbackIPs(t *testing.T) {
	m := startSim(t, Config{Agents: 2, LoopbackIPs: true})
	c := subscribe(t, m, info())
	ips := map[string]string{}
	for len(ips) < 2 {
		for _, o := range c.next(scheduler.Event_OFFERS).GetOffers().Offers {
			ips[o.Hostname] = o.URL.Address.GetIP()
		}
	}
	if ips["agent-1"] != "127.0.0.1" || ips["agent-2"] != "127.0.0.2" {
		t.Fatalf("offers' url.ip by hostname %v, want agent-1 127.0.0.1, agent-2 127.0.0.2", ips)
	}
	resp := operatorCall(t, m.URL(), string(codecs.MediaTypeProtobuf), mastercalls.GetAgents())
	for _, a := range resp.GetGetAgents().Agents {
		if want := fmt.Sprintf("slave(1)@%s:5051", ips[a.AgentInfo.Hostname]); a.GetPID() != want {
			t.Errorf("GET_AGENTS %s pid %s, want %s", a.AgentInfo.Hostname, a.GetPID(), want)
		}
	}
}
