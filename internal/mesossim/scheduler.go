package mesossim

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/recordio"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/k8sm/k8sm/internal/fifo"
)

const (
	mediaProtobuf = "application/x-protobuf"
	mediaJSON     = "application/json"
)

// stream is one SUBSCRIBE connection.
type stream struct {
	id       string
	protobuf bool
	// events are those not yet written. As Mesos's master (libprocess http::Pipe), a
	// stream buffers what its framework has not read yet without bound: 10,000
	// reconciliation answers sent at once all arrive.
	events    *fifo.Queue[*scheduler.Event]
	done      chan struct{}
	closeOnce sync.Once
}

func newStream(protobuf bool) *stream {
	return &stream{id: uuid.NewString(), protobuf: protobuf, events: fifo.New[*scheduler.Event](), done: make(chan struct{})}
}

func (s *stream) close() { s.closeOnce.Do(func() { close(s.done) }) }

// send queues an event on the framework's stream, unless the stream ended.
func (fw *framework) send(e *scheduler.Event) {
	s := fw.stream
	if s == nil {
		return
	}
	fw.observeSent(e) // before the framework can see it, and so acknowledge it
	select {
	case <-s.done:
	default:
		s.events.Push(e)
	}
}

// unmarshal decodes a call's body in its content type, protobuf or JSON.
func unmarshal(contentType string, body []byte, call interface{ Unmarshal([]byte) error }) error {
	if contentType == mediaProtobuf {
		return call.Unmarshal(body)
	}
	return json.Unmarshal(body, call)
}

// readCall checks what the master's v1 APIs ask of every request (POST, a Content-Type
// of JSON or protobuf) and reads its body; ok is false when it answered the request.
func readCall(w http.ResponseWriter, r *http.Request, limit int64) (contentType string, body []byte, ok bool) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r.Method)
		return "", nil, false
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		writeError(w, http.StatusBadRequest, "Expecting 'Content-Type' to be present")
		return "", nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return "", nil, false
	}
	if ct != mediaProtobuf && ct != mediaJSON {
		writeError(w, http.StatusUnsupportedMediaType, "Expecting 'Content-Type' of "+mediaJSON+" or "+mediaProtobuf)
		return "", nil, false
	}
	return ct, body, true
}

