package chaos

import (
	"fmt"
	"maps"
	"slices"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
)

// scheduleMaintenance schedules the machine of a free agent for maintenance, a window
// an hour long starting in 10 s, and cancels it after lasts: its Node is tainted
// meanwhile, new pods go elsewhere, and the inverse offers are answered. Each change
// of the schedule makes Mesos rescind every outstanding offer of the cluster.
func (r *run) scheduleMaintenance(agent int, lasts time.Duration) error {
	h := r.freeAgent(agent)
	if h == "" {
		return fmt.Errorf("no agent free: %w", errNoTarget)
	}
	machine, err := r.sim.AgentMachine(h)
	if err != nil {
		return err
	}
	start := time.Now().Add(10 * time.Second)
	r.mu.Lock()
	if r.maintenance == nil {
		r.maintenance = map[string]maintenance.Window{}
	}
	r.maintenance[h] = maintenance.Window{MachineIDs: []mesos.MachineID{machine}, Unavailability: mesos.Unavailability{
		Start: mesos.TimeInfo{Nanoseconds: start.UnixNano()}, Duration: &mesos.DurationInfo{Nanoseconds: int64(time.Hour)}}}
	err = r.sim.UpdateMaintenanceSchedule(r.scheduleLocked())
	r.mu.Unlock()
	if err != nil {
		return err
	}
	r.ends.schedule(h, lasts, func() {
		r.mu.Lock()
		delete(r.maintenance, h)
		err := r.sim.UpdateMaintenanceSchedule(r.scheduleLocked())
		r.mu.Unlock()
		if err != nil {
			r.runError("cancelling the maintenance of %s: %v", h, err)
		}
	})
	return nil
}

// scheduleLocked is the maintenance schedule of the windows scheduled now, in the
// agents' order.
func (r *run) scheduleLocked() maintenance.Schedule {
	var s maintenance.Schedule
	for _, h := range slices.Sorted(maps.Keys(r.maintenance)) {
		s.Windows = append(s.Windows, r.maintenance[h])
	}
	return s
}
