//go:build linux && !amd64 && !arm64

package process

// seccompTable: no RuntimeDefault filter on this architecture; containers that ask for
// one do not start.
var seccompTable *syscallTable
