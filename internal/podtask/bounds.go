package podtask

import "unicode/utf8"

// The bounds of the MesosTask status strings: the MaxLength markers of
// api/v1alpha1/mesostask_types.go (TestStatusBoundsMatchTheCRD holds them together).
// What Mesos, an agent or an offer says is cut to them before it is written, so that a
// long message never makes a status write fail, which would leave the update unacknowledged
// and sent again for ever.
const (
	MaxMessageLength  = 32768
	MaxReasonLength   = 256
	MaxIDLength       = 256 // agentID, executorID
	MaxHostnameLength = 256
	MaxStateLength    = 64 // mesosState, source
	MaxUUIDLength     = 64 // lastUpdateUUID: a 16-byte uuid is 32 hex digits
)

// Clamp cuts s to at most n bytes (and so n characters), at a character boundary, ending
// it with "…" when it was cut.
func Clamp(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more = "…"
	if n <= 0 {
		return ""
	}
	if n < len(more) {
		return s[:runeStart(s, n)]
	}
	return s[:runeStart(s, n-len(more))] + more
}

// runeStart is the last character boundary of s at or before i.
func runeStart(s string, i int) int {
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return i
}
