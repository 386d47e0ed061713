package mesossim

import (
	"fmt"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// BenchmarkLaunch: 1,000 simulated agents offer to one framework, which launches
// 10,000 tasks (ten per offer) and acknowledges their updates until all run. It reports
// offers/s and launches/s (to RUNNING acknowledged).
func BenchmarkLaunch(b *testing.B) {
	const agents, tasks = 1000, 10000
	for range b.N {
		b.StopTimer()
		m, err := New(Config{Agents: agents, AgentResources: "cpus:16;mem:65536;disk:10000",
			AllocationInterval: 50 * time.Millisecond, HeartbeatInterval: time.Minute, UpdateRetry: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Start("127.0.0.1:0"); err != nil {
			b.Fatal(err)
		}
		c := subscribe(b, m, info())
		cpus := mesos.Resource{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 0.1}}
		shell := "true"
		b.StartTimer()

		start := time.Now()
		offers, launched, running := 0, 0, 0
		for running < tasks {
			e, ok := <-c.events
			if !ok {
				b.Fatal("stream closed")
			}
			switch e.Type {
			case scheduler.Event_OFFERS:
				for _, o := range e.GetOffers().Offers {
					offers++
					var ts []mesos.TaskInfo
					for i := 0; i < 10 && launched < tasks; i++ {
						ts = append(ts, mesos.TaskInfo{Name: "t", TaskID: mesos.TaskID{Value: fmt.Sprintf("t-%d", launched)},
							AgentID: o.AgentID, Resources: []mesos.Resource{cpus}, Command: &mesos.CommandInfo{Value: &shell}})
						launched++
					}
					if len(ts) == 0 {
						c.call(calls.Decline(o.ID).With(calls.RefuseSeconds(time.Hour)))
						continue
					}
					c.call(calls.Accept(calls.OfferOperations{calls.OpLaunch(ts...)}.WithOffers(o.ID)).With(calls.RefuseSeconds(time.Hour)))
				}
			case scheduler.Event_UPDATE:
				u := e.GetUpdate().Status
				c.call(calls.Acknowledge(u.AgentID.Value, u.TaskID.Value, u.UUID))
				if u.GetState() == mesos.TASK_RUNNING {
					running++
				}
			}
		}
		elapsed := time.Since(start).Seconds()
		b.ReportMetric(float64(offers)/elapsed, "offers/s")
		b.ReportMetric(float64(tasks)/elapsed, "launches/s")
		b.StopTimer()
		m.Close()
	}
}
