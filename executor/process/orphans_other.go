//go:build !linux

package process

import "os/exec"

// supported: without /proc the runtime cannot tell a recorded process from one that
// took its id, so it has no watchdog and sweeps nothing; the agent's container destroy
// is all there is.
const supported = false

// startProcess starts cmd; there is no parent-death signal outside Linux.
func startProcess(cmd *exec.Cmd) error { return cmd.Start() }

func procStart(int) uint64 { return 0 }

func bootID() string { return "" }

func pidNamespace() string { return "" }

func killLeftovers([]record) int { return 0 }
