package main

import (
	"testing"
	"time"
)

func TestBurstTargets(t *testing.T) {
	res := func(seconds float64, api, own time.Duration, rssMiB int64) result {
		return result{pods: 1000, elapsed: time.Duration(seconds * float64(time.Second)),
			apiCPU: controlPlaneCPU{api: api}, cpu: own, rssKiB: rssMiB * 1024}
	}
	// k8sm at 100 pods/s, 8 ms of API and 2 ms of its own CPU per pod, 200 MiB; the
	// kubelet's requests peer slower and dearer, the least writes peer faster and cheaper.
	k8sm := res(10, 8*time.Second, 2*time.Second, 200)
	rounds := []round{
		{ours: k8sm, asKubelets: res(20, 12*time.Second, 3*time.Second, 250), withKubelets: res(5, 5*time.Second, time.Second, 220)},
		{ours: k8sm, asKubelets: res(18, 12*time.Second, 3*time.Second, 250), withKubelets: res(8, 5*time.Second, time.Second, 180)},
		{ours: k8sm, asKubelets: res(25, 12*time.Second, 3*time.Second, 250), withKubelets: res(9, 5*time.Second, time.Second, 190)},
	}
	got := burstTargets(rounds)
	want := []struct {
		peer   string
		ours   float64
		theirs float64
		met    bool
	}{
		{"kube-scheduler + a kubelet's requests", 2, 1, true},
		{"kube-scheduler + a kubelet's requests", 8, 12, true},
		{"kube-scheduler + a kubelet's requests", 2, 3, true},
		{"kube-scheduler + a kubelet's requests", 200, 250, true},
		{"kube-scheduler + a kubelet's least writes", 0.8, 1, false}, // ratios 0.5, 0.8, 0.9
		{"kube-scheduler + a kubelet's least writes", 8, 5, false},
		{"kube-scheduler + a kubelet's least writes", 2, 1, false},
		{"kube-scheduler + a kubelet's least writes", 200, 190, false},
	}
	if len(got) != len(want) {
		t.Fatalf("%d targets, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.peer != w.peer || g.ours != w.ours || g.theirs != w.theirs || g.met != w.met {
			t.Errorf("target %d (%s) = %s %v to %v met %v, want %s %v to %v met %v", i, g.what, g.peer, g.ours, g.theirs, g.met, w.peer, w.ours, w.theirs, w.met)
		}
	}

	// With the least-writes peer's kubelets measured in every round, the manager's CPU is
	// also set beside kube-scheduler's and theirs together; not with them measured in
	// only some rounds.
	for i, kubelets := range []time.Duration{1500 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second} {
		rounds[i].withKubelets.kubeletCPU = kubelets
	}
	got = burstTargets(rounds)
	if len(got) != len(want)+1 {
		t.Fatalf("%d targets with the kubelets measured, want %d: %+v", len(got), len(want)+1, got)
	}
	if g := got[len(got)-1]; g.peer != "kube-scheduler + a kubelet's least writes" || g.ours != 2 || g.theirs != 2.5 || !g.met {
		t.Errorf("the manager beside kube-scheduler and the kubelets = %s %v to %v met %v, want the least writes peer's, 2 to 2.5 (1 + the median 1.5), met", g.peer, g.ours, g.theirs, g.met)
	}
	rounds[1].withKubelets.kubeletCPU = 0
	if got := burstTargets(rounds); len(got) != len(want) {
		t.Errorf("%d targets with the kubelets measured in two rounds of three, want %d", len(got), len(want))
	}

	// A peer skipped in any round is not judged; without k8sm nothing is.
	rounds[1].withKubelets = result{}
	if got := burstTargets(rounds); len(got) != 4 {
		t.Errorf("%d targets with the least writes peer skipped once, want the 4 of the other peer", len(got))
	}
	if got := burstTargets([]round{{asKubelets: rounds[0].asKubelets}}); len(got) != 0 {
		t.Errorf("targets without a k8sm run: %+v", got)
	}
}
