package mesossim

import (
	"slices"
	"sort"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// Agents given zones have fault domains in GET_AGENTS, round robin over the zones, in
// the region the master's domain names.
func TestAgentZones(t *testing.T) {
	m, err := New(Config{Agents: 3, AgentZones: []string{"a", "b"}, AgentRegion: "eu-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var zones []string
	for _, a := range m.getAgents().Agents {
		fd := a.AgentInfo.GetDomain().GetFaultDomain()
		if fd == nil || fd.Region.Name != "eu-1" {
			t.Fatalf("agent %s: fault domain %v, want one in eu-1", a.AgentInfo.Hostname, fd)
		}
		zones = append(zones, a.AgentInfo.Hostname+"="+fd.Zone.Name)
	}
	if got, want := len(zones), 3; got != want {
		t.Fatalf("zones %v, want %d agents", zones, want)
	}
	for i, want := range []string{"agent-1=a", "agent-2=b", "agent-3=a"} {
		if zones[i] != want {
			t.Errorf("zones = %v, want agent-1=a, agent-2=b, agent-3=a", zones)
			break
		}
	}
	if fd := m.masterInfo().GetDomain().GetFaultDomain(); fd == nil || fd.Region.Name != "eu-1" {
		t.Errorf("the master's fault domain = %v, want one in eu-1", fd)
	}
	plain, err := New(Config{Agents: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if d := plain.getAgents().Agents[0].AgentInfo.Domain; d != nil || plain.masterInfo().Domain != nil {
		t.Errorf("without zones: agent domain %v, master domain %v; want none", d, plain.masterInfo().Domain)
	}
}

// An agent of another region than the master's is offered only to REGION_AWARE
// frameworks, as Mesos's allocator keeps remote agents from the others.
func TestRemoteAgentsAreOfferedToRegionAwareFrameworksOnly(t *testing.T) {
	for _, tc := range []struct {
		name  string
		caps  []mesos.FrameworkInfo_Capability_Type
		hosts []string
	}{
		{"not region aware", nil, []string{"agent-1"}},
		{"region aware", []mesos.FrameworkInfo_Capability_Type{mesos.FrameworkInfo_Capability_REGION_AWARE}, []string{"agent-1", "agent-2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(Config{Agents: 2, AgentZones: []string{"a"}, AgentRegion: "eu-1", AgentRegions: []string{"eu-1", "us-1"},
				AllocationInterval: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Start("127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			c := subscribe(t, m, info(tc.caps...))
			var hosts []string
			for _, o := range c.next(scheduler.Event_OFFERS).GetOffers().Offers {
				hosts = append(hosts, o.Hostname)
			}
			sort.Strings(hosts)
			if !slices.Equal(hosts, tc.hosts) {
				t.Errorf("offered agents %v, want %v", hosts, tc.hosts)
			}
		})
	}
}
