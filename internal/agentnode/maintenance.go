package agentnode

import (
	"fmt"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// TaintMaintenance is on the Node of an agent whose machine Mesos's operator
	// scheduled for maintenance (the master's maintenance schedule: the machine is
	// draining, and may be taken down from the window's start): no new pod is placed
	// there unless it tolerates it, as a cordoned Node takes none.
	TaintMaintenance = "mesos.k8sm.io/maintenance"
	// ConditionMaintenance says, while the agent's machine is scheduled for maintenance,
	// when its window is.
	ConditionMaintenance corev1.NodeConditionType = "MesosMaintenance"
	// ReasonMaintenanceScheduled is its reason.
	ReasonMaintenanceScheduled = "MesosMaintenanceScheduled"
)

// Unavailability is a window of maintenance Mesos's operator scheduled for an agent's
// machine (mesos.proto Unavailability): it may be taken down from Start.
type Unavailability struct {
	Start time.Time
	// Duration is how long it may be down; 0 when the schedule gives none (it may not
	// come back).
	Duration time.Duration
}

// UnavailabilityOf is a Mesos Unavailability (of an offer, an inverse offer or a window
// of the maintenance schedule) as a window; nil for none.
func UnavailabilityOf(u *mesos.Unavailability) *Unavailability {
	if u == nil {
		return nil
	}
	out := &Unavailability{Start: time.Unix(0, u.Start.Nanoseconds).UTC()}
	if u.Duration != nil {
		out.Duration = time.Duration(u.Duration.Nanoseconds)
	}
	return out
}

// Equal says whether two windows (nil: none) are the same.
func (u *Unavailability) Equal(o *Unavailability) bool {
	if u == nil || o == nil {
		return u == o
	}
	return u.Start.Equal(o.Start) && u.Duration == o.Duration
}

// String says when the window is, for a person.
func (u *Unavailability) String() string {
	start := u.Start.UTC().Format(time.RFC3339)
	if u.Duration <= 0 {
		return "from " + start + ", with no end given"
	}
	return fmt.Sprintf("from %s for %s", start, u.Duration)
}

// MaintenanceTaint is the NoSchedule taint of an agent scheduled for maintenance.
func MaintenanceTaint() corev1.Taint {
	return corev1.Taint{Key: TaintMaintenance, Effect: corev1.TaintEffectNoSchedule}
}

// MaintenanceCondition is the MesosMaintenance condition of an agent scheduled for
// maintenance, its transition time kept from previous while it says the same; nil for
// an agent that is not.
func MaintenanceCondition(a Agent, now metav1.Time, previous []corev1.NodeCondition) *corev1.NodeCondition {
	if a.Unavailability == nil {
		return nil
	}
	c := corev1.NodeCondition{
		Type: ConditionMaintenance, Status: corev1.ConditionTrue, Reason: ReasonMaintenanceScheduled,
		Message: "Mesos's maintenance schedule takes the agent's machine down " + a.Unavailability.String() +
			": no new pod is placed here unless it tolerates the taint " + TaintMaintenance +
			"; the pods here end when the machine goes down (drain the Node to move them first)",
		LastHeartbeatTime: now, LastTransitionTime: now,
	}
	keepTransition(&c, previous)
	return &c
}
