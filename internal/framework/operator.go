package framework

import (
	"context"
	"fmt"
	"net"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpmaster"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	mastercalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"
)

// MasterAgent is what the master's operator API says of one agent: its whole resources
// (offers show only what other frameworks leave) and whether it is active.
type MasterAgent struct {
	ID       string
	Hostname string
	// Port is AgentInfo.port, the port the agent serves on.
	Port int32
	// IP is the address of the agent's pid (slave(1)@<ip>:<port>); empty when it has none.
	IP         string
	Attributes []mesos.Attribute
	Total      mesos.Resources
	Active     bool
}

// GetAgents asks the leading master's operator API (POST /api/v1, GET_AGENTS) for its
// registered agents, with the framework's credentials and TLS settings.
func (c *Connection) GetAgents(ctx context.Context) ([]MasterAgent, error) {
	leader := c.Leader()
	if leader == "" {
		return nil, ErrNotSubscribed
	}
	// RequestTimeout bounds the request and its answer, MaxResponseSize the answer.
	mh := newMasterHTTP(c.cfg)
	defer mh.closeIdle()
	return getAgents(ctx, mh, leader)
}

// getAgents sends GET_AGENTS to the leader through mh and decodes its answer.
func getAgents(ctx context.Context, mh *masterHTTP, leader string) ([]MasterAgent, error) {
	cli := mh.client(leader + "/api/v1")
	resp, err := httpmaster.NewSender(cli.Send).Send(ctx, mastercalls.NonStreaming(mastercalls.GetAgents()))
	if err != nil {
		return nil, fmt.Errorf("GET_AGENTS from %s: %w", leader, err)
	}
	if resp == nil {
		// mesos-go answers a 202 Accepted with neither a response nor an error.
		return nil, fmt.Errorf("GET_AGENTS from %s: the master accepted the call (HTTP 202) but answered no list of agents", leader)
	}
	defer func() { _ = resp.Close() }()
	var r master.Response
	if err := resp.Decode(&r); err != nil {
		return nil, fmt.Errorf("decoding GET_AGENTS from %s: %w", leader, err)
	}
	if r.GetType() != master.Response_GET_AGENTS || r.GetAgents == nil {
		return nil, fmt.Errorf("GET_AGENTS from %s: unexpected response %s", leader, r.GetType())
	}
	out := make([]MasterAgent, 0, len(r.GetAgents.Agents))
	for _, a := range r.GetAgents.Agents {
		info := a.GetAgentInfo()
		id := info.GetID().GetValue()
		if id == "" {
			continue
		}
		total := mesos.Resources(a.TotalResources)
		if len(total) == 0 {
			total = info.Resources
		}
		out = append(out, MasterAgent{ID: id, Hostname: info.GetHostname(), Port: info.GetPort(), IP: pidIP(a.GetPID()), Attributes: info.Attributes, Total: total, Active: a.GetActive()})
	}
	return out, nil
}

// pidIP is the ip of a libprocess pid, id@ip:port; empty when pid is not one.
func pidIP(pid string) string {
	_, addr, ok := strings.Cut(pid, "@")
	if !ok {
		return ""
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || net.ParseIP(host) == nil {
		return ""
	}
	return host
}
