package scheduler

// Preemption and PodDisruptionBudgets.

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/placement"
)

// A pod a PodDisruptionBudget protects (no disruption allowed) is spared when another of
// lower priority makes room, though it is the least important.
func TestPreemptionSparesAPodABudgetProtects(t *testing.T) {
	node := preemptNode()
	guarded, other := runningOn(node, "guarded", 10, map[string]string{"app": "db"}), runningOn(node, "other", 20, map[string]string{"app": "web"})
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db"},
		Spec:   policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}},
		Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0}}
	high, task := podWithTask("high", "1")
	priority := int32(50)
	high.Spec.Priority = &priority
	c := preemptOnce(t, high, task, node, guarded, other, pdb)
	wantDeleted(t, c, map[*corev1.Pod]bool{guarded: false, other: true})
}

// A PodDisruptionBudget allows as many disruptions as its status says, counted as
// kube-scheduler counts them on a Node (the most important pods first): pods beyond
// them are protected, and spared when others make room; a pod the budget counts as
// disrupted already (status.disruptedPods) takes none of them.
func TestPreemptionCountsTheDisruptionsABudgetAllows(t *testing.T) {
	db, web := map[string]string{"app": "db"}, map[string]string{"app": "web"}
	for _, tc := range []struct {
		name      string
		cpus      string // the preempting pod's request; each pod running holds 1
		allowed   int32
		disrupted []string
		want      map[string]bool // deleted, by pod name
	}{
		{name: "one allowed: one of two pods it counts goes", cpus: "2", allowed: 1,
			want: map[string]bool{"db-10": false, "db-20": true, "web-30": true}},
		{name: "two allowed: both may go", cpus: "2", allowed: 2,
			want: map[string]bool{"db-10": true, "db-20": true, "web-30": false}},
		{name: "none allowed, but the pod is disrupted already", cpus: "1", allowed: 0, disrupted: []string{"db-10"},
			want: map[string]bool{"db-10": true, "db-20": false, "web-30": false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node := preemptNode()
			pods := map[string]*corev1.Pod{"db-10": runningOn(node, "db-10", 10, db), "db-20": runningOn(node, "db-20", 20, db),
				"web-30": runningOn(node, "web-30", 30, web)}
			pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db"},
				Spec:   policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: db}},
				Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: tc.allowed, DisruptedPods: map[string]metav1.Time{}}}
			for _, name := range tc.disrupted {
				pdb.Status.DisruptedPods[name] = metav1.Now()
			}
			high, task := podWithTask("high", tc.cpus)
			high.Spec.Priority = new(int32(50))
			c := preemptOnce(t, high, task, node, pods["db-10"], pods["db-20"], pods["web-30"], pdb)
			want := map[*corev1.Pod]bool{}
			for name, deleted := range tc.want {
				want[pods[name]] = deleted
			}
			wantDeleted(t, c, want)
		})
	}
}

// The preemptions of one pass spend a budget's disruptions: with one allowed, the pod it
// counts that the first preemption takes leaves the others protected for the second,
// which takes another pod, not a second one the budget counts.
func TestOnePassSpendsABudgetOnce(t *testing.T) {
	ctx := context.Background()
	db, web := map[string]string{"app": "db"}, map[string]string{"app": "web"}
	n1, n2 := preemptNode(), preemptNode()
	n2.Name, n2.Labels[corev1.LabelHostname] = agentnode.NodeName("c", "agent-2", 0), "agent-2"
	db1, web1, db2, web2 := runningOn(n1, "db-1", 10, db), runningOn(n1, "web-1", 20, web), runningOn(n2, "db-2", 10, db), runningOn(n2, "web-2", 20, web)
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db"},
		Spec:   policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: db}},
		Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1}}
	a, aTask := podWithTask("a", "1")
	b, bTask := podWithTask("b", "1")
	a.Spec.Priority, b.Spec.Priority = new(int32(50)), new(int32(50))
	c := fakeAPI(t, n1, n2, db1, web1, db2, web2, pdb, a, aTask, b, bTask)
	s, _ := newTestScheduler(c, newFakeDriver())
	now := time.Now()
	for i, q := range []struct {
		pod  *corev1.Pod
		task *mesosv1alpha1.MesosTask
	}{{a, aTask}, {b, bTask}} {
		s.Enqueue(ctx, q.task, q.pod)
		editPending(s, func(p *pendingTask) { p.queued = now.Add(-time.Minute + time.Duration(i)*time.Second) }, q.task.Spec.TaskID)
	}
	s.preempt(ctx, now)
	deleted := map[string]int{}
	for _, p := range []*corev1.Pod{db1, db2, web1, web2} {
		got := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(p), got); err != nil {
			t.Fatal(err)
		}
		if got.DeletionTimestamp != nil {
			deleted[p.Labels["app"]]++
		}
	}
	if deleted["db"] != 1 || deleted["web"] != 1 {
		t.Errorf("preempted %d pods of a budget allowing one disruption and %d others in one pass for two pods, want 1 and 1", deleted["db"], deleted["web"])
	}
}

