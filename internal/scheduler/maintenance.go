package scheduler

import (
	"context"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/framework"
)

// inverseOfferRefuse is how long an answered inverse offer keeps Mesos from sending
// another of its agent: the answer is given again, from what then runs there, after that.
// A REVIVE (a pod waiting for an offer) clears Mesos's inverse-offer filters too, and the
// next inverse offer may then come sooner.
const inverseOfferRefuse = 30 * time.Second

// inverseOfferAnswerer answers inverse offers (framework.Connection.AnswerInverseOffers).
type inverseOfferAnswerer interface {
	AnswerInverseOffers(ctx context.Context, subscription uint64, accept bool, ids []mesos.OfferID, refuse time.Duration) error
}

// InverseOffers answers Mesos's inverse offers, its requests for the resources of agents
// whose machines are scheduled for maintenance, off the event loop (answerInverseOffers).
func (s *Scheduler) InverseOffers(ctx context.Context, d *framework.Driver, offers []mesos.InverseOffer) {
	go s.answerInverseOffers(ctx, d, d.Subscription(), d.Status().Agents, offers)
}

// answerInverseOffers accepts the inverse offers of agents no pod of the cluster runs on
// any more (their Nodes have no pod that has not ended, a DaemonSet's aside) and
// declines the others, and those of agents whose Node is not known: Mesos
// shows its operator each framework's last answer (GET_MAINTENANCE_STATUS), and an
// accept says the framework lets the machine go without losing anything. k8sm does not
// move pods off on its own: their Nodes are tainted (no new pod goes there), and a person
// drains them (`kubectl drain`, which keeps to PodDisruptionBudgets); an agent not
// drained when its machine goes down loses its pods, failed as a disruption.
func (s *Scheduler) answerInverseOffers(ctx context.Context, d inverseOfferAnswerer, subscription uint64, agents map[string]framework.Agent, offers []mesos.InverseOffer) {
	var accept, decline []mesos.OfferID
	for i := range offers {
		o := &offers[i]
		agentID := o.GetAgentID().GetValue()
		running, known, err := s.podsRunningOn(ctx, agents, agentID)
		log := s.Log.WithValues("agent", agentID, "window", agentnode.UnavailabilityOf(&o.Unavailability).String())
		switch {
		case !known:
			// Mesos asks only a framework with something on the agent (offered, or its
			// tasks or executor): one whose Node is not known yet (the agents not listed
			// yet after a start) may well run pods.
			log.V(1).Info("Declining Mesos's request for an agent's resources for maintenance: its Node is not known yet")
			decline = append(decline, o.OfferID)
		case err != nil:
			log.Info("Could not tell whether pods run on an agent Mesos asks back for maintenance; declining", "error", err.Error())
			decline = append(decline, o.OfferID)
		case running > 0:
			log.V(1).Info("Declining Mesos's request for an agent's resources for maintenance: pods still run there", "pods", running)
			decline = append(decline, o.OfferID)
		default:
			log.V(1).Info("Accepting Mesos's request for an agent's resources for maintenance: no pod runs there")
			accept = append(accept, o.OfferID)
		}
	}
	for _, answer := range []struct {
		accept bool
		ids    []mesos.OfferID
	}{{true, accept}, {false, decline}} {
		if err := d.AnswerInverseOffers(ctx, subscription, answer.accept, answer.ids, inverseOfferRefuse); err != nil && ctx.Err() == nil {
			s.Log.Info("Could not answer Mesos's inverse offers; it asks again", "accept", answer.accept, "error", err.Error())
		}
	}
}

// podsRunningOn counts the pods on an agent's Node that have not ended, but a
// DaemonSet's, which `kubectl drain` leaves (--ignore-daemonsets) and which would run
// there whatever the window; known is false for an agent the driver does not know.
func (s *Scheduler) podsRunningOn(ctx context.Context, agents map[string]framework.Agent, agentID string) (n int, known bool, err error) {
	a, ok := agents[agentID]
	if !ok {
		return 0, false, nil
	}
	pods, err := s.Tasks.PodsOnNode(ctx, agentnode.NodeName(s.clusterName(), a.Hostname, a.Port))
	if err != nil {
		return 0, true, err
	}
	for _, p := range pods {
		if c := metav1.GetControllerOf(p); c != nil && c.Kind == "DaemonSet" && c.APIVersion == "apps/v1" {
			continue
		}
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			n++
		}
	}
	return n, true, nil
}

var _ framework.InverseOfferReceiver = (*Scheduler)(nil)
