package kubeletapi

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/k8sm/k8sm/internal/ttlcache"
)

// TokenReviewer reviews a bearer token, as the kubelet's webhook authenticator asks the
// API server with a TokenReview: the user it names, and whether it is valid.
type TokenReviewer interface {
	Review(ctx context.Context, token string) (user.Info, bool, error)
}

// ErrUnavailable is wrapped by the error of a TokenReviewer or Authorizer that could not
// get an answer: the request is answered 503, as one whose review timed out.
var ErrUnavailable = errors.New("review unavailable")

// errTooManyReviews is the error of a bearer token not reviewed because maxTokenReviews
// are under way, or tokenReviewRate were asked in the last second: answered 503 at
// once, without asking.
var errTooManyReviews = fmt.Errorf("%w: too many token reviews under way", ErrUnavailable)
var errTooManyReviewsASecond = fmt.Errorf("%w: too many token reviews a second", ErrUnavailable)

// The kubelet's webhook caches: token reviews (authentication.webhook.cacheTTL), allowed
// and denied authorizations (authorization.webhook.cacheAuthorizedTTL and
// cacheUnauthorizedTTL).
const (
	tokenTTL        = 2 * time.Minute
	allowedTTL      = 5 * time.Minute
	deniedTTL       = 30 * time.Second
	maxCacheEntries = 4096

	// maxTokenReviews bounds the token reviews under way at once. Each is a message to
	// the manager, which answers as many of an agent's at once (internal/scheduler,
	// maxAgentReviews) and drops the rest: a client presenting ever new tokens, such as
	// a pod of the process runtime that reaches the port without credentials, gets 503s
	// at once rather than sending a flood of messages.
	maxTokenReviews = 4

	// tokenReviewRate and tokenReviewBurst bound the token reviews a second, as the
	// manager bounds an agent's (internal/scheduler, agentReviewRate): under it, each
	// review of a client presenting ever new tokens would still be a message through the
	// Mesos master. A token past it is answered 503 at once; a token reviewed before is
	// answered from the cache.
	tokenReviewRate  = 10
	tokenReviewBurst = 20

	// DefaultReviewTimeout bounds a token review or an authorization.
	DefaultReviewTimeout = 10 * time.Second
)

// bearerProtocolPrefix is how a WebSocket client, which cannot set headers, passes a
// bearer token: a subprotocol base64url.bearer.authorization.k8s.io.<base64url token>.
const bearerProtocolPrefix = "base64url.bearer.authorization.k8s.io."

// authenticator authenticates requests as the kubelet does: a client certificate
// verified against the client CAs, else a bearer token its reviewer accepts.
type authenticator struct {
	clientCAs atomic.Pointer[x509.CertPool]
	reviewer  TokenReviewer
	tokens    *ttlcache.Cache[tokenReview]
	// reviewing holds a token for each review under way, maxTokenReviews at most;
	// flights are the reviews under way by token hash, which the requests presenting the
	// same token wait for rather than asking again.
	reviewing chan struct{}
	// rate bounds the reviews a second (tokenReviewRate).
	rate      *rate.Limiter
	flightsMu sync.Mutex
	flights   map[string]*tokenFlight
	timeout   time.Duration
	now       func() time.Time
	log       logr.Logger
}

type tokenReview struct {
	user user.Info
	ok   bool
}

// tokenFlight is one token review under way: done closes once review and err are set.
type tokenFlight struct {
	done   chan struct{}
	review tokenReview
	err    error
}

// authenticate returns the request's user, nil if it has none; an error if the token
// review could not be answered.
func (a *authenticator) authenticate(r *http.Request) (user.Info, error) {
	if u := a.certificateUser(r); u != nil {
		return withAuthenticatedGroup(u), nil
	}
	token, ok := bearerToken(r)
	if !ok || a.reviewer == nil {
		return nil, nil
	}
	// The token is kept as its hash only, and never logged.
	sum := sha256.Sum256([]byte(token))
	key := hex.EncodeToString(sum[:])
	now := a.now()
	review, cached := a.tokens.Get(key, now)
	if !cached {
		var err error
		if review, err = a.reviewOnce(r.Context(), key, token, now); err != nil {
			return nil, err
		}
	}
	if !review.ok {
		return nil, nil
	}
	return withAuthenticatedGroup(review.user), nil
}

