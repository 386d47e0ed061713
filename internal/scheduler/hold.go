package scheduler

import (
	"context"
	"slices"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/apimachinery/pkg/types"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// Offers a round leaves unused while no task it tried still waits are held for a moment
// (spec.placement.offerHoldSeconds) instead of being declined at once. Offers are
// suppressed while nothing is pending, so each pod that comes alone would otherwise
// REVIVE them and get every agent's offer, to use one and decline the rest; and pods
// that come during a round would otherwise wait for the declined offers to come back
// (refuseSeconds), or have them come back at every allocation while the queue is never
// empty. A held offer takes them at once. Mesos offers nothing more of what a held offer
// holds, but does offer its agent's resources that a task frees meanwhile, in an offer
// of their own: a round places an agent's offers of one role as one (placement.
// AllocationRole) and accepts them in one ACCEPT (acceptGroups), so a pod that needs
// both gets them. Mesos keeps a held offer's resources from every other
// framework, so the hold is short, and it ends early when Mesos rescinds the offer or
// the subscription it came on ends. An offer held too long, or rescinded without the
// RESCIND arriving in time, makes at worst one ACCEPT fail with TASK_DROPPED, whose
// task is launched again (neverSeen); the agent's other offers in it come back to Mesos
// without a filter, to be offered again.

// offerSource is the connection and the subscription offers came on. They are valid on
// it alone: Mesos rescinds them when it ends, and a framework that lost its stream hears
// no RESCIND; the subscriptions of a driver that was replaced have ended. Another
// subscription's ACCEPT of them would launch nothing (TASK_DROPPED, or the whole ACCEPT
// fails), with its pods bound to their agents by then, where they would have to wait.
type offerSource struct {
	d            Driver
	subscription uint64
}

// sourceOf is the subscription d holds now; offers of none (0) are void.
func sourceOf(d Driver) offerSource { return offerSource{d: d, subscription: d.Subscription()} }

// live says whether the subscription is still held: its offers may still be used.
func (o offerSource) live() bool {
	return o.d != nil && o.subscription != 0 && o.d.Subscription() == o.subscription
}

// offerBatch is offers the driver handed over, with the subscription they came on.
type offerBatch struct {
	offers []mesos.Offer
	from   offerSource
}

// heldOffer is an offer kept for the pods that come next. The held offers came on one
// subscription, Scheduler.heldFrom: a round takes them all, and holds only offers of the
// subscription it uses.
type heldOffer struct {
	offer mesos.Offer
	// until is when it is declined if no pod took it.
	until time.Time
}

// rescindMemory is how long a rescinded offer's id is remembered, for a RESCIND that
// overtakes its offer on its way to the offer loop.
const rescindMemory = time.Minute

// holdFor is how long a cluster holds unused offers: spec.placement.offerHoldSeconds,
// 1 s by default.
func holdFor(mc *mesosv1alpha1.MesosCluster) time.Duration {
	if h := mc.Spec.Placement.OfferHoldSeconds; h != nil {
		return time.Duration(*h) * time.Second
	}
	return time.Second
}

// takeHeld removes the held offers and returns those still valid (made on the
// subscription on, and not rescinded), each with when it is due to be declined. The
// caller hands the slice back to recycleHeld once the round is done with it.
func (s *Scheduler) takeHeld(on offerSource, now time.Time) []heldOffer {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, at := range s.rescinded {
		if now.Sub(at) > rescindMemory {
			delete(s.rescinded, id)
		}
	}
	taken := s.held
	s.held, s.heldSpare = s.heldSpare[:0], nil
	valid := taken[:0]
	if !s.heldVoidLocked(on) {
		for _, h := range taken {
			if !s.rescindedLocked(h) {
				valid = append(valid, h)
			}
		}
	}
	clear(taken[len(valid):])
	s.metrics.OffersHeld(0)
	return valid
}

// recycleHeld keeps the room of offers taken by takeHeld for the offers the next round
// holds: with offers from every agent held, a round would otherwise make it anew.
func (s *Scheduler) recycleHeld(taken []heldOffer) {
	clear(taken)
	s.mu.Lock()
	s.heldSpare = taken[:0]
	s.mu.Unlock()
}

// heldVoidLocked says whether the held offers may not be used any more: they came on
// another subscription than on, the one held now (none: all are void). s.mu is held.
func (s *Scheduler) heldVoidLocked(on offerSource) bool {
	return on.subscription == 0 || s.heldFrom != on
}

// rescindedLocked says whether Mesos rescinded a held offer. s.mu is held.
func (s *Scheduler) rescindedLocked(h heldOffer) bool {
	_, gone := s.rescinded[h.offer.ID.Value]
	return gone
}

// liveOffers are the offers of a batch that came on the subscription on, held now; a
// batch of another one is dropped, not declined: Mesos took its offers back.
func (s *Scheduler) liveOffers(b offerBatch, on offerSource) []mesos.Offer {
	if len(b.offers) == 0 || (on.subscription != 0 && b.from == on) {
		return b.offers
	}
	s.Log.V(1).Info("Dropping offers of a subscription that ended", "offers", len(b.offers))
	return nil
}

// settleUnused holds the offers a round left unused (offers[i] for each i of unused),
// each until the time it was due (held[i].until for one the round took from held, the
// first of offers; a new one: for hold), when the cluster holds offers and no task
// still pending was tried in the round (tried): nothing waits, or only work that came
// during the round, which the next round tries on them at once. Otherwise (a task that
// fits none of them, or whose launch failed, waits) it declines them, for other
// frameworks to use. Offers of a subscription that ended (on) go: Mesos took them back.
// A held offer lists the executors the round started on its agent
// (withExecutorsStartedSince): now is when the round started.
func (s *Scheduler) settleUnused(ctx context.Context, on offerSource, offers []mesos.Offer, unused []int, held []heldOffer,
	tried map[string]types.NamespacedName, refuse, hold time.Duration, now time.Time) {
	if !on.live() {
		return
	}
	s.mu.Lock()
	keep := hold > 0
	for id := range s.pending {
		if _, ok := tried[id]; ok {
			keep = false
			break
		}
	}
	if keep {
		if len(s.held) > 0 && s.heldFrom != on {
			clear(s.held) // none are: the round took them all
			s.held = s.held[:0]
		}
		s.heldFrom = on
		s.held = slices.Grow(s.held, len(unused))
		for _, i := range unused {
			due := now.Add(hold)
			if i < len(held) {
				due = held[i].until
			}
			s.held = append(s.held, heldOffer{offer: s.withExecutorsStartedSince(offers[i], now), until: due})
		}
		s.metrics.OffersHeld(len(s.held))
	}
	s.mu.Unlock()
	if keep {
		return
	}
	ids := make([]mesos.OfferID, len(unused))
	for j, i := range unused {
		ids[j] = offers[i].ID
	}
	s.decline(ctx, on, ids, refuse)
}

// declineExpired declines the held offers due by now, and drops those no longer valid.
func (s *Scheduler) declineExpired(ctx context.Context, now time.Time) {
	var on offerSource
	if d := s.currentDriver(); d != nil {
		on = sourceOf(d)
	}
	s.mu.Lock()
	mc := s.cluster
	var due []mesos.OfferID
	kept := s.held[:0]
	void := s.heldVoidLocked(on)
	for _, h := range s.held {
		switch {
		case void || s.rescindedLocked(h):
		case !h.until.After(now):
			due = append(due, h.offer.ID)
		default:
			kept = append(kept, h)
		}
	}
	clear(s.held[len(kept):])
	s.held = kept
	s.metrics.OffersHeld(len(s.held))
	s.mu.Unlock()
	s.decline(ctx, on, due, refuseFor(mc))
}

// nextExpiry is when the first held offer is due, if one is held.
func (s *Scheduler) nextExpiry() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	for _, h := range s.held {
		if next.IsZero() || h.until.Before(next) {
			next = h.until
		}
	}
	return next, !next.IsZero()
}

