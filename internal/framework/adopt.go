package framework

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/apierrors"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	mastercalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"
)

// Taking an earlier framework back.
//
// A framework id that is not kept is a framework lost: a scheduler that registers anew
// gets a new framework, and the earlier one's tasks run on beside the new one's, managed
// by no one, until its failover timeout (a week by default) ends. So a Connection that
// holds no framework id and is given Config.Adopt first asks the master for the
// frameworks it knows (GET_FRAMEWORKS) and fails over to one that
//   - carries every label of Adopt in its FrameworkInfo,
//   - has the Connection's principal (Mesos refuses a subscription that changes it:
//     master/validation.cpp, framework::validateUpdate), and
//   - has no scheduler connected: a framework another scheduler holds is never taken
//     from it, which Mesos would allow (the other would get "Framework failed over").
//
// Of several, the one subscribed last. A master that failed over lists the frameworks it
// recovered from the agents that registered with it again (recovered); one it does not
// know (its failover timeout passed, or it was torn down) is not taken back. One no agent
// of has registered again with a master that failed over is not known yet: while that
// master lists agents it recovered and has not seen again, an answer of none counts as a
// failure to ask (below). The master is asked once per Connection. Its refusal (its ACLs, or
// a master without the call) has a new framework registered, as without Adopt; a failure
// to ask (the master not reached, not the leader, recovering, a proxy's 5xx, a broken
// answer) fails the attempt as SUBSCRIBE would, and the next attempt asks again, up to
// maxLookups attempts: a framework registered for a passing failure would leave the
// earlier one's tasks running beside it. A framework Mesos removes between the answer and
// SUBSCRIBE ("Framework has been removed" before the first SUBSCRIBED) is let go, and the
// master asked again (forgetRemovedEarlier): it is no reason to stay refused.

// ReasonMasterRecovering: a cluster with no framework id waits to subscribe, as it looks
// for its earlier framework, for the agents a master that failed over has not seen again.
const ReasonMasterRecovering = "MasterRecovering"

// maxLookups is how many attempts in a row may fail to ask the master for its frameworks
// before a new framework is registered without the answer.
const maxLookups = 10

// maxLeaderHops is how many non-leading masters' redirects the question follows.
const maxLeaderHops = 2

// lookForEarlier asks the master for an earlier framework to take back, once, when the
// Connection holds no framework id and has labels to look for; it returns an error only
// when the master was not reached (the attempt fails, and the next asks again).
func (c *Connection) lookForEarlier(ctx context.Context, masterURL string, mh *masterHTTP) error {
	c.mu.RLock()
	skip := c.frameworkID != "" || c.lookedForEarlier || len(c.cfg.Adopt) == 0
	removed := c.removedEarlier
	c.mu.RUnlock()
	if skip {
		return nil
	}
	id, err := earlierFramework(ctx, mh, masterURL, c.cfg.FrameworkInfo.GetPrincipal(), c.cfg.Adopt, removed)
	c.mu.Lock()
	if err != nil && !refused(err) && c.lookupFailures+1 < maxLookups {
		c.lookupFailures++
		c.mu.Unlock()
		switch {
		case isTimeout(err):
			return &SubscribeError{Reason: ReasonMasterTimeout, Master: masterURL, Err: err}
		case errors.Is(err, errRecovering):
			return &SubscribeError{Reason: ReasonMasterRecovering, Master: masterURL, Err: err}
		}
		return classify(masterURL, unwrapAPIError(err))
	}
	c.lookedForEarlier, c.lookupFailures = true, 0
	if id != "" && c.frameworkID == "" {
		c.frameworkID, c.adopted, c.adopting = id, id, id
	}
	c.mu.Unlock()
	switch {
	case err != nil:
		c.log.Info("Could not ask the master for an earlier framework of this cluster to take back; registering a new one", "master", masterURL, "error", err.Error())
	case id != "":
		c.log.Info("Taking back an earlier framework of this cluster that no scheduler holds", "frameworkID", id, "master", masterURL)
	}
	return nil
}

// forgetRemovedEarlier lets go of a framework taken back that Mesos refused as removed
// before it accepted a subscription of it, and returns err as the refusal of a stream
// only; the next attempt asks the master again. Other errors are returned as they are.
func (c *Connection) forgetRemovedEarlier(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.adopting
	if id == "" || c.frameworkID != id || !IsRemoved(Refusal(err)) {
		return err
	}
	c.frameworkID, c.adopted, c.adopting, c.lookedForEarlier = "", "", "", false
	c.removedEarlier = append(c.removedEarlier, id) // an answer from before the removal lists it still
	c.log.Info("Mesos removed the earlier framework before it was taken back; asking the master again", "frameworkID", id)
	return &SubscribeError{Reason: ReasonSubscribeRefused, Err: fmt.Errorf("Mesos removed framework %s before it was taken back: asking the master for the cluster's frameworks again", id)} //nolint:staticcheck // a condition message, a sentence
}

// Adopted is the framework id the Connection took back from the master's list rather
// than from its config, "" when none.
func (c *Connection) Adopted() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.adopted
}