// serveScheduler is the scheduler endpoint, checking a call in Master::Http::scheduler's
// order (src/master/http.cpp), after authentication (auth.go): method, content type,
// parse, validation (with, for SUBSCRIBE, the authenticated principal); then for
// SUBSCRIBE the Accept and stream id headers, for other calls the framework, its
// principal, its connection and its stream id.
func (m *Master) serveScheduler(w http.ResponseWriter, r *http.Request) {
	principal, ok := m.authenticated(w, r, realmScheduler, m.cfg.AuthenticateHTTPFrameworks)
	if !ok {
		return
	}
	ct, body, ok := readCall(w, r, 64<<20)
	if !ok {
		return
	}
	call, err := decodeCall(ct, body)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	if call.Type == scheduler.Call_SUBSCRIBE {
		// A framework that authenticated must name its principal, or none: it is then
		// given that principal (Master::Http::scheduler).
		if info := call.Subscribe.FrameworkInfo; principal != nil {
			if info.Principal != nil && *info.Principal != *principal {
				writeError(w, http.StatusBadRequest, "Failed to validate scheduler::Call: "+principalMismatch(*principal, *info.Principal))
				return
			}
			info.Principal = principal
		}
		m.subscribe(w, r, call)
		return
	}
	m.observeAcknowledge(call)
	if err := m.handleCall(r.Header.Values("Mesos-Stream-Id"), principal, call); err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// accepts picks a stream's media type from the Accept header as Mesos does: JSON when
// accepted, else protobuf when accepted.
func accepts(r *http.Request) (protobuf, ok bool) {
	switch {
	case acceptsMediaType(r, mediaJSON):
		return false, true
	case acceptsMediaType(r, mediaProtobuf):
		return true, true
	}
	return false, false
}

// subscribe serves a SUBSCRIBE: it registers the framework (or refuses it) and streams
// its events until the stream ends.
func (m *Master) subscribe(w http.ResponseWriter, r *http.Request, call *scheduler.Call) {
	protobuf, ok := subscribeHeaders(w, r)
	if !ok {
		return
	}
	info := *call.GetSubscribe().FrameworkInfo
	s := newStream(protobuf)

	m.mu.Lock()
	fw, refusal := m.subscribeLocked(info, s)
	m.mu.Unlock()

	w.Header().Set("Content-Type", mediaJSON)
	if protobuf {
		w.Header().Set("Content-Type", mediaProtobuf)
	}
	// Mesos sets the stream id before it decides (http.cpp: Master::Http::scheduler), so
	// a refused SUBSCRIBE also carries one; the ERROR event on the stream says why.
	w.Header().Set("Mesos-Stream-Id", s.id)
	w.WriteHeader(http.StatusOK)
	write := func(e *scheduler.Event) bool { return writeFrame(w, protobuf, e) }
	if refusal != "" {
		write(&scheduler.Event{Type: scheduler.Event_ERROR, Error: &scheduler.Event_Error{Message: refusal}})
		return
	}
	defer m.disconnected(fw, s)
	m.streamEvents(r, s, write)
}

// subscribeHeaders checks the headers of a SUBSCRIBE and picks the stream's media type;
// ok is false when it answered the request.
func subscribeHeaders(w http.ResponseWriter, r *http.Request) (protobuf, ok bool) {
	protobuf, ok = accepts(r)
	if !ok {
		writeError(w, http.StatusNotAcceptable, "Expecting 'Accept' to allow '"+mediaProtobuf+"' or '"+mediaJSON+"'")
		return false, false
	}
	if _, present := r.Header["Mesos-Stream-Id"]; present {
		writeError(w, http.StatusBadRequest, "Subscribe calls should not include the 'Mesos-Stream-Id' header")
		return false, false
	}
	return protobuf, true
}

// subscribeLocked registers a subscribing framework on stream s and queues its
// SUBSCRIBED event. It returns why the master refuses the framework, or "".
func (m *Master) subscribeLocked(info mesos.FrameworkInfo, s *stream) (*framework, string) {
	var fw *framework
	if info.ID != nil && info.ID.Value != "" {
		fw = m.frameworks[info.ID.Value]
	}
	if refusal := frameworkRefusal(info, fw); refusal != "" {
		return fw, refusal
	}
	// A framework the master knows (not one a failed-over master has not heard of yet,
	// which it takes as it comes: Master::recoverFramework) keeps its user and
	// checkpointing, and may not change its principal.
	if fw != nil && !fw.unknown {
		if refusal := updateRefusal(fw.info, &info); refusal != "" {
			return fw, refusal
		}
	}
	fw = m.frameworkForLocked(info, fw)
	if fw.failover != nil {
		fw.failover.Stop()
		fw.failover = nil
	}
	info.ID = &mesos.FrameworkID{Value: fw.id}
	fw.info = info
	if now := time.Now(); fw.registered.IsZero() {
		fw.registered = now
	} else {
		fw.reregistered = now
	}
	fw.unknown, fw.recovered = false, false
	fw.partitionAware = hasCapability(info, mesos.FrameworkInfo_Capability_PARTITION_AWARE)
	fw.suppressed = false
	m.recoverOffersOfLocked(fw, false)
	fw.stream = s
	hb := m.cfg.HeartbeatInterval.Seconds()
	fw.send(&scheduler.Event{Type: scheduler.Event_SUBSCRIBED, Subscribed: &scheduler.Event_Subscribed{
		FrameworkID: &mesos.FrameworkID{Value: fw.id}, HeartbeatIntervalSeconds: &hb, MasterInfo: m.masterInfo()}})
	fw.send(&scheduler.Event{Type: scheduler.Event_HEARTBEAT})
	if o := m.cfg.Observer; o != nil && o.Subscribed != nil {
		o.Subscribed(fw.id)
	}
	// Updates not acknowledged are sent again at once: the master sends the agents the
	// framework's new info, and each agent's status update manager resends what is
	// pending (Mesos: src/master/master.cpp Master::sendFrameworkUpdates;
	// src/slave/slave.cpp Slave::updateFramework).
	for _, t := range fw.tasks {
		if len(t.pending) > 0 {
			m.sendPendingLocked(t)
		}
	}
	for _, a := range m.agents {
		m.resendStraysLocked(a, fw)
	}
	m.allocateSoonLocked()
	return fw, ""
}

// frameworkForLocked returns the framework a SUBSCRIBE registers: fw failing over, its
// old stream told so ("Framework failed over", master.cpp: Master::failoverFramework)
// and closed, or a new one when the master does not know it.
func (m *Master) frameworkForLocked(info mesos.FrameworkInfo, fw *framework) *framework {
	if fw == nil {
		id := ""
		if info.ID != nil && info.ID.Value != "" {
			id = info.ID.Value // a framework the master forgot (e.g. after a restart) re-registers
		} else {
			id = fmt.Sprintf("%s-%04d", m.id, m.nextFW)
			m.nextFW++
		}
		fw = &framework{id: id, filters: map[string][]refusal{}, tasks: map[string]*task{}, observer: m.cfg.Observer}
		m.frameworks[id] = fw
	} else if fw.stream != nil {
		fw.send(&scheduler.Event{Type: scheduler.Event_ERROR, Error: &scheduler.Event_Error{Message: "Framework failed over"}})
		old := fw.stream
		fw.stream = nil
		go func() { time.Sleep(50 * time.Millisecond); old.close() }()
	}
	return fw
}

// streamEvents writes the stream's events, and a heartbeat every interval, until the
// stream ends, the client goes away or the master stops. An ERROR event ends it.
func (m *Master) streamEvents(r *http.Request, s *stream, write func(*scheduler.Event) bool) {
	heartbeat := time.NewTicker(m.cfg.HeartbeatInterval)
	defer heartbeat.Stop()
	for {
		select {
		case <-s.events.Ready():
			for _, e := range s.events.TakeAll() {
				if !write(e) || e.Type == scheduler.Event_ERROR {
					return
				}
			}
		case <-heartbeat.C:
			if !write(&scheduler.Event{Type: scheduler.Event_HEARTBEAT}) {
				return
			}
		case <-s.done:
			// Flush what was queued (e.g. ERROR "Framework failed over"), then end.
			flushEvents(s, write)
			return
		case <-r.Context().Done():
			return
		case <-m.stop:
			return
		}
	}
}

// flushEvents writes the events still queued on a closed stream.
func flushEvents(s *stream, write func(*scheduler.Event) bool) {
	for _, e := range s.events.TakeAll() {
		if !write(e) {
			return
		}
	}
}

func hasCapability(info mesos.FrameworkInfo, c mesos.FrameworkInfo_Capability_Type) bool {
	for _, x := range info.Capabilities {
		if x.Type == c {
			return true
		}
	}
	return false
}

// MasterInfo is the master's MasterInfo, as SUBSCRIBED gives it (masterInfo).
func (m *Master) MasterInfo() *mesos.MasterInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.masterInfo()
}

