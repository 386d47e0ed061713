package placement

import (
	"math"
	"slices"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// take removes an amount of a scalar kind from the offer, from one bucket when one
// holds it all, and appends the resources it came from.
func (s *offerState) take(k int, v float64, role string, out []mesos.Resource) []mesos.Resource {
	if v <= epsilon {
		return out
	}
	bs := s.buckets[k]
	for i := range bs {
		if bs[i].left+epsilon >= v && (role == "" || bs[i].role == role) {
			return s.takeFrom(k, i, v, out)
		}
	}
	for i := range bs {
		if v <= epsilon {
			break
		}
		if bs[i].left > epsilon && (role == "" || bs[i].role == role) {
			n := min(v, bs[i].left)
			out = s.takeFrom(k, i, n, out)
			v -= n
		}
	}
	return out
}

// takeFrom takes n of kind k from bucket i and appends it as a resource with the
// bucket's role and metadata, which Mesos needs to accept it. What is left goes down by
// what the resource says, in Mesos's thousandths.
func (s *offerState) takeFrom(k, i int, n float64, out []mesos.Resource) []mesos.Resource {
	s.unshare()
	n = round3(n)
	b := &s.buckets[k][i]
	b.left = max(b.left-n, 0)
	s.left[k] = max(s.left[k]-n, 0)
	r := *b.res
	r.Scalar = &mesos.Value_Scalar{Value: n}
	return append(out, r)
}

// acceptRole is the role an ACCEPT of the offer is for: its allocation role, which
// Mesos requires to be the same for offers accepted together; "" for an offer of mixed
// roles, accepted alone.
func (s *offerState) acceptRole() string {
	if s.mixed {
		return ""
	}
	return s.role
}

// round3 keeps three decimals, as Mesos does.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// describeExecutor is the executor's resources on an agent where it already runs: one
// resource per kind with the metadata of the offer's first one for the role.
func (s *offerState) describeExecutor(exec *Request, role string) []mesos.Resource {
	var out []mesos.Resource
	for k := 0; k < kindGPUs; k++ {
		v := exec.amount(k)
		if v <= epsilon {
			continue
		}
		for i := range s.buckets[k] {
			if role == "" || s.buckets[k][i].role == role {
				r := *s.buckets[k][i].res
				r.Scalar = &mesos.Value_Scalar{Value: round3(v)}
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// assign takes a request's resources (and the executor's, when the agent needs it)
// from the offer.
func (s *offerState) assign(r *Request, exec *Request) Assignment {
	a := Assignment{Request: *r, OfferID: s.offer.ID, AgentID: s.offer.AgentID, Hostname: s.offer.Hostname, Port: s.offer.GetURL().GetAddress().Port,
		Node: s.agent.node.Name}
	if exec != nil {
		ag := s.agent
		if ag.needExecutor {
			var res []mesos.Resource
			for k := 0; k < kindGPUs; k++ {
				res = s.take(k, exec.amount(k), r.Role, res)
			}
			ag.execRes, ag.needExecutor, a.NeedsExecutor = res, false, true
			ag.execRole = s.acceptRole()
		} else if ag.execRes == nil {
			ag.execRes = s.describeExecutor(exec, r.Role)
		}
		a.ExecutorResources = ag.execRes
	}
	n := 0
	for k := 0; k < kindCount; k++ {
		if r.amount(k) > epsilon {
			n++
		}
	}
	if len(r.HostPorts) > 0 {
		n++
	}
	a.Resources = make([]mesos.Resource, 0, n)
	for k := 0; k < kindCount; k++ {
		a.Resources = s.take(k, r.amount(k), r.Role, a.Resources)
	}
	a.Resources = s.takePorts(r, a.Resources)
	s.placed++
	return a
}

// takePorts marks the request's ports used on the agent and appends one ports resource
// per offered resource they come from, with adjacent ports joined into one range.
func (s *offerState) takePorts(r *Request, out []mesos.Resource) []mesos.Resource {
	if len(r.HostPorts) == 0 {
		return out
	}
	ports := slices.Clone(r.HostPorts)
	slices.Sort(ports)
	ports = slices.Compact(ports)
	if s.agent.usedPorts == nil {
		s.agent.usedPorts = map[uint64]struct{}{}
	}
	var srcBuf [4]*mesos.Resource
	srcs := srcBuf[:0] // srcs[i] is the offered resource out[first+i] was made from
	first := len(out)
	for _, p := range ports {
		src := s.ports[s.portRangeOf(uint64(p), r.Role)].res
		s.agent.usedPorts[uint64(p)] = struct{}{}
		j := slices.Index(srcs, src)
		if j < 0 {
			j = len(srcs)
			srcs = append(srcs, src)
			res := *src
			res.Ranges = &mesos.Value_Ranges{}
			out = append(out, res)
		}
		rs := &out[first+j].Ranges.Range
		if n := len(*rs); n > 0 && (*rs)[n-1].End+1 == uint64(p) {
			(*rs)[n-1].End = uint64(p)
		} else {
			*rs = append(*rs, mesos.Value_Range{Begin: uint64(p), End: uint64(p)})
		}
	}
	return out
}
