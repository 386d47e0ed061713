package chaos

import (
	"time"

	. "github.com/onsi/gomega"

	"github.com/k8sm/k8sm/internal/testzk"
)

// startZK starts ZooKeeper and announces the master there, as a Mesos master leading
// does, and returns the zk:// URL the cluster finds it by.
func (r *run) startZK(g *WithT) string {
	srv, err := testzk.Start()
	g.Expect(err).NotTo(HaveOccurred())
	r.t.Cleanup(srv.Stop)
	r.zkURL = "zk://" + srv.Addr + "/mesos"
	withdraw, err := r.sim.RegisterInZK(r.zkURL)
	g.Expect(err).NotTo(HaveOccurred())
	r.setZKWithdraw(withdraw)
	r.t.Cleanup(func() { r.setZKWithdraw(nil) })
	return r.zkURL
}

// setZKWithdraw takes the master's announcement in ZooKeeper back, if it made one, and
// keeps withdraw for the next.
func (r *run) setZKWithdraw(withdraw func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.zkWithdraw != nil {
		r.zkWithdraw()
	}
	r.zkWithdraw = withdraw
}

// changeZKLeader is a leader change as a Mesos cluster found through ZooKeeper goes
// through one: the leading master dies (its streams and connections end, SetDown) and
// its announcement leaves ZooKeeper, so that for down no master leads; then another
// master takes the lead at another address (MoveTo), having recovered the registry
// (a failed-over master: SetDown's end), and announces itself. A framework that kept the
// old address, or did not wait for a leader, would not find it.
func (r *run) changeZKLeader(down time.Duration) error {
	r.sim.SetDown(true)
	r.setZKWithdraw(nil)
	r.ends.schedule("master", down, func() {
		if err := r.sim.MoveTo("127.0.0.1:0"); err != nil {
			r.runError("zk-leader-change: the new leader's address: %v", err)
		}
		r.sim.SetDown(false)
		withdraw, err := r.sim.RegisterInZK(r.zkURL)
		if err != nil {
			r.runError("zk-leader-change: announcing the new leader: %v", err)
			return
		}
		r.setZKWithdraw(withdraw)
		go r.logResubscribed(r.sim.URL(), time.Now())
	})
	return nil
}

// logResubscribed logs when the framework subscribed again after a leader change,
// within a minute: the checker's counts say whether anything was lost meanwhile.
func (r *run) logResubscribed(at string, since time.Time) {
	for time.Since(since) < time.Minute {
		for _, fw := range r.sim.State().Frameworks {
			if fw.Connected && !fw.Removed {
				r.t.Logf("zk-leader-change: the master leads at %s; the framework subscribed there %s later",
					at, time.Since(since).Round(10*time.Millisecond))
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Logf("zk-leader-change: the master leads at %s; the framework has not subscribed there a minute later", at)
}
