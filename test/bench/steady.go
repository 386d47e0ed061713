package main

import (
	"fmt"
	"time"
)

// steadyStep is how much faster each run of the steady-rate search creates pods.
const steadyStep = 25.0

// searchSteadyRate runs k8sm at steady rates rising from steadyStep by steadyStep pods/s
// until the p99 create→Running reaches a second (or a run fails), each run on a fresh
// control plane with pods pods, and prints each run and the highest rate whose p99 stayed
// under a second. The failover timing and the profiles are left to the burst.
func searchSteadyRate(bin string, agents, pods, creators int, timeout time.Duration) {
	savedRate, savedSkip, savedAPI := rate, skipFailover, apiProfile
	defer func() { rate, skipFailover, apiProfile = savedRate, savedSkip, savedAPI }()
	skipFailover, apiProfile = true, ""
	fmt.Printf("\nsteady load: k8sm at rising rates, %d pods each, create→Running\n", pods)
	best := 0.0
	for r := steadyStep; ; r += steadyStep {
		rate = r
		res, err := runK8sm(bin, agents, pods, creators, timeout)
		if err != nil {
			fmt.Printf("  %3.0f pods/s: %v\n", r, err)
			break
		}
		p99 := res.pct(0.99)
		fmt.Printf("  %3.0f pods/s: p50 %s  p99 %s  (kube-apiserver+etcd %.1f ms/pod, manager %.1f ms/pod)\n", r,
			res.pct(0.5).Round(time.Millisecond), p99.Round(time.Millisecond),
			res.apiCPU.total().Seconds()*1000/float64(pods), res.cpu.Seconds()*1000/float64(pods))
		if p99 >= time.Second {
			break
		}
		best = r
	}
	if best == 0 {
		fmt.Printf("  no rate tried kept the p99 under 1 s\n")
		return
	}
	fmt.Printf("  highest steady rate whose p99 stays under 1 s: %.0f pods/s (in steps of %.0f)\n", best, steadyStep)
}