// reviewOnce reviews a token (review) and caches the answer, or waits for the review of
// it under way: the requests of one client presenting a new token at once (a cache
// entry that just expired) make one review, and count once against maxTokenReviews.
func (a *authenticator) reviewOnce(ctx context.Context, key, token string, now time.Time) (tokenReview, error) {
	a.flightsMu.Lock()
	if f, ok := a.flights[key]; ok {
		a.flightsMu.Unlock()
		select {
		case <-f.done:
			return f.review, f.err
		case <-ctx.Done():
			return tokenReview{}, fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
		}
	}
	if a.flights == nil {
		a.flights = map[string]*tokenFlight{}
	}
	f := &tokenFlight{done: make(chan struct{})}
	a.flights[key] = f
	a.flightsMu.Unlock()
	// The review is the flight's, not the first request's: its client going away would
	// fail every request waiting on it with 503. It is bounded by the review's timeout.
	f.review, f.err = a.review(context.WithoutCancel(ctx), token)
	if f.err == nil {
		// Cached before the flight ends: a request between the two would ask again.
		a.tokens.Put(key, f.review, tokenTTL, now)
	}
	a.flightsMu.Lock()
	delete(a.flights, key)
	a.flightsMu.Unlock()
	close(f.done)
	return f.review, f.err
}

// review asks the reviewer about a token, unless maxTokenReviews are under way.
func (a *authenticator) review(ctx context.Context, token string) (tokenReview, error) {
	select {
	case a.reviewing <- struct{}{}:
		defer func() { <-a.reviewing }()
	default:
		return tokenReview{}, errTooManyReviews
	}
	if a.rate != nil && !a.rate.Allow() {
		return tokenReview{}, errTooManyReviewsASecond
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	u, ok, err := a.reviewer.Review(ctx, token)
	if err != nil {
		return tokenReview{}, err
	}
	return tokenReview{user: u, ok: ok && u != nil}, nil
}

// certificateUser returns the user of a client certificate that chains to the client
// CAs, for client authentication: its common name, and its organizations as groups.
func (a *authenticator) certificateUser(r *http.Request) user.Info {
	pool := a.clientCAs.Load()
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || pool == nil {
		return nil
	}
	certs := r.TLS.PeerCertificates
	opts := x509.VerifyOptions{
		Roots:         pool,
		Intermediates: x509.NewCertPool(),
		CurrentTime:   a.now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(opts); err != nil {
		a.log.V(1).Info("Client certificate not verified", "subject", certs[0].Subject.String(), "reason", err.Error())
		return nil
	}
	if certs[0].Subject.CommonName == "" {
		return nil
	}
	return &user.DefaultInfo{Name: certs[0].Subject.CommonName, Groups: certs[0].Subject.Organization}
}

// bearerToken takes the request's bearer token out of it, so that it goes no further
// (to the in-process streaming endpoint), as the API server's authenticators do.
func bearerToken(r *http.Request) (string, bool) {
	if auth := strings.TrimSpace(r.Header.Get("Authorization")); auth != "" {
		// As the API server's bearer token authenticator reads it.
		parts := strings.SplitN(auth, " ", 3)
		if len(parts) < 2 || !strings.EqualFold(parts[0], "bearer") || parts[1] == "" {
			return "", false
		}
		r.Header.Del("Authorization")
		return parts[1], true
	}
	var token string
	var found bool
	var kept []string
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			p = strings.TrimSpace(p)
			if rest, ok := strings.CutPrefix(p, bearerProtocolPrefix); ok && !found {
				b, err := base64.RawURLEncoding.DecodeString(rest)
				token, found = string(b), err == nil && len(b) > 0
				continue
			}
			if p != "" {
				kept = append(kept, p)
			}
		}
	}
	if found {
		r.Header.Del("Sec-WebSocket-Protocol")
		if len(kept) > 0 {
			r.Header.Set("Sec-WebSocket-Protocol", strings.Join(kept, ","))
		}
	}
	return token, found
}

// withAuthenticatedGroup adds system:authenticated, as the API server's (and the
// kubelet's) authenticator does to every user it authenticates.
func withAuthenticatedGroup(u user.Info) user.Info {
	if slices.Contains(u.GetGroups(), user.AllAuthenticated) {
		return u
	}
	return &user.DefaultInfo{
		Name:   u.GetName(),
		UID:    u.GetUID(),
		Groups: append(slices.Clone(u.GetGroups()), user.AllAuthenticated),
		Extra:  u.GetExtra(),
	}
}
