package mesossim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/recordio"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

const (
	mediaProtobuf = "application/x-protobuf"
	mediaJSON     = "application/json"
)

// stream is one SUBSCRIBE connection.
type stream struct {
	id        string
	protobuf  bool
	events    chan *scheduler.Event
	done      chan struct{}
	closeOnce sync.Once
}

func (s *stream) close() { s.closeOnce.Do(func() { close(s.done) }) }

// send queues an event on the framework's stream; a stream that cannot keep up is closed.
func (fw *framework) send(e *scheduler.Event) {
	s := fw.stream
	if s == nil {
		return
	}
	fw.observeSent(e) // before the framework can see it, and so acknowledge it
	select {
	case s.events <- e:
	case <-s.done:
	default:
		s.close()
	}
}

// unmarshal decodes a call's body in its content type, protobuf or JSON.
func unmarshal(contentType string, body []byte, call interface{ Unmarshal([]byte) error }) error {
	if contentType == mediaProtobuf {
		return call.Unmarshal(body)
	}
	return json.Unmarshal(body, call)
}

func decodeCall(contentType string, body []byte) (*scheduler.Call, error) {
	var call scheduler.Call
	switch contentType {
	case mediaProtobuf:
		if err := call.Unmarshal(body); err != nil {
			return nil, badRequest("Failed to parse body into Call protobuf: %v", err)
		}
	case mediaJSON:
		if err := json.Unmarshal(body, &call); err != nil {
			return nil, badRequest("Failed to parse body into JSON: %v", err)
		}
	}
	if call.Type == scheduler.Call_UNKNOWN {
		return nil, badRequest("Failed to validate scheduler::Call: Expecting 'type' to be present")
	}
	if call.Type == scheduler.Call_SUBSCRIBE {
		sub := call.GetSubscribe()
		if sub == nil {
			return nil, badRequest("Failed to validate scheduler::Call: Expecting 'subscribe' to be present")
		}
		if sub.FrameworkInfo == nil || sub.FrameworkInfo.User == "" || sub.FrameworkInfo.Name == "" {
			return nil, badRequest("Failed to validate scheduler::Call: Missing required fields: framework_info.user, framework_info.name")
		}
	} else if call.FrameworkID == nil || call.FrameworkID.Value == "" {
		return nil, badRequest("Failed to validate scheduler::Call: Expecting 'framework_id' to be present")
	}
	return &call, nil
}

// readCall checks what the master's v1 APIs ask of every request (POST, a Content-Type
// of JSON or protobuf) and reads its body; ok is false when it answered the request.
func readCall(w http.ResponseWriter, r *http.Request, limit int64) (contentType string, body []byte, ok bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Expecting a 'POST' request, received '"+r.Method+"'", http.StatusMethodNotAllowed)
		return "", nil, false
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		http.Error(w, "Expecting 'Content-Type' to be present", http.StatusBadRequest)
		return "", nil, false
	}
	if ct != mediaProtobuf && ct != mediaJSON {
		http.Error(w, "Expecting 'Content-Type' of "+mediaJSON+" or "+mediaProtobuf, http.StatusUnsupportedMediaType)
		return "", nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return "", nil, false
	}
	return ct, body, true
}