// masterInfo is the MasterInfo of SUBSCRIBED as Mesos 1.12 fills it (master.cpp:
// Master::initialize): the master's address and hostname (address.go), ip in network
// byte order, libprocess pid, version and the master's capabilities
// (master/constants.cpp: MASTER_CAPABILITIES).
func (m *Master) masterInfo() *mesos.MasterInfo {
	ip := m.ip.String()
	port := uint32(m.ln.Addr().(*net.TCPAddr).Port)
	host := m.hostname
	pid := "master@" + net.JoinHostPort(ip, strconv.Itoa(int(port)))
	var packed uint32
	if v4 := m.ip.To4(); v4 != nil {
		packed = binary.LittleEndian.Uint32(v4) // s_addr as a little-endian host reads it
	}
	info := &mesos.MasterInfo{ID: m.id, IP: packed, Port: &port, PID: &pid, Hostname: &host,
		Address: &mesos.Address{IP: &ip, Port: int32(port), Hostname: &host}, Version: ptr(simVersion),
		Capabilities: []mesos.MasterInfo_Capability{
			{Type: mesos.MasterInfo_Capability_AGENT_UPDATE},
			{Type: mesos.MasterInfo_Capability_AGENT_DRAINING},
			{Type: capabilityQuotaV2},
		}}
	if r := m.region(); r != "" {
		info.Domain = faultDomain(r, m.cfg.AgentZones[0])
	}
	return info
}

// capabilityQuotaV2 is MasterInfo.Capability.QUOTA_V2, which mesos-go v0.0.11 does not
// name: its protobuf decoding keeps the number, its JSON decoding refuses "QUOTA_V2" as
// it does against Mesos 1.12 (MESOS-PROTOCOL.md).
const capabilityQuotaV2 mesos.MasterInfo_Capability_Type = 3

