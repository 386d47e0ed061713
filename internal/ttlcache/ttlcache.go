// Package ttlcache remembers answers for a while, as the API server's and the kubelet's
// webhook authenticators and authorizers do: the kubelet API's (executor/kubeletapi) and
// the served MesosTasks' (internal/taskapi).
package ttlcache

import (
	"sync"
	"time"
)

// Cache remembers answers for a while. It holds at most max entries.
type Cache[V any] struct {
	mu      sync.Mutex
	max     int
	entries map[string]ttlEntry[V]
}

type ttlEntry[V any] struct {
	value   V
	expires time.Time
}

// New returns a Cache of at most max entries.
func New[V any](max int) *Cache[V] {
	return &Cache[V]{max: max, entries: map[string]ttlEntry[V]{}}
}

// Get is the answer for key, if one was put and has not expired at now.
func (c *Cache[V]) Get(key string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.value, true
}

// Put remembers v for key until now + ttl.
func (c *Cache[V]) Put(key string, v V, ttl time.Duration, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		c.evict(now)
	}
	c.entries[key] = ttlEntry[V]{value: v, expires: now.Add(ttl)}
}

// evict makes room: the expired entries go, or else the one that expires first.
func (c *Cache[V]) evict(now time.Time) {
	var first string
	var firstExpires time.Time
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
			continue
		}
		if first == "" || e.expires.Before(firstExpires) {
			first, firstExpires = k, e.expires
		}
	}
	if len(c.entries) >= c.max {
		delete(c.entries, first)
	}
}
