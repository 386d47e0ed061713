package placement

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Reasons a request does not fit an offer, in the order they are checked.
const (
	reasonPinned = iota
	reasonNodeTaken
	reasonRemoteRegion
	reasonRole
	reasonSelector
	reasonUnschedulable
	reasonTaint
	reasonExecutorStarting
	reasonCPUs
	reasonMem
	reasonDisk
	reasonGPUs
	reasonPorts
	reasonSpreadMissingLabel
	reasonSpread
	reasonAffinity
	reasonAntiAffinity
	reasonExistingAntiAffinity
	reasonCount
)

var reasonText = [reasonCount]string{
	reasonPinned: "didn't match the agent the pod is bound to",
	// The agent's Node name (agentnode.NodeName) is a Node not the cluster's.
	reasonNodeTaken: "had their Node name taken by another MesosCluster's or a kubelet's Node",
	// An agent of another region than the master's (offered to a REGION_AWARE
	// framework) takes only pods that select a region.
	reasonRemoteRegion: "in another region than the master's, which the pod does not select",
	reasonRole:         "had no resources for the requested role",
	reasonSelector:     "didn't match node selector",
	// What kube-scheduler's NodeUnschedulable and TaintToleration filters keep away.
	reasonUnschedulable: "cordoned (unschedulable)",
	reasonTaint:         "had untolerated taints",
	// Only until the next round, when the executor runs there.
	reasonExecutorStarting: "had the k8sm executor starting from another role's offer",
	reasonCPUs:             "insufficient cpus",
	reasonMem:              "insufficient memory",
	reasonDisk:             "insufficient disk",
	reasonGPUs:             "insufficient gpus",
	reasonPorts:            "didn't have free ports for the requested pod ports",
	// kube-scheduler's InterPodAffinity filter's words.
	reasonSpreadMissingLabel:   "didn't match pod topology spread constraints (missing required label)",
	reasonSpread:               "didn't match pod topology spread constraints",
	reasonAffinity:             "didn't match pod affinity rules",
	reasonAntiAffinity:         "didn't match pod anti-affinity rules",
	reasonExistingAntiAffinity: "didn't satisfy existing pods anti-affinity rules",
}

// unplacedEntry remembers why a request shape fit nowhere, valid while no task was
// placed since (resources only shrink during a round, so the verdict holds).
type unplacedEntry struct {
	placedCount int
	why         string
	// waiting: the request waits for the next offers (Result.Waiting).
	waiting bool
}

// appendShapeKey appends what decides where a request fits: its amounts, role, pin,
// ports, tolerations and selector.
func appendShapeKey(b []byte, r *Request, selKey string) []byte {
	for k := 0; k < kindCount; k++ {
		b = strconv.AppendFloat(b, r.amount(k), 'g', -1, 64)
		b = append(b, ',')
	}
	b = append(b, r.Role...)
	b = append(b, 0)
	b = append(b, r.Node...)
	b = append(b, 0)
	for _, p := range r.HostPorts {
		b = strconv.AppendUint(b, uint64(p), 10)
		b = append(b, ',')
	}
	b = append(b, 0)
	b = appendTolerations(b, r.Tolerations)
	b = append(b, 0)
	return append(b, selKey...)
}

// appendTolerations appends what of tolerations decides which taints they tolerate.
func appendTolerations(b []byte, tolerations []corev1.Toleration) []byte {
	for i := range tolerations {
		t := &tolerations[i]
		b = append(b, t.Key...)
		b = append(b, 1)
		b = append(b, t.Operator...)
		b = append(b, 1)
		b = append(b, t.Value...)
		b = append(b, 1)
		b = append(b, t.Effect...)
		b = append(b, ',')
	}
	return b
}

// NoOffers is the explanation of a request tried on no offer at all.
const NoOffers = "0/0 agents available: no offers."

// explain words the reasons like kube-scheduler: "0/3 agents available: 2 insufficient
// cpus, 1 didn't match node selector." Each agent counts once, by the reason of its
// offer that came closest; the most common reasons come first, ties alphabetically.
func explain(agents int, counts [reasonCount]int) string {
	if agents == 0 {
		return NoOffers
	}
	return countsWorded(agents, counts[:], reasonText[:])
}

// countsWorded words how many agents had each reason (counts[i] had text[i]), the most
// common first, ties alphabetically: "0/3 agents available: 2 insufficient cpus, 1
// didn't match node selector."
func countsWorded(agents int, counts []int, text []string) string {
	type part struct {
		n    int
		text string
	}
	var parts []part
	for why, n := range counts {
		if n > 0 {
			parts = append(parts, part{n, text[why]})
		}
	}
	sort.Slice(parts, func(i, j int) bool {
		if parts[i].n != parts[j].n {
			return parts[i].n > parts[j].n
		}
		return parts[i].text < parts[j].text
	})
	var b strings.Builder
	fmt.Fprintf(&b, "0/%d agents available: ", agents)
	for i, p := range parts {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d %s", p.n, p.text)
	}
	b.WriteByte('.')
	return b.String()
}

// SameReasons says whether two explanations name the same reasons, whatever the numbers
// of agents: "0/1 agents available: 1 insufficient cpus." and "0/3 agents available: 2
// insufficient cpus, 1 insufficient memory." do not; "0/3 agents available: 3
// insufficient cpus." and the first do. Words not of explain must be equal.
func SameReasons(a, b string) bool {
	if a == b {
		return true
	}
	ra, okA := reasonsOf(a)
	rb, okB := reasonsOf(b)
	return okA && okB && slices.Equal(ra, rb)
}

// reasonsOf is the reasons an explanation names, without their numbers, sorted.
func reasonsOf(why string) ([]string, bool) {
	_, list, ok := strings.Cut(why, " agents available: ")
	if !ok {
		return nil, false
	}
	parts := strings.Split(strings.TrimSuffix(list, "."), ", ")
	for i, p := range parts {
		if n, text, ok := strings.Cut(p, " "); ok && strings.Trim(n, "0123456789") == "" {
			parts[i] = text
		}
	}
	slices.Sort(parts)
	return parts, true
}