// earlierFramework asks the master at masterURL, or the leader it redirects to, for its
// frameworks and returns the id of the one to take back, "" when there is none.
func earlierFramework(ctx context.Context, mh *masterHTTP, masterURL, principal string, labels []mesos.Label, removed []string) (string, error) {
	at := masterURL
	for hop := 0; ; hop++ {
		r, err := operatorCall(ctx, mh, at, mastercalls.GetFrameworks(), master.Response_GET_FRAMEWORKS, "list of frameworks")
		if err == nil {
			id := pickEarlier(r.GetFrameworks, principal, labels, removed)
			if id == "" && recovering(ctx, mh, at) {
				return "", errRecovering
			}
			return id, nil
		}
		next := mh.redirectedTo(at)
		if !hasCode(err, apierrors.CodeNotLeader) || next == "" || hop == maxLeaderHops {
			return "", err
		}
		at = next
	}
}

// errRecovering: the master failed over and some agents have not registered with it
// again; it knows a framework only once one of its agents has, so its answer of none is
// no answer yet.
var errRecovering = errors.New("the master lists no earlier framework of the cluster, but agents it recovered after a failover have not registered with it again yet")

// recovering says whether the master at url lists agents it recovered after a failover
// that have not registered again (GET_AGENTS recovered_agents); false when it cannot say.
func recovering(ctx context.Context, mh *masterHTTP, url string) bool {
	agents, err := getAgents(ctx, mh, url)
	return err == nil && slices.ContainsFunc(agents, func(a MasterAgent) bool { return a.Recovered })
}

// hasCode says whether err is, or wraps, a master's answer of code (mesos-go's Matches
// looks at err alone).
func hasCode(err error, code apierrors.Code) bool {
	var e *apierrors.Error
	return errors.As(err, &e) && code.Matches(e)
}

// refused says whether err is the master's answer refusing the call for good: its ACLs
// (401, 403), or a call it does not take (400, 404, 405, 406, 415, 501).
func refused(err error) bool {
	for _, code := range []apierrors.Code{apierrors.CodeMalformedRequest, apierrors.CodeNotAuthenticated, apierrors.CodeUnsubscribed,
		apierrors.CodeNotFound, apierrors.Code(http.StatusMethodNotAllowed), apierrors.CodeUnsupportedMediaType,
		apierrors.Code(http.StatusUnsupportedMediaType), apierrors.Code(http.StatusNotImplemented)} {
		if hasCode(err, code) {
			return true
		}
	}
	return false
}

// unwrapAPIError is the master's answer err wraps, for classify; err when none.
func unwrapAPIError(err error) error {
	var e *apierrors.Error
	if errors.As(err, &e) {
		return e
	}
	return err
}

// pickEarlier is the id of the framework of list to take back (see above), "" when none;
// never one of removed, which Mesos refused as removed.
func pickEarlier(list *master.Response_GetFrameworks, principal string, labels []mesos.Label, removed []string) string {
	if list == nil {
		return ""
	}
	var best *master.Response_GetFrameworks_Framework
	for i := range list.Frameworks {
		f := &list.Frameworks[i]
		info := &f.FrameworkInfo
		id := info.GetID().GetValue()
		if f.Connected || id == "" || slices.Contains(removed, id) || info.GetPrincipal() != principal || !hasLabels(info.GetLabels(), labels) {
			continue
		}
		// The last subscribed; of those a master that failed over recovered (no time),
		// the greatest id, that the choice be the same each time.
		if best == nil || subscribedAt(f) > subscribedAt(best) ||
			subscribedAt(f) == subscribedAt(best) && id > best.FrameworkInfo.GetID().GetValue() {
			best = f
		}
	}
	if best == nil {
		return ""
	}
	return best.FrameworkInfo.GetID().GetValue()
}

// subscribedAt is when a framework last subscribed, in nanoseconds; 0 when not said.
func subscribedAt(f *master.Response_GetFrameworks_Framework) int64 {
	return max(f.GetRegisteredTime().GetNanoseconds(), f.GetReregisteredTime().GetNanoseconds())
}

// hasLabels says whether have holds every label of want, key and value.
func hasLabels(have *mesos.Labels, want []mesos.Label) bool {
	for _, w := range want {
		if !slices.ContainsFunc(have.GetLabels(), func(l mesos.Label) bool {
			return l.Key == w.Key && l.GetValue() == w.GetValue()
		}) {
			return false
		}
	}
	return true
}

// redirectedTo is the scheme and host of the master that the last 307 of a request to
// from named, "" when none did.
func (m *masterHTTP) redirectedTo(from string) string {
	m.mu.Lock()
	loc := m.redirect
	m.mu.Unlock()
	base, err := url.Parse(from)
	if loc == "" || err != nil {
		return ""
	}
	ref, err := url.Parse(loc)
	if err != nil {
		return ""
	}
	u := base.ResolveReference(ref)
	if u.Host == "" || u.Host == base.Host {
		return ""
	}
	return fmt.Sprintf("%s://%s", u.Scheme, u.Host)
}
