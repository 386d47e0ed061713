package main

import (
	"io/fs"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/go-logr/logr"
)

// memoryLimitShare is the share of the container's memory limit the manager's Go heap
// aims to stay under: the rest is for what the Go runtime does not count (the mapped
// binary, the kernel's buffers).
const memoryLimitShare = 0.9

// cgroupMemoryLimit is the memory limit of the manager's cgroup in bytes: cgroup v2's
// memory.max, else cgroup v1's memory.limit_in_bytes; ok is false when there is none
// (unset, "max", or v1's "unlimited", a number near the largest int64).
func cgroupMemoryLimit(root fs.FS) (limit int64, ok bool) {
	for _, name := range []string{"sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := fs.ReadFile(root, name)
		if err != nil {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || v <= 0 || v >= math.MaxInt64/2 {
			return 0, false
		}
		return v, true
	}
	return 0, false
}

// setMemoryLimit has the Go runtime collect garbage harder as the manager nears its
// container's memory limit, instead of being killed for going past it (a manager
// killed for memory leaves its pods' updates to a standby, and comes back to do the
// same): unless GOMEMLIMIT is set, Go's soft memory limit becomes memoryLimitShare of
// the cgroup's limit. Without a limit it does nothing.
func setMemoryLimit(log logr.Logger, root fs.FS) {
	if os.Getenv("GOMEMLIMIT") != "" {
		log.Info("Keeping the Go memory limit GOMEMLIMIT sets", "GOMEMLIMIT", os.Getenv("GOMEMLIMIT"))
		return
	}
	limit, ok := cgroupMemoryLimit(root)
	if !ok {
		return
	}
	soft := int64(float64(limit) * memoryLimitShare)
	debug.SetMemoryLimit(soft)
	log.Info("Set the Go memory limit below the container's", "containerLimitBytes", limit, "goMemoryLimitBytes", soft)
}
