package framework

import (
	"sort"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// notRevocable says whether a resource is not revocable. Revocable resources (an agent's
// oversubscribed ones, GetAgents total_resources includes them) are offered only to
// frameworks with the REVOCABLE_RESOURCES capability, which k8sm does not ask for
// (hierarchical.cpp, stripIncapableResources); their amount moves with the agent's
// estimate at every list.
func notRevocable(r *mesos.Resource) bool { return r.GetRevocable() == nil }

// plain says whether a task may take a resource as plain cpus, mem, disk, gpus or ports,
// as placement takes them from an offer (placement.usable): neither revocable, shared,
// a persistent volume, a mount or path disk, nor a resource provider's.
func plain(r *mesos.Resource) bool {
	return notRevocable(r) && r.GetShared() == nil && r.GetProviderID() == nil &&
		(r.GetDisk() == nil || (r.GetDisk().GetPersistence() == nil && r.GetDisk().GetSource() == nil))
}

// offerable is whether Mesos may ever offer a plain resource to a framework of the roles
// given (none: Mesos's default role, "*"): unreserved, or reserved to one of them or to
// an ancestor of one (resources.cpp, isAllocatableTo: a role is offered its own and its
// ancestors' reservations, not its descendants'), and not a refined reservation, which
// Mesos offers only to frameworks with RESERVATION_REFINEMENT (stripIncapableResources).
func offerable(roles []string) func(*mesos.Resource) bool {
	if len(roles) == 0 {
		roles = []string{mesos.DefaultRole}
	}
	return func(r *mesos.Resource) bool {
		if !plain(r) || len(r.GetReservations()) > 1 {
			return false
		}
		for _, role := range roles {
			if r.IsAllocatableTo(role) {
				return true
			}
		}
		return false
	}
}

// maxScalars keeps, per scalar resource name, the larger of the known amount and the
// sum of the resources of res that keep takes; sorted by name.
func maxScalars(known mesos.Resources, res []mesos.Resource, keep func(*mesos.Resource) bool) mesos.Resources {
	sums := map[string]float64{}
	for i := range res {
		if r := &res[i]; r.GetType() == mesos.SCALAR && keep(r) {
			sums[r.Name] += r.GetScalar().GetValue()
		}
	}
	for _, r := range known {
		if v := r.GetScalar().GetValue(); v > sums[r.Name] {
			sums[r.Name] = v
		}
	}
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make(mesos.Resources, 0, len(names))
	for _, n := range names {
		out = append(out, mesos.Resource{Name: n, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: sums[n]}})
	}
	return out
}

// equalResources compares two lists of scalars made by maxScalars (sorted by name).
func equalResources(a, b mesos.Resources) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].GetScalar().GetValue() != b[i].GetScalar().GetValue() {
			return false
		}
	}
	return true
}
