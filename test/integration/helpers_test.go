// Helpers the integration specs share: one name for one job across the suite.
package integration

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/controllers"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/mesossim"
	"github.com/k8sm/k8sm/internal/scheduler"
	"github.com/k8sm/k8sm/internal/testenv"
)

// startSim runs a simulated Mesos for one spec.
func startSim(agents int, resources string) *mesossim.Master {
	sim, err := mesossim.New(mesossim.Config{
		Agents: agents, AgentResources: resources, AgentAttributes: "rack:r1",
		HeartbeatInterval: time.Second, AllocationInterval: 100 * time.Millisecond, UpdateRetry: time.Second,
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(sim.Start("127.0.0.1:0")).To(Succeed())
	DeferCleanup(sim.Close)
	return sim
}

// simCluster creates a MesosCluster on a sim and waits until it is Ready.
func simCluster(sim *mesossim.Master) *mesosv1alpha1.MesosCluster {
	return simClusterWith(sim, nil)
}

// simClusterWith is simCluster with the spec changed by mutate (when not nil) before
// the cluster is created.
func simClusterWith(sim *mesossim.Master, mutate func(*mesosv1alpha1.MesosCluster)) *mesosv1alpha1.MesosCluster {
	mc := simClusterSpec(sim)
	if mutate != nil {
		mutate(mc)
	}
	return startCluster(mc)
}

// simClusterSpec is the MesosCluster simCluster creates, not created yet.
func simClusterSpec(sim *mesossim.Master) *mesosv1alpha1.MesosCluster {
	mc := minimalCluster()
	mc.Spec.Master = sim.URL()
	mc.Spec.SchedulerName = uniqueSchedulerName()
	mc.Spec.Placement.RefuseSeconds = new(int32)
	freeKubeletPort(mc)
	return mc
}

// startCluster creates a MesosCluster and waits until it is Ready.
func startCluster(mc *mesosv1alpha1.MesosCluster) *mesosv1alpha1.MesosCluster {
	createCluster(mc)
	Eventually(condition(mc, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(HavePrefix("True/" + controllers.ReasonSubscribed))
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), mc)).To(Succeed())
	return mc
}

// agentNodeOf waits for the Node of a cluster's agent and returns its name.
func agentNodeOf(mc *mesosv1alpha1.MesosCluster, hostname string) string {
	node := agentnode.NodeName(mc.Name, hostname, 0)
	Eventually(func() error { return k8sClient.Get(ctx, client.ObjectKey{Name: node}, &corev1.Node{}) }, 20*time.Second, 100*time.Millisecond).Should(Succeed())
	return node
}

func newPod(ns, name, schedulerName string, cpu string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{
			SchedulerName: schedulerName,
			Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}},
		},
	}
}

// eventsIn lists a namespace's events as "Kind/name type reason".
func eventsIn(ns string) func() ([]string, error) {
	return func() ([]string, error) {
		var list eventsv1.EventList
		if err := k8sClient.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return nil, err
		}
		out := make([]string, 0, len(list.Items))
		for _, e := range list.Items {
			out = append(out, e.Regarding.Kind+"/"+e.Regarding.Name+" "+e.Type+" "+e.Reason)
		}
		return out, nil
	}
}

// eventsOn lists the events on a cluster-scoped object (a Node, a MesosCluster) as
// "type reason note": theirs are in the default namespace.
func eventsOn(kind, name string) func() ([]string, error) {
	return func() ([]string, error) {
		var list eventsv1.EventList
		if err := k8sClient.List(ctx, &list, client.InNamespace("default")); err != nil {
			return nil, err
		}
		var out []string
		for _, e := range list.Items {
			if e.Regarding.Kind == kind && e.Regarding.Name == name {
				out = append(out, strings.Join([]string{e.Type, e.Reason, e.Note}, " "))
			}
		}
		return out, nil
	}
}

func podOf(key client.ObjectKey) func() (*corev1.Pod, error) {
	return func() (*corev1.Pod, error) {
		p := &corev1.Pod{}
		err := k8sClient.Get(ctx, key, p)
		return p, err
	}
}

// simTaskIDs lists the ids of the tasks the sim knows.
func simTaskIDs(sim *mesossim.Master) func() []string {
	return func() []string {
		var ids []string
		for _, fw := range sim.State().Frameworks {
			for _, t := range fw.Tasks {
				ids = append(ids, t.ID)
			}
		}
		return ids
	}
}

