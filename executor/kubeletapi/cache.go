package kubeletapi

import (
	"sync"
	"time"
)

// ttlCache remembers answers for a while, as the kubelet's webhook authenticator and
// authorizer do. It holds at most max entries.
type ttlCache[V any] struct {
	mu      sync.Mutex
	max     int
	entries map[string]ttlEntry[V]
}

type ttlEntry[V any] struct {
	value   V
	expires time.Time
}

func newTTLCache[V any](max int) *ttlCache[V] {
	return &ttlCache[V]{max: max, entries: map[string]ttlEntry[V]{}}
}

func (c *ttlCache[V]) get(key string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.value, true
}

func (c *ttlCache[V]) put(key string, v V, ttl time.Duration, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		c.evict(now)
	}
	c.entries[key] = ttlEntry[V]{value: v, expires: now.Add(ttl)}
}

// evict makes room: the expired entries go, or else the one that expires first.
func (c *ttlCache[V]) evict(now time.Time) {
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
