package kubelet

import (
	"net/http"
	"time"

	"k8s.io/client-go/transport"
)

// authorize wraps a round tripper to send the runtime's bearer token: TokenFile's, read
// again as client-go reads token files (a token at most a minute old, and read anew
// after the kubelet answered 401: a rotated token, or a projected one renewed before it
// expires), else Token.
func (r *Runtime) authorize(rt http.RoundTripper) http.RoundTripper {
	switch {
	case r.TokenFile != "":
		return transport.ResettableTokenSourceWrapTransport(r.tokenSource())(rt)
	case r.Token != "":
		return bearer{token: r.Token, next: rt}
	}
	return rt
}

// tokenSource is TokenFile's token source, one for every request of the runtime, so
// that a 401 to one has the next read the file.
func (r *Runtime) tokenSource() transport.ResettableTokenSource {
	r.tokenOnce.Do(func() { r.tokens = transport.NewCachedFileTokenSource(r.TokenFile) })
	return r.tokens
}

// httpClient is Client (or a default one) sending the runtime's token.
func (r *Runtime) httpClient() *http.Client {
	r.clientOnce.Do(func() {
		c := *r.baseClient()
		if c.Transport == nil {
			c.Transport = http.DefaultTransport
		}
		c.Transport = r.authorize(c.Transport)
		r.client = &c
	})
	return r.client
}

// baseClient is Client, or a client with a 10s timeout.
func (r *Runtime) baseClient() *http.Client {
	if r.Client != nil {
		return r.Client
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// bearer adds a fixed token to the requests it sends on.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(req)
}