// unkilledTasks lists the states of the sim's tasks that were not killed.
func unkilledTasks(sim *mesossim.Master) func() []string {
	return func() []string {
		var states []string
		for _, fw := range sim.State().Frameworks {
			for _, t := range fw.Tasks {
				if t.State != "TASK_KILLED" {
					states = append(states, t.State)
				}
			}
		}
		return states
	}
}

// clusterMetrics gathers the k8sm_* series of one cluster from the manager's registry,
// keyed by name and the labels besides "cluster" (histograms by their _count).
func clusterMetrics(cluster string) map[string]float64 {
	families, err := crmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	out := map[string]float64{}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "k8sm_") {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			mine := false
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
			key := f.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[f.GetName()+"_count"] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) string {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return string(c.Status) + "/" + c.Reason + ": " + c.Message
		}
	}
	return "<none>"
}

func podConditionOfNode(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

// newNamespace creates a namespace of its own for one spec and removes it afterwards.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "k8sm-test-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func() { _ = k8sClient.Delete(ctx, ns) })
	return ns.Name
}

// createCluster creates a cluster and deletes it (waiting until it is gone) after the spec.
func createCluster(mc *mesosv1alpha1.MesosCluster) {
	Expect(k8sClient.Create(ctx, mc)).To(Succeed())
	DeferCleanup(func() {
		_ = k8sClient.Delete(ctx, mc)
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), &mesosv1alpha1.MesosCluster{}))
		}, 20*time.Second, 50*time.Millisecond).Should(BeTrue())
	})
}

// uniqueSchedulerName gives each spec a schedulerName of its own.
func uniqueSchedulerName() string {
	return fmt.Sprintf("mesos-test-%d", schedulerNames.Add(1))
}

// condition returns a cluster's condition of the given type as "Status/Reason: Message".
func condition(mc *mesosv1alpha1.MesosCluster, t string) func() string {
	return func() string {
		got := &mesosv1alpha1.MesosCluster{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), got); err != nil {
			return err.Error()
		}
		c := meta.FindStatusCondition(got.Status.Conditions, t)
		if c == nil {
			return "<none>"
		}
		if c.ObservedGeneration != got.Generation {
			return "<stale>"
		}
		return string(c.Status) + "/" + c.Reason + ": " + c.Message
	}
}

// freeKubeletPort has a cluster's executors serve the kubelet API on a free port. On the
// default one, on the sim's 127.0.0.1, real executors took the port of another suite's
// executors running at the same time (the e2e suite's k8sm-local), whose API server then
// reached these and was refused (401).
func freeKubeletPort(mc *mesosv1alpha1.MesosCluster) {
	port, err := testenv.FreePort()
	Expect(err).NotTo(HaveOccurred())
	mc.Spec.KubeletAPI.Port = int32(port)
}

// minimalCluster is the smallest MesosCluster a person could apply.
func minimalCluster() *mesosv1alpha1.MesosCluster {
	return &mesosv1alpha1.MesosCluster{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "mc-"},
		Spec: mesosv1alpha1.MesosClusterSpec{
			Master:   unreachableMaster,
			Executor: mesosv1alpha1.ExecutorSpec{URI: "/opt/k8sm/k8sm-executor"},
		},
	}
}

// updateCluster applies mutate to the latest version of a cluster and updates it,
// retrying when the controller changed the cluster in between.
func updateCluster(mc *mesosv1alpha1.MesosCluster, mutate func(*mesosv1alpha1.MesosCluster)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), mc); err != nil {
			return err
		}
		mutate(mc)
		return k8sClient.Update(ctx, mc)
	})
}

// recordWait is how long a MesosTask may trail its pod here: the manager defers its
// create while updates queue up, and writes it once its worker has been idle a second,
// or has nothing queued after scheduler.RecordMost (these specs make no burst that keeps
// a worker behind longer, up to scheduler.RecordLongest).
const recordWait = scheduler.RecordMost + 10*time.Second

// taskAt reads the MesosTask of key into mt.
func taskAt(key client.ObjectKey, mt *mesosv1alpha1.MesosTask) func() error {
	return func() error { return k8sClient.Get(ctx, key, mt) }
}
