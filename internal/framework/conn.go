// Package framework is one Mesos framework connection: it subscribes to the leading
// master with the v1 scheduler API (mesos-go httpsched, protobuf), keeps the
// subscription alive across master failovers and network faults, hands events to a
// Handler and sends the framework's calls.
package framework

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/apierrors"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// ErrNotSubscribed is returned by calls made while no subscription is held.
var ErrNotSubscribed = errors.New("the framework is not subscribed to a Mesos master")

// Reasons a subscription attempt failed, as SubscribeError.Reason.
const (
	ReasonMasterUnreachable    = "MasterUnreachable"
	ReasonAuthenticationFailed = "AuthenticationFailed"
	ReasonSubscribeRefused     = "SubscribeRefused"
	ReasonHeartbeatMissed      = "HeartbeatMissed"
	ReasonStreamClosed         = "StreamClosed"
	ReasonLeaderChanged        = "LeaderChanged"
	ReasonNoLeader             = "NoLeader"
	// ReasonMasterTimeout: the master did not answer SUBSCRIBE, or sent no SUBSCRIBED
	// event, within RequestTimeout (it accepts connections but hangs, or trickles).
	ReasonMasterTimeout = "MasterTimeout"
	// ReasonBadStream: the master's answer to SUBSCRIBE is not a Mesos event stream
	// (wrong Content-Type, no stream id, or bytes that are not RecordIO).
	ReasonBadStream = "BadStream"
	// ReasonEventTooLarge: the master announced an event larger than MaxEventSize.
	ReasonEventTooLarge = "EventTooLarge"
	// ReasonMalformedEvent: an event is not a protobuf scheduler event, or lacks the
	// field its type needs.
	ReasonMalformedEvent = "MalformedEvent"
)

// SubscribeError says why a subscription could not be made or ended.
type SubscribeError struct {
	// Reason is one of the Reason* constants, fit for a condition reason.
	Reason string
	// Master is the master URL involved, if any.
	Master string
	Err    error
}