// marshalJSON renders a message in JSON as Mesos does (stout's jsonify of a protobuf):
// an unset or empty repeated field is left out, where mesos-go writes null (or []);
// and mesos-go writes an enum value it does not name as its number, of which the sim
// sends one, QUOTA_V2 in SUBSCRIBED.
func marshalJSON(e message) ([]byte, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	if se, ok := e.(*scheduler.Event); ok && se.Type == scheduler.Event_SUBSCRIBED {
		data = bytes.ReplaceAll(data, []byte(`{"type":"3"}`), []byte(`{"type":"QUOTA_V2"}`))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(dropEmpty(v))
}

// dropEmpty removes null and [] members from decoded JSON.
func dropEmpty(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if a, isArray := e.([]any); e == nil || isArray && len(a) == 0 {
				delete(x, k)
				continue
			}
			x[k] = dropEmpty(e)
		}
	case []any:
		for i := range x {
			x[i] = dropEmpty(x[i])
		}
	}
	return v
}

func ptr[T any](v T) *T { return &v }

// disconnected handles the end of a stream: the framework is deactivated, its offers
// rescinded and its refuse filters cleared (the allocator's deactivateFramework), and
// the failover timeout starts; when it passes the framework is removed with its tasks
// (master.cpp: Master::_exited, disconnect, deactivate, frameworkFailoverTimeout,
// removeFramework). A framework that subscribes again is offered everything at once.
func (m *Master) disconnected(fw *framework, s *stream) {
	s.close()
	m.mu.Lock()
	defer m.mu.Unlock()
	if fw.stream != s {
		return // failed over to a new stream
	}
	fw.stream = nil
	clearFiltersLocked(fw, nil)
	m.recoverOffersOfLocked(fw, false)
	m.startFailoverTimerLocked(fw)
}

// startFailoverTimerLocked removes a disconnected framework when its failover_timeout
// passes without a new SUBSCRIBE (Master::_exited: a delay of
// FrameworkInfo.failover_timeout, default 0, negative ones included, which Duration
// accepts and delay runs at once).
func (m *Master) startFailoverTimerLocked(fw *framework) {
	timeout := time.Duration(0)
	if t := fw.info.FailoverTimeout; t != nil {
		timeout = time.Duration(*t * float64(time.Second))
	}
	fw.failover = time.AfterFunc(timeout, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if fw.stream == nil && !fw.removed && m.frameworks[fw.id] == fw {
			m.removeFrameworkLocked(fw)
		}
	})
}

// removeFrameworkLocked removes a framework, after its failover timeout or on TEARDOWN
// (Mesos: src/master/master.cpp Master::removeFramework(Framework*)): no update is sent
// to anyone; the master marks its tasks TASK_KILLED (REASON_FRAMEWORK_REMOVED) and frees
// their resources, and tells the agents to shut the framework down
// (src/slave/slave.cpp Slave::shutdownFramework): each executor gets SHUTDOWN and is
// killed after its grace period, and its exit is reported to no one (the agent sends no
// update for a terminating framework; Master::exitedExecutor drops the FAILURE of an
// unknown one). A later SUBSCRIBE with its id is refused: "Framework has been removed"
// (Master::validateFramework).
func (m *Master) removeFrameworkLocked(fw *framework) {
	fw.removed = true
	m.recoverOffersOfLocked(fw, false)
	for _, t := range fw.tasks {
		if !isTerminal(t.state) {
			t.state = mesos.TASK_KILLED
			m.releaseLocked(t)
		}
		stopCommandLocked(t)
		m.dropPendingLocked(t)
	}
	prefix := fw.id + "/"
	for _, a := range m.agents {
		m.dropStraysLocked(a, fw)
		for k, run := range a.runs {
			if strings.HasPrefix(k, prefix) {
				m.stopExecutor(run)
			}
		}
		for k := range a.executors {
			if strings.HasPrefix(k, prefix) {
				releaseExecutorLocked(a, k)
			}
		}
	}
	if fw.stream != nil {
		fw.stream.close()
		fw.stream = nil
	}
}

