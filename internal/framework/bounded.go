package framework

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
)

// Bounds on what a master may cost the operator. A master that is slow, silent or sends
// garbage ends a call or a subscription with a clear error instead of stalling it or
// filling the manager's memory.
const (
	// DefaultRequestTimeout is Config.RequestTimeout's default.
	DefaultRequestTimeout = 10 * time.Second
	// DefaultMaxEventSize is Config.MaxEventSize's default. An OFFERS event of a large
	// cluster is a few MiB; Mesos itself limits nothing.
	DefaultMaxEventSize = 64 << 20
	// DefaultMaxResponseSize is Config.MaxResponseSize's default: room for GET_AGENTS of
	// some thousands of agents. Error texts are cut at 4 KiB by mesos-go.
	DefaultMaxResponseSize = 16 << 20
	// idleConnTimeout closes keep-alive connections to a master that no call uses.
	idleConnTimeout = 90 * time.Second
	// maxIdleConns is how many connections to a master are kept alive between calls.
	// Calls go out concurrently: the scheduler's update workers acknowledge at once, and
	// launches, kills and reconciliation go beside them. mesos-go keeps 2, so under load
	// most calls beyond the second closed their connection when done and the next ones
	// dialed anew: 0.8 new connections per pod in a burst (each a TIME_WAIT socket here
	// and an accept at the master), for 2.5 calls per pod.
	maxIdleConns = 32
)

// heartbeats bounds the heartbeat interval a master announces in SUBSCRIBED, which the
// watchdog multiplies by Config.HeartbeatMisses. A value that is not a positive number
// (0, negative, NaN) counts as not announced: Mesos's default interval is used. Positive
// values are clamped to [min, max], 1 s to 5 min: below it the watchdog would take a
// healthy master for dead between two heartbeats (or spin on a zero timer); above it, a
// dead master would go unnoticed for hours, and 1e9 s or +Inf would overflow the
// Duration and disable the watchdog.
type heartbeats struct {
	def, min, max time.Duration
}

var defaultHeartbeats = heartbeats{def: 15 * time.Second, min: time.Second, max: 5 * time.Minute}

// interval is the heartbeat interval to use for what a master announced.
func (h heartbeats) interval(announced float64) time.Duration {
	switch {
	case math.IsNaN(announced) || announced <= 0:
		return h.def
	case announced >= h.max.Seconds(): // also +Inf, before it overflows a Duration
		return h.max
	}
	return max(time.Duration(announced*float64(time.Second)), h.min)
}

// errNoAnswer is the cause that ends a SUBSCRIBE the master does not answer in time.
var errNoAnswer = errors.New("no answer within the request timeout")

// masterHTTP sends the HTTP requests of one subscription (or one operator API call) to
// a master, with bounds mesos-go does not set: a request other than SUBSCRIBE has
// RequestTimeout from sending it to the end of its answer, and its answer is cut at
// MaxResponseSize. The answer to SUBSCRIBE is the event stream: it is handed to the
// Connection, which reads it with its own frame limit and watchdog.
type masterHTTP struct {
	timeout   time.Duration
	maxBody   int64
	do        httpcli.DoFunc
	transport *http.Transport

	mu        sync.Mutex
	streaming bool          // a SUBSCRIBE is in flight
	stream    io.ReadCloser // the body of its 200 answer
	streamURL string        // where it was answered: the leader, after redirects
	// redirect is the Location of the last 307 a request other than SUBSCRIBE got: a
	// master that does not lead names the leader so (redirectedTo).
	redirect string
}

func newMasterHTTP(cfg Config) *masterHTTP {
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MaxResponseSize <= 0 {
		cfg.MaxResponseSize = DefaultMaxResponseSize
	}
	m := &masterHTTP{timeout: cfg.RequestTimeout, maxBody: int64(cfg.MaxResponseSize)}
	// Timeout also bounds dialing, the TLS handshake and the response headers.
	opts := []httpcli.ConfigOpt{
		httpcli.Timeout(cfg.RequestTimeout),
		httpcli.Transport(func(t *http.Transport) {
			t.IdleConnTimeout = idleConnTimeout
			t.MaxIdleConnsPerHost = maxIdleConns
			m.transport = t
		}),
	}
	if cfg.TLS != nil {
		opts = append(opts, httpcli.TLSConfig(cfg.TLS))
	}
	if cr := cfg.Credentials; cr != nil {
		opts = append(opts, httpcli.BasicAuth(cr.Principal, cr.Secret))
	}
	m.do = httpcli.With(opts...)
	return m
}