// A budget's disruptions are counted over the pods a task may preempt (those of lower
// priority), as kube-scheduler counts a preemptor's potential victims: a pod of higher
// priority takes none of them, though a more important task of the pass could preempt it.
func TestABudgetCountsThePodsATaskMayPreempt(t *testing.T) {
	ctx := context.Background()
	db, web := map[string]string{"app": "db"}, map[string]string{"app": "web"}
	node := preemptNode()
	mid, low, other := runningOn(node, "db-40", 40, db), runningOn(node, "db-10", 10, db), runningOn(node, "web-15", 15, web)
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db"},
		Spec:   policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: db}},
		Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1}}
	top, topTask := podWithTask("top", "1") // preempts nothing: no agent has an SSD
	top.Spec.Priority, top.Spec.NodeSelector = new(int32(50)), map[string]string{"disk": "ssd"}
	b, bTask := podWithTask("b", "1")
	b.Spec.Priority = new(int32(30))
	c := fakeAPI(t, node, mid, low, other, pdb, top, topTask, b, bTask)
	s, _ := newTestScheduler(c, newFakeDriver())
	now := time.Now()
	s.Enqueue(ctx, topTask, top)
	s.Enqueue(ctx, bTask, b)
	editPending(s, func(p *pendingTask) { p.queued = now.Add(-time.Minute) }, topTask.Spec.TaskID, bTask.Spec.TaskID)
	s.preempt(ctx, now)
	wantDeleted(t, c, map[*corev1.Pod]bool{mid: false, low: true, other: false})
}

// Budgets count pods as kube-scheduler's preemption does: a pod goes beyond one budget,
// is protected, and takes nothing of the others; an empty selector matches no pod, nor
// does any selector a pod without labels.
func TestBudgetsCountPodsAsKubeSchedulerDoes(t *testing.T) {
	sel := func(m map[string]string) labels.Selector { return labels.SelectorFromSet(m) }
	noTier, _ := labels.Parse("!tier")
	budgets := []disruptionBudget{
		{namespace: "ns", selector: sel(map[string]string{"app": "db"}), allowed: 0},
		{namespace: "ns", selector: sel(map[string]string{"tier": "x"}), allowed: 1},
		{namespace: "ns", selector: labels.Everything(), allowed: 0},
		{namespace: "ns", selector: noTier, allowed: 0},
	}
	pod := func(name string, priority int32, l map[string]string) placement.Running {
		return placement.Running{Pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: l}}, Priority: priority}
	}
	pods := []placement.Running{
		pod("db-x", 20, map[string]string{"app": "db", "tier": "x"}), // beyond the first budget: protected, the second not taken
		pod("x", 10, map[string]string{"tier": "x"}),                 // takes the second's one disruption: not protected
		pod("bare", 5, nil), // no labels: no budget counts it
	}
	b := &passBudgets{list: func() []disruptionBudget { return budgets }}
	b.protect(pods, 50)
	for i, want := range []bool{true, false, false} {
		if pods[i].Protected != want {
			t.Errorf("%s: protected %v, want %v", pods[i].Pod.Name, pods[i].Protected, want)
		}
	}
}