// handleCall runs every call but SUBSCRIBE, once the framework is known, of the principal
// that authenticated (if any), and subscribed, and the request carries its stream id
// (http.cpp: Master::Http::scheduler).
func (m *Master) handleCall(streamIDs []string, principal *string, call *scheduler.Call) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	fw := m.frameworks[call.FrameworkID.Value]
	if fw == nil || fw.removed || fw.unknown {
		return badRequest("Framework cannot be found")
	}
	if principal != nil && *principal != fw.info.GetPrincipal() {
		return badRequest("%s", principalMismatch(*principal, fw.info.GetPrincipal()))
	}
	if fw.stream == nil {
		return &httpError{http.StatusForbidden, "Framework is not subscribed"}
	}
	if len(streamIDs) == 0 {
		return badRequest("All non-subscribe calls should include the 'Mesos-Stream-Id' header")
	}
	if streamIDs[0] != fw.stream.id {
		return badRequest("The stream ID '%s' included in this request didn't match the stream ID currently associated with framework ID %s", streamIDs[0], fw.id)
	}
	if o := m.cfg.Observer; o != nil && o.Called != nil {
		o.Called(fw.id, call.Type)
	}
	switch call.Type {
	case scheduler.Call_TEARDOWN:
		m.removeFrameworkLocked(fw)
	case scheduler.Call_ACCEPT:
		if m.failAccepts > 0 {
			m.failAccepts--
			if m.failAcceptsProcessed {
				m.acceptLocked(fw, call.GetAccept())
			}
			return &httpError{http.StatusServiceUnavailable, "Injected fault: the ACCEPT's answer is lost"}
		}
		m.acceptLocked(fw, call.GetAccept())
	case scheduler.Call_DECLINE:
		d := call.GetDecline()
		now := time.Now()
		for _, id := range d.OfferIDs {
			if o := m.offers[id.Value]; o != nil && o.fw == fw {
				m.recoverOfferLocked(o)
				m.refuseLocked(fw, o.agent, o.role, o.res, d.Filters, now)
			}
		}
	case scheduler.Call_REVIVE:
		fw.suppressed = false
		clearFiltersLocked(fw, call.GetRevive().GetRoles())
		m.allocateSoonLocked()
	case scheduler.Call_SUPPRESS:
		fw.suppressed = true
	case scheduler.Call_KILL:
		m.killLocked(fw, call.GetKill())
	case scheduler.Call_ACKNOWLEDGE:
		return m.acknowledgeLocked(fw, call.GetAcknowledge())
	case scheduler.Call_RECONCILE:
		fw.reconciles++
		m.reconcileLocked(fw, call.GetReconcile())
	case scheduler.Call_MESSAGE:
		m.messageLocked(fw, call.GetMessage())
	case scheduler.Call_SHUTDOWN:
		m.shutdownLocked(fw, call.GetShutdown())
	case scheduler.Call_ACCEPT_INVERSE_OFFERS, scheduler.Call_DECLINE_INVERSE_OFFERS:
		m.answerInverseOffersLocked(call)
	case scheduler.Call_REQUEST:
	default:
		return badRequest("Call type %s is not supported", call.Type)
	}
	return nil
}

// message is an event either API streams.
type message interface{ Marshal() ([]byte, error) }

// writeFrame writes one event as a RecordIO frame in the stream's media type and
// flushes it; false when the stream is gone.
func writeFrame(w http.ResponseWriter, protobuf bool, e message) bool {
	var data []byte
	var err error
	if protobuf {
		data, err = e.Marshal()
	} else {
		data, err = marshalJSON(e)
	}
	if err != nil {
		return false
	}
	var buf bytes.Buffer
	if err := recordio.NewWriter(&buf).WriteFrame(data); err != nil {
		return false
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return false
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	return true
}

// refuse is how long declined resources stay away: filters.refuse_seconds, 5 s when
// unset, negative or not a number, at most 365 days (recoverResources).
func refuse(f *mesos.Filters) time.Duration {
	const defaultSecs = 5.0
	secs := defaultSecs
	if f != nil && f.RefuseSeconds != nil {
		secs = *f.RefuseSeconds
	}
	switch {
	case secs > 365*24*3600:
		return 365 * 24 * time.Hour
	case secs < 0 || math.IsNaN(secs):
		secs = defaultSecs
	}
	return time.Duration(secs * float64(time.Second))
}

func updateEvent(s mesos.TaskStatus) *scheduler.Event {
	return &scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: s}}
}
