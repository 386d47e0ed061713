package mesossim

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// pool is an amount of agent resources: scalars by name and port ranges.
type pool struct {
	scalars map[string]float64
	ports   [][2]uint64
}

func newPool() pool { return pool{scalars: map[string]float64{}} }

func (p pool) clone() pool {
	c := pool{scalars: make(map[string]float64, len(p.scalars)), ports: append([][2]uint64(nil), p.ports...)}
	for k, v := range p.scalars {
		c.scalars[k] = v
	}
	return c
}

func (p pool) empty() bool {
	for _, v := range p.scalars {
		if v > 1e-9 {
			return false
		}
	}
	return len(p.ports) == 0
}

// ParseResources reads Mesos's agent --resources form: "cpus:4;mem:8192;ports:[31000-32000]".
func ParseResources(s string) (pool, error) {
	p := newPool()
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, ":")
		if !ok {
			return p, fmt.Errorf("resource %q is not name:value", part)
		}
		name = strings.TrimSpace(name)
		value = strings.TrimSpace(value)
		if strings.HasPrefix(value, "[") {
			for _, r := range strings.Split(strings.Trim(value, "[]"), ",") {
				b, e, ok := strings.Cut(strings.TrimSpace(r), "-")
				if !ok {
					return p, fmt.Errorf("range %q is not begin-end", r)
				}
				bv, err1 := strconv.ParseUint(b, 10, 64)
				ev, err2 := strconv.ParseUint(e, 10, 64)
				if err1 != nil || err2 != nil || ev < bv {
					return p, fmt.Errorf("range %q is not begin-end", r)
				}
				if name != "ports" {
					return p, fmt.Errorf("only ports may be ranges, not %q", name)
				}
				p.ports = append(p.ports, [2]uint64{bv, ev})
			}
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil || v < 0 {
			return p, fmt.Errorf("resource %q has no valid amount", part)
		}
		p.scalars[name] += v
	}
	return p, nil
}

// ParseAttributes reads Mesos's agent --attributes form: "rack:r1;zone:a".
func ParseAttributes(s string) ([]mesos.Attribute, error) {
	var out []mesos.Attribute
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("attribute %q is not name:value", part)
		}
		if f, err := strconv.ParseFloat(value, 64); err == nil {
			out = append(out, mesos.Attribute{Name: name, Type: mesos.SCALAR, Scalar: &mesos.Value_Scalar{Value: f}})
			continue
		}
		out = append(out, mesos.Attribute{Name: name, Type: mesos.TEXT, Text: &mesos.Value_Text{Value: value}})
	}
	return out, nil
}

// toResources renders a pool as Mesos resources, allocated to alloc unless it is ""
// (an agent's total, or an offer to a framework that is not MULTI_ROLE). legacyRole
// sets the pre-reservation-refinement `role: "*"` of unreserved resources, as Mesos
// does for frameworks without RESERVATION_REFINEMENT and in its endpoints
// (resources_utils.cpp: convertResourceFormat).
func (p pool) toResources(alloc string, legacyRole bool) []mesos.Resource {
	names := make([]string, 0, len(p.scalars))
	for n, v := range p.scalars {
		if v > 1e-9 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var out []mesos.Resource
	shape := func(r mesos.Resource) mesos.Resource {
		if alloc != "" {
			a := alloc
			r.AllocationInfo = &mesos.Resource_AllocationInfo{Role: &a}
		}
		if legacyRole {
			r.Role = ptr("*")
		}
		return r
	}
	for _, n := range names {
		out = append(out, shape(mesos.Resource{Name: n, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: p.scalars[n]}}))
	}
	if len(p.ports) > 0 {
		rs := make([]mesos.Value_Range, len(p.ports))
		for i, r := range p.ports {
			rs[i] = mesos.Value_Range{Begin: r[0], End: r[1]}
		}
		out = append(out, shape(mesos.Resource{Name: "ports", Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: rs}}))
	}
	return out
}

// fromResources adds up Mesos resources.
func fromResources(rs []mesos.Resource) pool {
	p := newPool()
	for _, r := range rs {
		switch r.GetType() {
		case mesos.SCALAR:
			p.scalars[r.Name] += r.GetScalar().GetValue()
		case mesos.RANGES:
			if r.Name == "ports" {
				for _, rg := range r.GetRanges().GetRange() {
					p.ports = append(p.ports, [2]uint64{rg.Begin, rg.End})
				}
			}
		}
	}
	return p
}

// contains says whether p holds all of q.
func (p pool) contains(q pool) bool {
	for n, v := range q.scalars {
		if v > p.scalars[n]+1e-9 {
			return false
		}
	}
	for _, r := range q.ports {
		if !p.hasRange(r) {
			return false
		}
	}
	return true
}

// hasRange says whether p holds every port of r, a range at a time: a refuse filter
// compares an agent's whole ports range with the refused one at every allocation.
func (p pool) hasRange(r [2]uint64) bool {
	for port := r[0]; ; {
		end, ok := p.rangeEnd(port)
		if !ok {
			return false
		}
		if end >= r[1] {
			return true
		}
		port = end + 1
	}
}

// rangeEnd is the end of a range of p that holds port.
func (p pool) rangeEnd(port uint64) (uint64, bool) {
	for _, h := range p.ports {
		if port >= h[0] && port <= h[1] {
			return h[1], true
		}
	}
	return 0, false
}

func (p pool) hasPort(port uint64) bool {
	for _, r := range p.ports {
		if port >= r[0] && port <= r[1] {
			return true
		}
	}
	return false
}

// subtract removes q from p (q must be contained).
func (p *pool) subtract(q pool) {
	for n, v := range q.scalars {
		p.scalars[n] -= v
		if p.scalars[n] < 1e-9 {
			p.scalars[n] = 0
		}
	}
	for _, r := range q.ports {
		for port := r[0]; port <= r[1]; port++ {
			p.removePort(port)
		}
	}
}

func (p *pool) removePort(port uint64) {
	for i, r := range p.ports {
		if port < r[0] || port > r[1] {
			continue
		}
		var repl [][2]uint64
		if r[0] < port {
			repl = append(repl, [2]uint64{r[0], port - 1})
		}
		if port < r[1] {
			repl = append(repl, [2]uint64{port + 1, r[1]})
		}
		p.ports = append(p.ports[:i], append(repl, p.ports[i+1:]...)...)
		return
	}
}

// add gives q back to p.
func (p *pool) add(q pool) {
	for n, v := range q.scalars {
		p.scalars[n] += v
	}
	p.ports = append(p.ports, q.ports...)
	sort.Slice(p.ports, func(i, j int) bool { return p.ports[i][0] < p.ports[j][0] })
	merged := p.ports[:0]
	for _, r := range p.ports {
		if n := len(merged); n > 0 && r[0] <= merged[n-1][1]+1 {
			if r[1] > merged[n-1][1] {
				merged[n-1][1] = r[1]
			}
			continue
		}
		merged = append(merged, r)
	}
	p.ports = merged
}
