package chaos

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/mesossim"
	"github.com/k8sm/k8sm/internal/podtask"
)

// teardownKinds are the faults that may fire while the MesosCluster is deleted: those of
// the managers, of their way to the API server and of the master, which a teardown
// goes through (the agents' do not stop it: Mesos kills their tasks when it can).
var teardownKinds = []faultKind{faultKillLeader, faultTermLeader, faultAPIErrors, faultReadErrors, faultBreakWatches, faultStaleReads,
	faultSlowWrites, faultDropStream, faultMasterDown, faultFailoverMaster, faultZKLeader}

const (
	// teardownFaults is how many faults fire while the cluster is deleted.
	teardownFaults = 3
	// teardownBound is how long the cluster may take to go, with all of it, once the
	// faults ended: a master-down or kill-leader fault's end, a new leader's start and
	// its teardown take seconds; Nodes are deleted as the cluster goes.
	teardownBound = 2 * time.Minute
	// teardownPods is how many pods are created while the cluster is deleted, one every
	// teardownPodPace from just before its delete: a user's, a Job's or a Deployment's
	// that go on being made.
	teardownPods    = 20
	teardownPodPace = 250 * time.Millisecond
)

// planTeardown draws the faults that fire while the cluster is deleted, from the
// profile's kinds that are teardownKinds, about a second apart; the same profile gives
// the same plan.
func planTeardown(p profile) faultPlan {
	tp := profile{seed: p.seed + 1, agents: p.agents, faults: teardownFaults, pace: time.Second}
	for _, k := range teardownKinds {
		if hasKind(p.kinds, k) {
			tp.kinds = append(tp.kinds, k)
		}
	}
	if len(tp.kinds) == 0 {
		return nil
	}
	return planFaults(tp)
}

// teardown deletes the MesosCluster just after the plan's first fault fired, the others
// following (runFaults), then ends every fault once the last ran its course and waits,
// at most bound, until the cluster left nothing behind. It says what was left: the cluster
// itself, its framework not torn down, a task Mesos still runs for it, a MesosTask
// deleted but there or keeping its finalizer (which holds its pod's namespace, and the
// CRD, from going), an agent Node, a pod Terminating. The pods bound to the cluster's
// Nodes and their MesosTasks stay: a cluster's pod garbage collector deletes the pods
// of a deleted Node, and its garbage collector their MesosTasks, and the run starts
// neither. Pods are created all the while (createDuring): those bound to an agent's
// Node at creation, and those the cluster may launch before it goes, must leave no
// task in Mesos and no MesosTask keeping its finalizer either.
func (r *run) teardown(plan faultPlan, bound time.Duration) []string {
	r.t.Logf("deleting MesosCluster %s while %d faults fire and %d pods are created", clusterName, len(plan), teardownPods)
	created := r.createDuring(teardownPods, teardownPodPace)
	del := func() {
		mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: clusterName}}
		if err := apiRetry(func() error { return client.IgnoreNotFound(r.load.Delete(context.Background(), mc)) }); err != nil {
			r.runError("deleting MesosCluster %s: %v", clusterName, err)
		}
	}
	r.runFaults(plan, del)
	if len(plan) == 0 {
		del()
	}
	<-created
	r.quiesce()

	var left []string
	start := time.Now()
	g := NewGomega(func(string, ...int) {})
	if g.Eventually(func() ([]string, error) {
		var err error
		left, err = r.leftAfterTeardown(context.Background())
		return left, err
	}, bound, time.Second).Should(BeEmpty()) {
		r.t.Logf("the cluster was gone, and everything of it, %s after its faults", time.Since(start).Round(time.Second))
	}
	r.t.Logf("of the %d pods created while the cluster was deleted: %s", teardownPods, r.teardownPodsFate(context.Background()))
	return left
}

// teardownPodsFate says how many of the pods createDuring made were bound to a Node, and
// how many had a task launched in Mesos: what the teardown raced.
func (r *run) teardownPodsFate(ctx context.Context) string {
	var pods corev1.PodList
	if err := r.direct.List(ctx, &pods, client.InNamespace(namespace)); err != nil {
		return err.Error()
	}
	bound := 0
	for _, p := range pods.Items {
		if strings.HasPrefix(p.Name, "teardown-") && p.Spec.NodeName != "" {
			bound++
		}
	}
	launched := 0
	for _, fw := range r.sim.State().Frameworks {
		for _, t := range fw.Tasks {
			if strings.HasPrefix(podRefOf(&mesos.Labels{Labels: t.Labels}).name, "teardown-") {
				launched++
			}
		}
	}
	return fmt.Sprintf("%d bound to a Node (%d at creation), %d launched in Mesos", bound, teardownPods/5, launched)
}