func (m *Master) serveScheduler(w http.ResponseWriter, r *http.Request) {
	ct, body, ok := readCall(w, r, 64<<20)
	if !ok {
		return
	}
	call, err := decodeCall(ct, body)
	if err != nil {
		http.Error(w, err.Error(), statusOf(err))
		return
	}
	if call.Type == scheduler.Call_SUBSCRIBE {
		m.subscribe(w, r, call)
		return
	}
	m.observeAcknowledge(call)
	if err := m.handleCall(r.Header.Get("Mesos-Stream-Id"), call); err != nil {
		http.Error(w, err.Error(), statusOf(err))
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// accepts picks the stream's media type from the Accept header, as Mesos does.
func accepts(accept string) (protobuf, ok bool) {
	if accept == "" || strings.Contains(accept, "*/*") {
		return false, true
	}
	switch {
	case strings.Contains(accept, mediaProtobuf):
		return true, true
	case strings.Contains(accept, mediaJSON):
		return false, true
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
	s := &stream{id: uuid.NewString(), protobuf: protobuf, events: make(chan *scheduler.Event, 4096), done: make(chan struct{})}

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
	if r.Header.Get("Mesos-Stream-Id") != "" {
		http.Error(w, "Subscribe calls should not include the 'Mesos-Stream-Id' header", http.StatusBadRequest)
		return false, false
	}
	protobuf, ok = accepts(r.Header.Get("Accept"))
	if !ok {
		http.Error(w, "Expecting 'Accept' to allow application/json or application/x-protobuf", http.StatusNotAcceptable)
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
	if refusal := subscribeRefusal(info, fw); refusal != "" {
		return fw, refusal
	}
	fw = m.frameworkForLocked(info, fw)
	if fw.failover != nil {
		fw.failover.Stop()
		fw.failover = nil
	}
	info.ID = &mesos.FrameworkID{Value: fw.id}
	fw.info = info
	fw.partitionAware = hasCapability(info, mesos.FrameworkInfo_Capability_PARTITION_AWARE)
	fw.suppressed = false
	m.recoverOffersOfLocked(fw, false)
	fw.stream = s
	hb := m.cfg.HeartbeatInterval.Seconds()
	fw.send(&scheduler.Event{Type: scheduler.Event_SUBSCRIBED, Subscribed: &scheduler.Event_Subscribed{
		FrameworkID: &mesos.FrameworkID{Value: fw.id}, HeartbeatIntervalSeconds: &hb, MasterInfo: m.masterInfo()}})
	fw.send(&scheduler.Event{Type: scheduler.Event_HEARTBEAT})
	// Updates not acknowledged before the failover are sent again.
	for _, t := range fw.tasks {
		if len(t.pending) > 0 {
			m.sendPendingLocked(t)
		}
	}
	return fw, ""
}

// subscribeRefusal says why the master refuses a SUBSCRIBE, or "". fw is the framework
// the SUBSCRIBE names, if the master knows it.
func subscribeRefusal(info mesos.FrameworkInfo, fw *framework) string {
	if fw != nil && fw.removed {
		return "Framework has been removed"
	}
	refusal := ""
	for _, role := range info.GetRoles() {
		if role == "" || strings.HasPrefix(role, "-") || strings.Contains(role, " ") || role == "." || role == ".." {
			refusal = "Role '" + role + "' is invalid"
		}
	}
	if info.FailoverTimeout != nil && *info.FailoverTimeout < 0 {
		refusal = "Invalid failover_timeout"
	}
	return refusal
}

// frameworkForLocked returns the framework a SUBSCRIBE registers: fw failing over, its
// old stream told so and closed, or a new one when the master does not know it.
func (m *Master) frameworkForLocked(info mesos.FrameworkInfo, fw *framework) *framework {
	if fw == nil {
		id := ""
		if info.ID != nil && info.ID.Value != "" {
			id = info.ID.Value // a framework the master forgot (e.g. after a restart) re-registers
		} else {
			id = fmt.Sprintf("%s-%04d", m.id, m.nextFW)
			m.nextFW++
		}
		fw = &framework{id: id, filters: map[string]time.Time{}, tasks: map[string]*task{}, observer: m.cfg.Observer}
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
		case e := <-s.events:
			if !write(e) {
				return
			}
			if e.Type == scheduler.Event_ERROR {
				return
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
	for {
		select {
		case e := <-s.events:
			write(e)
		default:
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

func (m *Master) masterInfo() *mesos.MasterInfo {
	addr := m.ln.Addr().(*net.TCPAddr)
	ip := addr.IP.String()
	port := uint32(addr.Port)
	host := "localhost"
	return &mesos.MasterInfo{ID: m.id, Port: &port, Hostname: &host,
		Address: &mesos.Address{IP: &ip, Port: int32(port), Hostname: &host}, Version: ptr("1.11.0")}
}

func ptr[T any](v T) *T { return &v }

// disconnected handles the end of a stream: offers are rescinded and the failover
// timeout starts; when it passes the framework is removed with its tasks.
func (m *Master) disconnected(fw *framework, s *stream) {
	s.close()
	m.mu.Lock()
	defer m.mu.Unlock()
	if fw.stream != s {
		return // failed over to a new stream
	}
	fw.stream = nil
	m.recoverOffersOfLocked(fw, false)
	m.startFailoverTimerLocked(fw)
}

// startFailoverTimerLocked removes a disconnected framework when its failover_timeout
// passes without a new SUBSCRIBE.
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

// removeFrameworkLocked removes a framework: its tasks are killed (no updates are sent to
// it), its executors shut down and its resources freed.
func (m *Master) removeFrameworkLocked(fw *framework) {
	fw.removed = true
	m.recoverOffersOfLocked(fw, false)
	for _, t := range fw.tasks {
		if !isTerminal(t.state) {
			t.state = mesos.TASK_KILLED
			m.releaseLocked(t)
		}
		m.dropPendingLocked(t)
	}
	prefix := fw.id + "/"
	for _, a := range m.agents {
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

// handleCall runs every call but SUBSCRIBE.
func (m *Master) handleCall(streamID string, call *scheduler.Call) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	fw := m.frameworks[call.FrameworkID.Value]
	if fw == nil || fw.removed {
		return badRequest("Framework cannot be found")
	}
	if fw.stream == nil {
		return &httpError{http.StatusForbidden, "Framework is not subscribed"}
	}
	if streamID != fw.stream.id {
		return badRequest("The stream ID '%s' included in this request didn't match the stream ID currently associated with framework ID %s", streamID, fw.id)
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
		for _, id := range d.OfferIDs {
			if o := m.offers[id.Value]; o != nil && o.fw == fw {
				m.recoverOfferLocked(o)
				fw.filters[o.agent.id] = time.Now().Add(refuse(d.Filters))
			}
		}
	case scheduler.Call_REVIVE:
		fw.suppressed = false
		fw.filters = map[string]time.Time{}
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
		data, err = json.Marshal(e)
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

// refuse is how long declined resources stay away: filters.refuse_seconds, default 5s.
func refuse(f *mesos.Filters) time.Duration {
	secs := 5.0
	if f != nil && f.RefuseSeconds != nil {
		secs = *f.RefuseSeconds
	}
	return time.Duration(secs * float64(time.Second))
}

func updateEvent(s mesos.TaskStatus) *scheduler.Event {
	return &scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: s}}
}