func (e *SubscribeError) Error() string {
	if e.Master != "" {
		return fmt.Sprintf("%s (%s): %v", e.Reason, e.Master, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Reason, e.Err)
}

func (e *SubscribeError) Unwrap() error { return e.Err }

// Credentials authenticate the framework to the master (HTTP basic).
type Credentials struct {
	Principal string
	Secret    string
}

// Config is what a Connection needs.
type Config struct {
	// Name is the MesosCluster's name. Optional; it is for people reading the config:
	// metrics go to Observer.
	Name string
	// Master is a MesosCluster master string: a URL, a comma-separated list, or zk://.
	Master string
	// FrameworkInfo to subscribe with; its ID, when set, is the framework to fail over to.
	FrameworkInfo mesos.FrameworkInfo
	// Credentials, if the master authenticates frameworks.
	Credentials *Credentials
	// TLS for https masters; nil means the system roots.
	TLS *tls.Config
	// RootCAsDigest identifies the certificates of TLS.RootCAs (a CertPool says only
	// their subjects), for whoever compares configs: a CA re-issued with the same
	// subject and a new key is another config.
	RootCAsDigest string
	// HeartbeatMisses is how many heartbeat intervals may pass without an event before
	// the master is taken for dead. Default 5.
	HeartbeatMisses int
	// MinBackoff and MaxBackoff bound the wait between subscription attempts. Defaults 500ms, 30s.
	MinBackoff, MaxBackoff time.Duration
	// RequestTimeout bounds each request to a master: a call or an operator API request
	// from connecting to the end of its answer, and a subscription from connecting to
	// its SUBSCRIBED event (then the heartbeat watchdog takes over). Default 10s.
	RequestTimeout time.Duration
	// MaxEventSize is the largest event (RecordIO frame) accepted on the event stream; a
	// larger one ends the subscription with ReasonEventTooLarge. Default 64 MiB.
	MaxEventSize int
	// MaxResponseSize is the largest answer read for a call or an operator API request.
	// Default 16 MiB.
	MaxResponseSize int
	// Adopt, when set, are labels of FrameworkInfo that make a framework the config's
	// own: without FrameworkInfo.ID, a framework the master knows with these labels and
	// no scheduler connected is failed over to rather than a new one registered (adopt.go).
	Adopt []mesos.Label
	// AgentPollInterval is how often a Driver asks the master's operator API for its
	// agents (their whole resources, and agents that make no offers to this framework).
	// Default 30s; negative turns it off (agents are then known from offers only).
	AgentPollInterval time.Duration
	// Log receives the connection's log lines.
	Log logr.Logger
	// Observer is told of a Driver's subscriptions, for metrics; nil means none.
	Observer Observer
}

// Handler receives the events of a subscription. Its methods are called one at a time,
// in the order Mesos sent the events, and must not block for long: the connection takes
// the master for dead when events are not read.
type Handler interface {
	// Subscribed: the master accepted the subscription. The framework id must be persisted.
	Subscribed(ctx context.Context, frameworkID string, master *mesos.MasterInfo)
	// Disconnected: the subscription ended or an attempt failed; the connection retries.
	Disconnected(ctx context.Context, err error)
	// Offers: resource offers to accept or decline.
	Offers(ctx context.Context, offers []mesos.Offer)
	// Rescind: an offer is no longer valid.
	Rescind(ctx context.Context, offerID mesos.OfferID)
	// Update: a task status update. Call ack once the update is persisted; an update
	// that is not acknowledged is sent again by Mesos.
	Update(ctx context.Context, status mesos.TaskStatus, ack func(context.Context) error)
	// Failure: an agent was removed, or an executor exited.
	Failure(ctx context.Context, failure *scheduler.Event_Failure)
	// Error: Mesos refused the framework (e.g. it was removed); the stream closes.
	Error(ctx context.Context, message string)
}

// MessageHandler is a Handler that takes the framework messages executors send (the
// executor's MESSAGE call, relayed by Mesos): data as the executor sent it. It must not
// block the event loop.
type MessageHandler interface {
	Message(ctx context.Context, agentID, executorID string, data []byte)
}

// Connection is one Mesos framework registration, kept alive until its context ends.
type Connection struct {
	cfg      Config
	handler  Handler
	detector Detector
	log      logr.Logger

	// heartbeat bounds the heartbeat interval the master announces.
	heartbeat heartbeats
	// stable, when set, stands for stableSubscription (tests).
	stable time.Duration

	mu          sync.RWMutex
	caller      calls.Caller
	frameworkID string
	// lookedForEarlier is set once the master was asked for an earlier framework to take
	// back, adopted to the id of the one taken, adopting until Mesos accepts it;
	// lookupFailures counts the attempts in a row that could not ask, removedEarlier the
	// ones taken that Mesos refused as removed (adopt.go).
	lookedForEarlier  bool
	adopted, adopting string
	lookupFailures    int
	removedEarlier    []string
	// leader is the master of the subscription as its MasterInfo names it; operator is
	// where the framework reached it (attempt.answered).
	leader, operator string
	// subscription names the subscription held (caller's), 0 while none is.
	subscription uint64
}

// New makes a Connection; Run starts it.
func New(cfg Config, h Handler) (*Connection, error) {
	if cfg.FrameworkInfo.User == "" || cfg.FrameworkInfo.Name == "" {
		return nil, errors.New("framework user and name are required")
	}
	if cfg.HeartbeatMisses <= 0 {
		cfg.HeartbeatMisses = 5
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MaxEventSize <= 0 {
		cfg.MaxEventSize = DefaultMaxEventSize
	}
	if cfg.MaxResponseSize <= 0 {
		cfg.MaxResponseSize = DefaultMaxResponseSize
	}
	det, err := ParseMaster(cfg.Master, cfg.TLS != nil)
	if err != nil {
		return nil, err
	}
	if zk, ok := det.(*zkDetector); ok {
		zk.timeout = cfg.RequestTimeout
	}
	c := &Connection{cfg: cfg, handler: h, detector: det, log: cfg.Log, heartbeat: defaultHeartbeats}
	if cfg.FrameworkInfo.ID != nil {
		c.frameworkID = cfg.FrameworkInfo.ID.Value
	}
	return c, nil
}

// FrameworkID is the id Mesos gave the framework, or the one it fails over to.
func (c *Connection) FrameworkID() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.frameworkID
}

// Leader is the URL of the master of the current subscription, as it names itself (its
// MasterInfo); empty when not subscribed.
func (c *Connection) Leader() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.leader
}

// operatorURL is where the master of the current subscription answered SUBSCRIBE: the
// address it names itself by may be one this process cannot reach (behind NAT, or a
// container bridge), that one the framework reached. Empty when not subscribed.
func (c *Connection) operatorURL() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.operator
}

// Subscribed says whether a subscription is held right now.
func (c *Connection) Subscribed() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.caller != nil
}

// subscriptions numbers the subscriptions of every Connection of the process.
var subscriptions atomic.Uint64

// Subscription names the subscription held right now, 0 while none is: a number no
// other subscription of any Connection of the process has. Offers are valid on the
// subscription they came on alone (see Launch).
func (c *Connection) Subscription() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.subscription
}