// createDuring creates n pods of the cluster's scheduler, one every pace, every fifth
// bound to an agent's Node at creation (as a DaemonSet's pods are); the channel closes
// once they are made.
func (r *run) createDuring(n int, pace time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			a := loadAction{kind: createPod, name: fmt.Sprintf("teardown-%02d", i), pinAgent: -1, requests: i%2 == 0}
			if i%5 == 4 {
				a.pinAgent = i % r.p.agents
			}
			if err := r.apply(context.Background(), a); err != nil {
				r.runError("creating pod %s while the cluster is deleted: %v", a.name, err)
			}
			time.Sleep(pace)
		}
	}()
	return done
}

// leftTerminating says whether a pod is one the deleted cluster left Terminating: deleted,
// and not bound (as a DaemonSet's pod, at creation) to the Node of an agent removed for
// good, where it never ran, waiting Pending: with its Node gone, such a pod is
// kube-controller-manager's pod garbage collector's, which the run does not start, as the
// settled cluster's check has it (snapshot.stuck).
func leftTerminating(p *corev1.Pod, removedNodes map[string]bool) bool {
	return p.DeletionTimestamp != nil && !waitsOnARemovedAgent(p, removedNodes)
}

// waitsOnARemovedAgent says whether a pod is bound (as a DaemonSet's pod, at creation)
// to the Node of an agent removed for good and never ran: it waits, Pending, for that
// Node's deletion and the pod garbage collector.
func waitsOnARemovedAgent(p *corev1.Pod, removedNodes map[string]bool) bool {
	pending := p.Status.Phase == corev1.PodPending || p.Status.Phase == ""
	return removedNodes[p.Spec.NodeName] && pending
}

// leftAfterTeardown reads what the deleted cluster left behind.
func (r *run) leftAfterTeardown(ctx context.Context) ([]string, error) {
	var left []string
	mc := &mesosv1alpha1.MesosCluster{}
	switch err := r.direct.Get(ctx, client.ObjectKey{Name: clusterName}, mc); {
	case err == nil:
		why := "not being deleted"
		if mc.DeletionTimestamp != nil {
			why = "being deleted"
			if c := meta.FindStatusCondition(mc.Status.Conditions, mesosv1alpha1.ConditionDegraded); c != nil && c.Status == metav1.ConditionTrue {
				why += ", Degraded " + c.Reason + ": " + c.Message
			}
		}
		left = append(left, fmt.Sprintf("MesosCluster %s still there, %s", clusterName, why))
	case !apierrors.IsNotFound(err):
		return nil, err
	}
	var tasks mesosv1alpha1.MesosTaskList
	if err := r.listTasks(ctx, &tasks, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	for _, mt := range tasks.Items {
		switch {
		case mt.DeletionTimestamp != nil:
			left = append(left, fmt.Sprintf("MesosTask %s/%s (task %s, %s) deleted but there, finalizers %v", mt.Namespace, mt.Name, mt.Spec.TaskID, mt.Status.MesosState, mt.Finalizers))
		case controllerutil.ContainsFinalizer(&mt, podtask.TaskFinalizer):
			left = append(left, fmt.Sprintf("MesosTask %s/%s (task %s, %s) keeps its finalizer", mt.Namespace, mt.Name, mt.Spec.TaskID, mt.Status.MesosState))
		}
	}
	var nodes corev1.NodeList
	if err := r.direct.List(ctx, &nodes, client.MatchingLabels{agentnode.LabelCluster: clusterName}); err != nil {
		return nil, err
	}
	for _, n := range nodes.Items {
		left = append(left, "Node "+n.Name)
	}
	var pods corev1.PodList
	if err := r.direct.List(ctx, &pods, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	r.mu.Lock()
	removed := maps.Clone(r.removedNodes)
	r.mu.Unlock()
	for i := range pods.Items {
		if p := &pods.Items[i]; leftTerminating(p, removed) {
			left = append(left, fmt.Sprintf("pod %s/%s Terminating", p.Namespace, p.Name))
		}
	}
	left = append(left, leftInMesos(r.sim.State())...)
	sort.Strings(left)
	return left, nil
}

// leftInMesos names the frameworks the master has not removed, and the tasks it runs for
// them: after a teardown, none.
func leftInMesos(st mesossim.State) []string {
	var left []string
	for _, fw := range st.Frameworks {
		if fw.Removed {
			continue
		}
		var live []string
		for _, t := range fw.Tasks {
			if !terminalState(t.State) {
				live = append(live, t.ID)
			}
		}
		left = append(left, fmt.Sprintf("framework %s not torn down (connected: %v), %d live tasks %s", fw.ID, fw.Connected, len(live),
			strings.Join(live[:min(len(live), 3)], " ")))
	}
	return left
}
