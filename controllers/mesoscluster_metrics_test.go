package controllers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/metrics"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// clusterSeries gathers the k8sm_* series of one cluster, keyed by name and the labels
// besides "cluster" (histograms by their sample count).
func clusterSeries(t *testing.T, cluster string) map[string]float64 {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "k8sm_") {
			continue
		}
		for _, m := range f.GetMetric() {
			key, mine := f.GetName(), false
			var labels []string
			for _, l := range m.GetLabel() {
				if l.GetName() == "cluster" {
					mine = l.GetValue() == cluster
					continue
				}
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			if !mine {
				continue
			}
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[key] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

// hangingMaster is a master that never answers: a driver's first attempt stays under
// way, and nothing the driver reports changes while the test looks.
func hangingMaster(t *testing.T) string {
	t.Helper()
	hang := make(chan struct{})
	master := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, req *http.Request) {
		select {
		case <-hang:
		case <-req.Context().Done():
		}
	}))
	t.Cleanup(master.Close)
	t.Cleanup(func() { close(hang) })
	return master.URL
}

// k8sm_framework_subscribed is 0, not absent, for a cluster whose framework is not
// subscribed: one that cannot start it (its credentials Secret is missing, as after a
// manager restart with the Secret deleted), and one whose driver was just made and
// has not reached the master yet. An alert on k8sm_framework_subscribed == 0 finds
// nothing to compare for a series that does not exist, and stays silent while Mesos's
// failover timeout runs.
func TestFrameworkSubscribedIsZeroWhileNotSubscribed(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec func(*mesosv1alpha1.MesosClusterSpec)
	}{
		{"cannot start", func(s *mesosv1alpha1.MesosClusterSpec) {
			s.Master = "http://m:5050"
			s.Framework.CredentialsSecretRef = &mesosv1alpha1.SecretKeyRef{Namespace: "k8sm-system", Name: "missing"}
		}},
		{"connecting", func(s *mesosv1alpha1.MesosClusterSpec) { s.Master = hangingMaster(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "subscribed-" + strings.ReplaceAll(tc.name, " ", "-")
			t.Cleanup(func() { metrics.Forget(name) })
			mc := &mesosv1alpha1.MesosCluster{
				ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: []string{FrameworkFinalizer}, Generation: 1},
				Spec:       mesosv1alpha1.MesosClusterSpec{SchedulerName: name},
			}
			tc.spec(&mc.Spec)
			c := clusterAPI(t, mc)
			r := &MesosClusterReconciler{Client: c, APIReader: c, Registry: scheduler.NewRegistry(), SecretNamespace: "k8sm-system",
				Recorder:      events.NewFakeRecorder(100),
				NewScheduler:  func(*mesosv1alpha1.MesosCluster) framework.Scheduler { return nil },
				DriverOptions: func(cfg *framework.Config) { cfg.AgentPollInterval = -1 }}
			t.Cleanup(r.Registry.StopAll)
			reconcileCluster(t, r, name)
			got, ok := clusterSeries(t, name)["k8sm_framework_subscribed"]
			if !ok || got != 0 {
				t.Errorf("k8sm_framework_subscribed = %v (present: %v), want 0", got, ok)
			}
		})
	}
}

// A cluster's series exist, at 0, from its first pass, whether or not its framework
// can run, and go with the cluster. An alert such as `k8sm_pending_tasks > 0 and
// rate(k8sm_tasks_launched_total[10m]) == 0` (pods wait, nothing launches) otherwise
// finds nothing for a cluster that has launched nothing since the manager started:
// the very case it is for.
func TestClusterSeriesFromTheFirstPassToTheDeletion(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec func(*mesosv1alpha1.MesosClusterSpec)
	}{
		{"running", func(s *mesosv1alpha1.MesosClusterSpec) { s.Master = hangingMaster(t) }},
		{"broken", func(s *mesosv1alpha1.MesosClusterSpec) {
			s.Master = "http://m:5050"
			s.Framework.CredentialsSecretRef = &mesosv1alpha1.SecretKeyRef{Namespace: "k8sm-system", Name: "missing"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "series-" + tc.name
			t.Cleanup(func() { metrics.Forget(name) })
			mc := &mesosv1alpha1.MesosCluster{
				ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 1},
				Spec:       mesosv1alpha1.MesosClusterSpec{SchedulerName: name},
			}
			tc.spec(&mc.Spec)
			c := clusterAPI(t, mc)
			r := &MesosClusterReconciler{Client: c, APIReader: c, Registry: scheduler.NewRegistry(), SecretNamespace: "k8sm-system",
				Recorder:      events.NewFakeRecorder(100),
				NewScheduler:  func(*mesosv1alpha1.MesosCluster) framework.Scheduler { return nil },
				DriverOptions: func(cfg *framework.Config) { cfg.AgentPollInterval = -1 }}
			t.Cleanup(r.Registry.StopAll)
			reconcileCluster(t, r, name)
			series := clusterSeries(t, name)
			for _, s := range []string{"k8sm_tasks_launched_total", "k8sm_launch_failures_total", "k8sm_pending_tasks",
				"k8sm_framework_reconnects_total", "k8sm_outage_tolerations_written_total", "k8sm_agent_node_write_failures_total",
				`k8sm_tasks{phase="pending"}`, "k8sm_placement_duration_seconds",
				`k8sm_framework_disconnects_total{reason="FrameworkRemoved"}`, `k8sm_framework_disconnects_total{reason="FrameworkTakenOver"}`,
				`k8sm_framework_disconnects_total{reason="PrincipalChangeRefused"}`} {
				if v, ok := series[s]; !ok || v != 0 {
					t.Errorf("%s = %v (present: %v), want 0", s, v, ok)
				}
			}

			if err := c.Delete(context.Background(), mc); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Name: name}}); err != nil {
				t.Fatal(err)
			}
			if left := clusterSeries(t, name); len(left) != 0 {
				t.Errorf("series left after the cluster went: %v", left)
			}
		})
	}
}
