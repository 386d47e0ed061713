package placement

// readOnce keeps what read answered for each key, so that a round, or a preemption
// pass, asks it at most once per key; without read, every key has the zero value.
type readOnce[V any] struct {
	read func(string) V
	got  map[string]V
}

func (r *readOnce[V]) get(key string) V {
	if v, ok := r.got[key]; ok {
		return v
	}
	var v V
	if r.read != nil {
		v = r.read(key)
	}
	if r.got == nil {
		r.got = map[string]V{}
	}
	r.got[key] = v
	return v
}