// client is a protobuf mesos-go client of endpoint that sends through m.
func (m *masterHTTP) client(endpoint string) *httpcli.Client {
	return httpcli.New(
		httpcli.Endpoint(endpoint),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
		httpcli.Do(m.Do),
	)
}

// closeIdle closes the kept-alive connections once m is no longer used: each masterHTTP
// has its own transport, whose idle connections would otherwise stay open.
func (m *masterHTTP) closeIdle() {
	if m.transport != nil {
		m.transport.CloseIdleConnections()
	}
}

// subscribe runs send, which sends SUBSCRIBE, and returns its response and the body of
// the event stream. The caller closes both.
func (m *masterHTTP) subscribe(send func() (mesos.Response, error)) (mesos.Response, io.ReadCloser, error) {
	m.mu.Lock()
	m.streaming, m.stream = true, nil
	m.mu.Unlock()
	resp, err := send()
	m.mu.Lock()
	stream := m.stream
	m.streaming, m.stream = false, nil
	m.mu.Unlock()
	if err == nil && stream == nil {
		err = httpcli.ProtocolError("the answer to SUBSCRIBE has no event stream")
	}
	if err != nil {
		if resp != nil {
			_ = resp.Close()
		}
		if stream != nil {
			_ = stream.Close()
		}
		return nil, nil, err
	}
	return resp, stream, nil
}

// subscribedAt is the URL whose master answered the last SUBSCRIBE with its event
// stream: after a redirect, the leader's, not the one SUBSCRIBE was sent to.
func (m *masterHTTP) subscribedAt() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.streamURL
}

// Do is the httpcli.DoFunc of m's clients.
func (m *masterHTTP) Do(req *http.Request) (*http.Response, error) {
	m.mu.Lock()
	streaming := m.streaming
	m.mu.Unlock()
	if streaming {
		// SUBSCRIBE: its caller sets the deadline of the answer; the stream has none.
		resp, err := m.do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusOK {
			m.mu.Lock()
			m.stream, m.streamURL = resp.Body, req.URL.String()
			m.mu.Unlock()
			return resp, nil
		}
		resp.Body = &boundedBody{body: resp.Body, left: m.maxBody, limit: m.maxBody, url: req.URL.String()}
		return resp, nil
	}
	ctx, cancel := context.WithTimeout(req.Context(), m.timeout)
	resp, err := m.do(req.WithContext(ctx))
	if err != nil {
		err = m.explain(ctx, req, err, "did not answer")
		cancel()
		return nil, err
	}
	if resp.StatusCode == http.StatusTemporaryRedirect {
		m.mu.Lock()
		m.redirect = resp.Header.Get("Location")
		m.mu.Unlock()
	}
	resp.Body = &boundedBody{body: resp.Body, left: m.maxBody, limit: m.maxBody, url: req.URL.String(),
		explain: func(err error) error { return m.explain(ctx, req, err, "did not send its whole answer") },
		cancel:  cancel}
	return resp, nil
}

// explain says that err comes from the request's deadline, if it does.
func (m *masterHTTP) explain(ctx context.Context, req *http.Request, err error, what string) error {
	if err == nil || errors.Is(err, io.EOF) || req.Context().Err() != nil || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("the master %s %s within %s (RequestTimeout): %w", req.URL.Redacted(), what, m.timeout, err)
}

// boundedBody is an answer's body that fails once it is longer than limit.
type boundedBody struct {
	body        io.ReadCloser
	left, limit int64
	url         string
	explain     func(error) error
	cancel      context.CancelFunc
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		n, err := b.body.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("the answer of %s is larger than %d bytes (MaxResponseSize); not read further", b.url, b.limit)
		}
		return 0, b.wrap(err)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.body.Read(p)
	b.left -= int64(n)
	return n, b.wrap(err)
}

func (b *boundedBody) wrap(err error) error {
	if b.explain != nil {
		return b.explain(err)
	}
	return err
}

func (b *boundedBody) Close() error {
	err := b.body.Close()
	if b.cancel != nil {
		b.cancel()
	}
	return err
}

// isDialError says whether err happened while connecting to the master.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// isTimeout says whether err is a timeout of the transport: the TLS handshake or the
// response headers took longer than RequestTimeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
