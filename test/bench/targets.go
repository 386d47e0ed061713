package main

import "fmt"

// target is one of the burst's targets against one peer, on the medians of the rounds.
type target struct {
	peer, what   string
	ours, theirs float64
	format       string // of ours and theirs
	met          bool
}

// burstTargets says, for each kubelet peer that ran in every round, whether the burst's
// targets hold: throughput at least the peer's, kube-apiserver+etcd CPU per pod, and the
// manager's CPU per pod and peak RSS, at most the peer's (its kube-scheduler's).
func burstTargets(rounds []round) []target {
	peers := []struct {
		name string
		pick func(round) result
	}{
		{"kube-scheduler + a kubelet's requests", func(r round) result { return r.asKubelets }},
		{"kube-scheduler + a kubelet's least writes", func(r round) result { return r.withKubelets }},
	}
	ran := func(pick func(round) result) bool {
		return inEveryRound(rounds, pick, func(res result) bool { return res.elapsed > 0 && res.pods > 0 })
	}
	ours := func(r round) result { return r.ours }
	if !ran(ours) {
		return nil
	}
	over := func(of func(round) float64) float64 {
		var vs []float64
		for _, r := range rounds {
			vs = append(vs, of(r))
		}
		return median(vs)
	}
	of := func(pick func(round) result, f func(result) float64) func(round) float64 {
		return func(r round) float64 { return f(pick(r)) }
	}
	api := func(res result) float64 { return perPod(res.apiCPU.total(), res.pods) }
	own := func(res result) float64 { return perPod(res.cpu, res.pods) }
	rss := func(res result) float64 { return float64(res.rssKiB) / 1024 }
	var ts []target
	for _, p := range peers {
		if !ran(p.pick) {
			continue
		}
		ratio := over(func(r round) float64 { return r.ours.rate() / p.pick(r).rate() })
		ts = append(ts, target{p.name, "create→Running, k8sm ÷ the peer, at least 1.0", ratio, 1, "%.2f", ratio >= 1})
		for _, c := range []struct {
			what   string
			f      func(result) float64
			format string
		}{
			{"kube-apiserver+etcd CPU per pod (ms), at most the peer's", api, "%.1f"},
			{"the manager's CPU per pod (ms), at most kube-scheduler's", own, "%.1f"},
			{"the manager's peak RSS (MiB), at most kube-scheduler's (the target is at 1,000 × 10,000)", rss, "%.0f"},
		} {
			o, t := over(of(ours, c.f)), over(of(p.pick, c.f))
			ts = append(ts, target{p.name, c.what, o, t, c.format, o <= t})
		}
		if inEveryRound(rounds, p.pick, func(res result) bool { return res.kubeletCPU > 0 }) {
			// The peer's kubelets ran in a process of their own, their CPU measured.
			// Not one of the targets: beside it, for the work the manager does that
			// the peer leaves to its kubelets.
			withKubelets := func(res result) float64 { return perPod(res.cpu+res.kubeletCPU, res.pods) }
			o, t := over(of(ours, own)), over(of(p.pick, withKubelets))
			ts = append(ts, target{p.name, "for reference, the manager's CPU per pod (ms) beside kube-scheduler's and the kubelets' together (their requests the manager makes itself)", o, t, "%.1f", o <= t})
		}
	}
	return ts
}

// inEveryRound says whether there are rounds and what pick takes of each is so.
func inEveryRound(rounds []round, pick func(round) result, so func(result) bool) bool {
	for _, r := range rounds {
		if !so(pick(r)) {
			return false
		}
	}
	return len(rounds) > 0
}

// printTargets prints burstTargets; nothing asserts them.
func printTargets(rounds []round) {
	peer := ""
	for _, t := range burstTargets(rounds) {
		if t.peer != peer {
			peer = t.peer
			fmt.Printf("\nthe burst's targets against %s (medians of %d round(s)):\n", peer, len(rounds))
		}
		verdict := "not met"
		if t.met {
			verdict = "met"
		}
		fmt.Printf("  %s: "+t.format+" against "+t.format+", %s\n", t.what, t.ours, t.theirs, verdict)
	}
}