// heldForWork says whether offers are held while work waits: work that came during the
// last round, for the next one to try on them.
func (s *Scheduler) heldForWork() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held) > 0 && len(s.pending) > 0
}

// decline declines offers that came on the subscription on, filtered for refuse.
func (s *Scheduler) decline(ctx context.Context, on offerSource, ids []mesos.OfferID, refuse time.Duration) {
	if len(ids) == 0 {
		return
	}
	s.metrics.OffersDeclined(len(ids))
	if err := on.d.Decline(ctx, on.subscription, ids, refuse); err != nil {
		s.Log.V(1).Info("Decline failed", "error", err.Error())
	} else {
		s.filtered(refuse)
	}
}

// filtered notes that resources were given back to Mesos with a refuse filter, by a
// DECLINE or as the unused part of an ACCEPT: Mesos holds them back from the framework
// for refuse (at least its allocation interval), though it offers more of their agent
// (what a task freed) at once.
func (s *Scheduler) filtered(refuse time.Duration) {
	if refuse <= 0 {
		return
	}
	s.mu.Lock()
	if until := time.Now().Add(refuse); until.After(s.filteredUntil) {
		s.filteredUntil = until
	}
	s.mu.Unlock()
}

// offerIDs are the ids of offers.
func offerIDs(offers []mesos.Offer) []mesos.OfferID {
	ids := make([]mesos.OfferID, len(offers))
	for i, o := range offers {
		ids[i] = o.ID
	}
	return ids
}
