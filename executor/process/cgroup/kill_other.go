//go:build !linux

package cgroup

import "errors"

// killListed: there are no cgroups outside Linux, and Detect finds none.
func killListed([]string) (int, error) { return 0, errors.New("cgroups are Linux only") }
