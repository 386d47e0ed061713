package framework

import (
	"context"
	"errors"
	"fmt"
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
// know (its failover timeout passed, or it was torn down, or no agent of it came back yet)
// is not taken back. The master is asked once per Connection; when it cannot say (its
// ACLs hide the frameworks, or it answers with an error) a new framework is registered,
// as without Adopt. A master that is not reached, or is not the leader and names none,
// fails the attempt as SUBSCRIBE would, and the next attempt asks again.

// maxLeaderHops is how many non-leading masters' redirects the question follows.
const maxLeaderHops = 2

// lookForEarlier asks the master for an earlier framework to take back, once, when the
// Connection holds no framework id and has labels to look for; it returns an error only
// when the master was not reached (the attempt fails, and the next asks again).
func (c *Connection) lookForEarlier(ctx context.Context, masterURL string, mh *masterHTTP) error {
	c.mu.RLock()
	skip := c.frameworkID != "" || c.lookedForEarlier || len(c.cfg.Adopt) == 0
	c.mu.RUnlock()
	if skip {
		return nil
	}
	id, err := earlierFramework(ctx, mh, masterURL, c.cfg.FrameworkInfo.GetPrincipal(), c.cfg.Adopt)
	if err != nil && (isDialError(err) || isTimeout(err) || hasCode(err, apierrors.CodeNotLeader) || hasCode(err, apierrors.CodeMesosUnavailable)) {
		return classify(masterURL, unwrapAPIError(err))
	}
	c.mu.Lock()
	c.lookedForEarlier = true
	if id != "" && c.frameworkID == "" {
		c.frameworkID, c.adopted = id, id
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

// Adopted is the framework id the Connection took back from the master's list rather
// than from its config, "" when none.
func (c *Connection) Adopted() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.adopted
}

// earlierFramework asks the master at masterURL, or the leader it redirects to, for its
// frameworks and returns the id of the one to take back, "" when there is none.
func earlierFramework(ctx context.Context, mh *masterHTTP, masterURL, principal string, labels []mesos.Label) (string, error) {
	at := masterURL
	for hop := 0; ; hop++ {
		r, err := operatorCall(ctx, mh, at, mastercalls.GetFrameworks(), master.Response_GET_FRAMEWORKS, "list of frameworks")
		if err == nil {
			return pickEarlier(r.GetFrameworks, principal, labels), nil
		}
		next := mh.redirectedTo(at)
		if !hasCode(err, apierrors.CodeNotLeader) || next == "" || hop == maxLeaderHops {
			return "", err
		}
		at = next
	}
}

// hasCode says whether err is, or wraps, a master's answer of code (mesos-go's Matches
// looks at err alone).
func hasCode(err error, code apierrors.Code) bool {
	var e *apierrors.Error
	return errors.As(err, &e) && code.Matches(e)
}

// unwrapAPIError is the master's answer err wraps, for classify; err when none.
func unwrapAPIError(err error) error {
	var e *apierrors.Error
	if errors.As(err, &e) {
		return e
	}
	return err
}

// pickEarlier is the id of the framework of list to take back (see above), "" when none.
func pickEarlier(list *master.Response_GetFrameworks, principal string, labels []mesos.Label) string {
	if list == nil {
		return ""
	}
	var best *master.Response_GetFrameworks_Framework
	for i := range list.Frameworks {
		f := &list.Frameworks[i]
		info := &f.FrameworkInfo
		if f.Connected || info.GetID().GetValue() == "" || info.GetPrincipal() != principal || !hasLabels(info.GetLabels(), labels) {
			continue
		}
		if best == nil || subscribedAt(f) > subscribedAt(best) {
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