// Principal is the principal the Connection subscribes with (FrameworkInfo.principal),
// empty when none.
func (c *Connection) Principal() string { return c.cfg.FrameworkInfo.GetPrincipal() }

// ForgetFrameworkID makes the next subscription register a new framework, for when
// Mesos has removed the old one.
func (c *Connection) ForgetFrameworkID() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frameworkID = ""
}

// Run subscribes and re-subscribes until ctx ends.
func (c *Connection) Run(ctx context.Context) {
	defer c.detector.Close()
	backoff := c.cfg.MinBackoff
	for ctx.Err() == nil {
		began := time.Now()
		subscribed, err := c.subscribeOnce(ctx)
		err = c.forgetRemovedEarlier(err)
		c.ended()
		if ctx.Err() != nil {
			return
		}
		c.handler.Disconnected(ctx, err)
		backoff = c.nextBackoff(backoff, subscribed, err)
		wait := backoff
		switch {
		case failedOver(err):
			c.log.Info("Another scheduler subscribed as this framework (does a second manager lead this cluster?); waiting before subscribing again", "after", backoff)
		case c.atOnce(subscribed, time.Since(began), err):
			wait = 0
			c.log.V(1).Info("Subscribing again at once", "error", err.Error())
		default:
			c.log.V(1).Info("Waiting before subscribing again", "after", backoff, "error", err.Error())
		}
		if wait == 0 {
			continue // the next attempt that fails waits backoff, MinBackoff
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

// stableSubscription is how long a subscription lasts at least for the next attempt, once
// it ended, to be made at once: a master that failed over (or a stream a proxy closed)
// ends a subscription that had lasted, and the new master is there to take the next one.
// A subscription that ends sooner (a master that accepts and then drops it) waits
// MinBackoff, as a failed attempt does: a master is asked at most once per
// stableSubscription at once, where it was asked once per stableSubscription+MinBackoff.
const stableSubscription = 2 * time.Second

// atOnce says whether the next attempt is made at once, after a subscription accepted
// and ended with err, having lasted lasted: one that lasted (c.stable), and did not end
// because the master misbehaved or another scheduler took the framework over.
func (c *Connection) atOnce(subscribed bool, lasted time.Duration, err error) bool {
	stable := c.stable
	if stable == 0 {
		stable = stableSubscription
	}
	return subscribed && lasted >= stable && !misbehaved(err) && !failedOver(err)
}

// nextBackoff is how long to wait before subscribing again after a subscription ended
// with err, having waited wait before it. An accepted subscription starts again from
// MinBackoff, unless the master misbehaved, or another scheduler took the framework
// over: subscribing again at once would take it back, the two would take it from each
// other over and over, and both launch from their own queues. A manager that stalled
// past its leader election Lease finds it lost the Lease, and stops, well within
// MaxBackoff.
func (c *Connection) nextBackoff(wait time.Duration, subscribed bool, err error) time.Duration {
	switch {
	case failedOver(err):
		return c.cfg.MaxBackoff
	case subscribed && !misbehaved(err):
		return c.cfg.MinBackoff
	}
	return wait
}

// failedOver says whether a subscription ended because another scheduler subscribed as
// the same framework.
func failedOver(err error) bool {
	var se *SubscribeError
	return errors.As(err, &se) && se.Reason == ReasonSubscribeRefused && se.Err != nil && IsFailedOver(se.Err.Error())
}

// misbehaved says whether a subscription ended because the master sent what a Mesos
// master does not: the next attempt backs off further even though it was accepted.
func misbehaved(err error) bool {
	var se *SubscribeError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Reason {
	case ReasonBadStream, ReasonEventTooLarge, ReasonMalformedEvent:
		return true
	}
	return false
}

// subscribeOnce makes one subscription and reads its events until it ends. It says
// whether the master accepted the subscription.
func (c *Connection) subscribeOnce(ctx context.Context) (bool, error) {
	master, err := c.detector.Leader(ctx)
	if err != nil {
		return false, &SubscribeError{Reason: ReasonNoLeader, Err: err}
	}
	// Closed once that master no longer leads, even while an event is being handled.
	a := attempt{master: master, changed: c.detector.Changed()}
	mh := newMasterHTTP(c.cfg)
	defer mh.closeIdle()
	if err := c.lookForEarlier(ctx, master, mh); err != nil {
		c.detector.Failed(master)
		return false, err
	}
	// Errors other than redirects are not retried inside mesos-go: Run backs off and
	// rotates masters itself.
	endpoint := master + "/api/v1/scheduler"
	cl := mh.client(endpoint)
	a.caller = httpsched.NewCaller(cl, httpsched.AllowReconnection(false),
		httpsched.EndpointCandidates(func() string { return "" }))

	// From sending SUBSCRIBE to the SUBSCRIBED event, RequestTimeout; then the watchdog.
	deadline := time.Now().Add(c.cfg.RequestTimeout)
	subCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	resp, stream, err := c.subscribe(subCtx, cancel, master, a.caller, mh)
	if err != nil {
		c.detector.Failed(master)
		return false, err
	}
	defer func() { _, _ = resp.Close(), stream.Close() }()
	// mesos-go follows a non-leader's redirect for SUBSCRIBE alone, and would send every
	// later call of the subscription to the master it was built for, which redirects it
	// too (Mesos answers every call of a non-leader so): the call fails, and mesos-go
	// takes it for the subscription's end. The calls go where SUBSCRIBE was answered.
	a.answered = master
	if at := mh.subscribedAt(); at != "" && at != endpoint {
		cl.With(httpcli.Endpoint(at))
		a.answered = baseURL(at, master)
	}

	events, readErr := readEvents(subCtx, master, newFrameReader(stream, c.cfg.MaxEventSize))
	subscribed, err := c.handleEvents(ctx, a, deadline, events, readErr)
	if !subscribed {
		c.detector.Failed(master)
	}
	return subscribed, err
}

// attempt is one attempt to subscribe.
type attempt struct {
	// master is the master SUBSCRIBE went to; answered is the one that answered it with
	// its event stream (after a redirect, the leader), at the address the framework
	// reached it at: the subscription's calls and the operator API go there.
	master, answered string
	// changed is closed once master no longer leads (Detector.Changed).
	changed <-chan struct{}
	// caller sends the subscription's calls.
	caller calls.Caller
}

// baseURL is the scheme and host of an endpoint's URL; fallback if it is not one.
func baseURL(endpoint, fallback string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fallback
	}
	return u.Scheme + "://" + u.Host
}

// subscribe sends SUBSCRIBE through caller and returns its response and event stream,
// or a SubscribeError. ctx is cancelled with errNoAnswer when the master takes longer
// than RequestTimeout to answer.
func (c *Connection) subscribe(ctx context.Context, cancel context.CancelCauseFunc, master string, caller calls.Caller, mh *masterHTTP) (mesos.Response, io.ReadCloser, error) {
	timer := time.AfterFunc(c.cfg.RequestTimeout, func() { cancel(errNoAnswer) })
	info := c.subscribeInfo()
	resp, stream, err := mh.subscribe(func() (mesos.Response, error) { return caller.Call(ctx, calls.Subscribe(&info)) })
	if !timer.Stop() && err == nil { // the answer came as the deadline passed
		_, _ = resp.Close(), stream.Close()
		err = context.Cause(ctx)
	}
	switch {
	case err == nil:
		return resp, stream, nil
	case isDialError(err):
		// Not connected, whether or not the deadline cut the dial short: unreachable.
	case errors.Is(context.Cause(ctx), errNoAnswer):
		return nil, nil, &SubscribeError{Reason: ReasonMasterTimeout, Master: master,
			Err: fmt.Errorf("the master did not answer SUBSCRIBE within %s (RequestTimeout)", c.cfg.RequestTimeout)}
	case isTimeout(err):
		return nil, nil, &SubscribeError{Reason: ReasonMasterTimeout, Master: master,
			Err: fmt.Errorf("the master did not answer SUBSCRIBE within %s (RequestTimeout): %w", c.cfg.RequestTimeout, err)}
	}
	return nil, nil, classify(master, err)
}

// subscribeInfo is the FrameworkInfo to subscribe with: with the framework's id, to
// fail over to it, once Mesos gave one.
func (c *Connection) subscribeInfo() mesos.FrameworkInfo {
	info := c.cfg.FrameworkInfo
	if id := c.FrameworkID(); id != "" {
		info.ID = &mesos.FrameworkID{Value: id}
	} else {
		info.ID = nil
	}
	return info
}

// handleEvents hands the subscription's events to the handler until the subscription
// ends: ctx ends, the leader changes, no SUBSCRIBED event came by deadline, the master
// stays silent for HeartbeatMisses heartbeat intervals, the stream closes or breaks, or
// Mesos refuses the framework. It says whether the master accepted the subscription.
func (c *Connection) handleEvents(ctx context.Context, a attempt, deadline time.Time, events <-chan *scheduler.Event, readErr <-chan error) (bool, error) {
	master := a.master
	subscribed := false
	var silence time.Duration // how long the master may be silent once subscribed
	watchdog := time.NewTimer(time.Until(deadline))
	defer watchdog.Stop()
	for {
		select {
		case <-ctx.Done():
			return subscribed, ctx.Err()
		case <-a.changed:
			return subscribed, &SubscribeError{Reason: ReasonLeaderChanged, Master: master, Err: errors.New("ZooKeeper names a new leading master")}
		case <-watchdog.C:
			if !subscribed {
				return false, &SubscribeError{Reason: ReasonMasterTimeout, Master: master,
					Err: fmt.Errorf("the master answered SUBSCRIBE but sent no SUBSCRIBED event within %s (RequestTimeout)", c.cfg.RequestTimeout)}
			}
			return true, &SubscribeError{Reason: ReasonHeartbeatMissed, Master: master,
				Err: fmt.Errorf("no event from the master for %s (%d heartbeat intervals)", silence, c.cfg.HeartbeatMisses)}
		case e, ok := <-events:
			if !ok {
				return subscribed, <-readErr
			}
			if e.GetType() == scheduler.Event_SUBSCRIBED {
				silence = time.Duration(c.cfg.HeartbeatMisses) * c.subscribed(a, e.GetSubscribed())
				subscribed = true
			}
			// Before SUBSCRIBED, other events do not move the deadline.
			if subscribed {
				resetTimer(watchdog, silence)
			}
			if err := c.dispatch(ctx, e); err != nil {
				return subscribed, err
			}
		}
	}
}

// subscribed records an accepted subscription: calls go to caller from now on. It
// returns the heartbeat interval to watch: the one the master announced, within bounds.
func (c *Connection) subscribed(a attempt, s *scheduler.Event_Subscribed) time.Duration {
	announced := s.GetHeartbeatIntervalSeconds()
	heartbeat := c.heartbeat.interval(announced)
	if announced != heartbeat.Seconds() {
		c.log.Info("Using a heartbeat interval other than the master announced", "announced", announced, "used", heartbeat.String())
	}
	c.mu.Lock()
	c.caller, c.frameworkID, c.leader, c.operator, c.adopting = a.caller, s.FrameworkID.GetValue(), leaderURL(a.master, s.MasterInfo), a.answered, ""
	c.subscription = subscriptions.Add(1)
	c.mu.Unlock()
	c.log.Info("Subscribed", "frameworkID", s.FrameworkID.GetValue(), "master", c.Leader())
	return heartbeat
}

// ended records that the subscription ended, or the attempt failed: calls fail from now on.
func (c *Connection) ended() {
	c.mu.Lock()
	c.caller, c.leader, c.operator, c.subscription = nil, "", "", 0
	c.mu.Unlock()
}

// resetTimer restarts t to fire after d, draining a tick it may hold.
func resetTimer(t *time.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(d)
}

func leaderURL(master string, info *mesos.MasterInfo) string {
	if info == nil {
		return master
	}
	scheme := "http"
	if strings.HasPrefix(master, "https:") {
		scheme = "https"
	}
	host := masterHost(scheme, info.GetAddress().GetIP(), info.GetAddress().GetHostname(), info.GetHostname())
	port := info.GetAddress().GetPort()
	if host == "" || port == 0 {
		return master
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// masterHost is the host to reach a master at, from its MasterInfo: its IP for http (no
// name to resolve), its hostname for https, whose certificate names hosts more often than
// addresses (Mesos's own TLS checks peers by their hostnames).
func masterHost(scheme, ip string, hostnames ...string) string {
	name := ""
	for _, h := range hostnames {
		if h != "" {
			name = h
			break
		}
	}
	if scheme == "https" && name != "" || ip == "" {
		return name
	}
	return ip
}

// classify turns a failed SUBSCRIBE into a SubscribeError with a reason a person can act on.
func classify(master string, err error) error {
	switch {
	case apierrors.CodeNotAuthenticated.Matches(err):
		return &SubscribeError{Reason: ReasonAuthenticationFailed, Master: master, Err: errors.New("the master refused the framework's credentials")}
	case apierrors.CodeMalformedRequest.Matches(err), apierrors.CodeUnsubscribed.Matches(err):
		return &SubscribeError{Reason: ReasonSubscribeRefused, Master: master, Err: err}
	case apierrors.CodeMesosUnavailable.Matches(err):
		return &SubscribeError{Reason: ReasonNoLeader, Master: master, Err: errors.New("the master knows no leader yet")}
	case errors.As(err, new(httpcli.ProtocolError)):
		return &SubscribeError{Reason: ReasonBadStream, Master: master, Err: fmt.Errorf("the answer to SUBSCRIBE is not a Mesos event stream: %w", err)}
	}
	return &SubscribeError{Reason: ReasonMasterUnreachable, Master: master, Err: err}
}
