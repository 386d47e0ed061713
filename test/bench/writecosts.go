package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/installer"
	"github.com/k8sm/k8sm/internal/podtask"
	"github.com/k8sm/k8sm/internal/taskclient"
	"github.com/k8sm/k8sm/internal/testenv"
)

// writeCost is what n writes of one kind cost kube-apiserver and etcd in CPU.
type writeCost struct {
	name string
	cpu  time.Duration
}

// measureWriteCosts times, on an API server of its own, each kind of write a pod costs
// k8sm and its peers: n writes of each, by creators writers at once, as the manager and
// a kubelet send them (protobuf for Kubernetes's own kinds; a MesosTask as JSON, its
// answer as metadata), with nothing else watching. A pod create is priced first without
// the outage tolerations policy, then with it, for a MesosCluster's pods and for others
// (the cluster's status as the manager writes it: the policy reads the whole object). It
// says which writes the difference between k8sm and a kubelet's writes is made of.
func measureWriteCosts(n, creators int) ([]writeCost, error) {
	env, _, stop, err := startEnv()
	if err != nil {
		return nil, err
	}
	defer stop()
	w := &writes{ctx: context.Background(), creators: creators}
	if err := w.connect(env.Config); err != nil {
		return nil, err
	}
	if w.mc, err = costCluster(w.ctx, w.c); err != nil {
		return nil, err
	}
	if err := w.warm("cold"); err != nil {
		return nil, err
	}
	w.idle = idleCPU(5 * time.Second)
	// A pod create without the policy, as the base of what the policy adds.
	if err := w.each("POST pods, without the outage tolerations policy", n, w.createPod("write-costs-base", w.mc.Spec.SchedulerName, nil)); err != nil {
		return nil, err
	}
	failover := int64(mesosv1alpha1.DefaultFailoverTimeout.Seconds())
	if err := testenv.InstallAdmissionPolicies(w.ctx, env.Config, installer.OutageTolerationsApplied(w.c, "default", w.mc.Spec.SchedulerName, failover)); err != nil {
		return nil, fmt.Errorf("installing the admission policies: %w", err)
	}
	if err := w.warm("warm"); err != nil {
		return nil, err
	}
	return w.price(n)
}

// writes sends the writes measureWriteCosts prices.
type writes struct {
	ctx      context.Context
	creators int
	c        client.Client // as the bench creates pods
	tasks    client.Client // as the manager writes MesosTasks
	cs       kubernetes.Interface
	mc       *mesosv1alpha1.MesosCluster
	costs    []writeCost
	// idle is the CPU kube-apiserver and etcd spend per second with no requests
	// (controllers, timers): taken out of each price.
	idle float64
}

func (w *writes) connect(admin *rest.Config) error {
	var err error
	if w.c, err = newClient(admin); err != nil {
		return err
	}
	cfg := rest.CopyConfig(admin)
	cfg.QPS, cfg.Burst = 1000, 2000
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	if w.tasks, err = taskclient.Wrap(w.c, cfg, httpClient); err != nil {
		return err
	}
	w.cs, err = newProtobufClientset(admin)
	return err
}

// warm takes the first writes of each kind of pod: a fresh API server pays for them
// (caches, the policy's first use).
func (w *writes) warm(prefix string) error {
	return inParallel(200, w.creators, func(i int) error {
		for _, scheduler := range []string{corev1.DefaultSchedulerName, w.mc.Spec.SchedulerName} {
			p := benchPod(i, scheduler)
			p.Name = fmt.Sprintf("%s-%s-%d", prefix, scheduler, i)
			if err := w.c.Create(w.ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
}

// each prices n writes of one kind.
func (w *writes) each(name string, n int, write func(i int) error) error {
	cpu0, start := readControlPlaneCPU(), time.Now()
	if err := inParallel(n, w.creators, write); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	used := readControlPlaneCPU().sub(cpu0).total() - time.Duration(w.idle*float64(time.Since(start)))
	w.costs = append(w.costs, writeCost{name, used})
	return nil
}

// createPod creates pod i of scheduler in ns, and keeps it in keep if that is not nil.
func (w *writes) createPod(ns, scheduler string, keep []*corev1.Pod) func(i int) error {
	return func(i int) error {
		p := benchPod(i, scheduler)
		p.Namespace = ns
		if keep != nil {
			keep[i] = p
		}
		return w.c.Create(w.ctx, p)
	}
}

// idleCPU is the CPU kube-apiserver and etcd spend per second, over d without requests.
func idleCPU(d time.Duration) float64 {
	cpu0, start := readControlPlaneCPU(), time.Now()
	time.Sleep(d)
	return float64(readControlPlaneCPU().sub(cpu0).total()) / float64(time.Since(start))
}

func (w *writes) price(n int) ([]writeCost, error) {
	ctx, pods, mts := w.ctx, make([]*corev1.Pod, n), make([]*mesosv1alpha1.MesosTask, n)
	steps := []struct {
		name  string
		write func(i int) error
		// fetch: not a write, and not priced.
		fetch bool
	}{
		{name: "POST pods, another scheduler's", write: w.createPod("write-costs-other", corev1.DefaultSchedulerName, nil)},
		{name: "POST pods, a MesosCluster's (the outage tolerations policy adds to it)", write: w.createPod("write-costs", w.mc.Spec.SchedulerName, pods)},
		{name: "POST pods/binding", write: func(i int) error {
			return w.cs.CoreV1().Pods(pods[i].Namespace).Bind(ctx, &corev1.Binding{
				ObjectMeta: metav1.ObjectMeta{Name: pods[i].Name, UID: pods[i].UID},
				Target:     corev1.ObjectReference{Kind: "Node", Name: "agent-0001"}}, metav1.CreateOptions{})
		}},
		{name: "POST mesostasks (a task's first update, status and all)", write: func(i int) error {
			mt, err := runningTask(pods[i], w.mc)
			if err != nil {
				return err
			}
			mts[i] = mt
			return w.tasks.Create(ctx, mt)
		}},
		// The pods as they are now, for their status writes.
		{fetch: true, write: func(i int) error {
			p, err := w.cs.CoreV1().Pods(pods[i].Namespace).Get(ctx, pods[i].Name, metav1.GetOptions{})
			pods[i] = p
			return err
		}},
		{name: "PUT pods/status (Running)", write: func(i int) error {
			p := pods[i].DeepCopy()
			p.Status = podtask.PodStatusFor(p, &mts[i].Status, nil)
			_, err := w.cs.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
			return err
		}},
		{name: "POST events", write: func(i int) error {
			_, err := w.cs.EventsV1().Events(pods[i].Namespace).Create(ctx, podEvent(pods[i], mts[i]), metav1.CreateOptions{})
			return err
		}},
	}
	for _, s := range steps {
		if s.fetch {
			if err := inParallel(n, w.creators, s.write); err != nil {
				return nil, err
			}
			continue
		}
		if err := w.each(s.name, n, s.write); err != nil {
			return nil, err
		}
	}
	return w.costs, nil
}

// costCluster is a MesosCluster as the manager keeps it once subscribed, status and all,
// and its OutageToleration, which the policy reads for every pod created.
func costCluster(ctx context.Context, c client.Client) (*mesosv1alpha1.MesosCluster, error) {
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "write-costs"},
		Spec: mesosv1alpha1.MesosClusterSpec{Master: "http://127.0.0.1:5050", Executor: mesosv1alpha1.ExecutorSpec{URI: "/k8sm-executor"}}}
	if err := c.Create(ctx, mc); err != nil {
		return nil, err
	}
	for _, ns := range []string{"write-costs", "write-costs-other", "write-costs-base"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return nil, err
		}
	}
	q := func(s string) *resource.Quantity { v := resource.MustParse(s); return &v }
	now := metav1.Now()
	mc.Status = mesosv1alpha1.MesosClusterStatus{ObservedGeneration: mc.Generation,
		FrameworkID: "2c1d5e0a-6f1b-4f63-9a55-0e6f3c2d8b11-0000", Leader: "master@127.0.0.1:5050", Agents: 100,
		Capacity:   &mesosv1alpha1.ResourceSummary{CPUs: q("6400"), Memory: q("25600Gi"), Disk: q("100Ti")},
		Allocated:  &mesosv1alpha1.ResourceSummary{CPUs: q("200"), Memory: q("125Gi")},
		Tasks:      &mesosv1alpha1.TaskCounts{Running: 2000},
		ExecutorID: "k8sm-5d8f7c9b", Executors: []mesosv1alpha1.ExecutorUsage{{ID: "k8sm-5d8f7c9b", Agents: 100, Tasks: 2000}}}
	for _, t := range []string{"Subscribed", "Reconciled", "Ready", "Degraded"} {
		status := metav1.ConditionTrue
		if t == "Degraded" {
			status = metav1.ConditionFalse
		}
		mc.Status.Conditions = append(mc.Status.Conditions, metav1.Condition{Type: t, Status: status, Reason: "AsExpected",
			Message: strings.Repeat("The framework is subscribed and its agents are reconciled. ", 2), LastTransitionTime: now, ObservedGeneration: mc.Generation})
	}
	if err := c.Status().Update(ctx, mc); err != nil {
		return nil, err
	}
	// The policy's parameter, as the manager writes it for the cluster.
	ot := &mesosv1alpha1.OutageToleration{ObjectMeta: metav1.ObjectMeta{Name: mc.Name},
		Spec: mesosv1alpha1.OutageTolerationSpec{SchedulerName: mc.Spec.SchedulerName, TolerationSeconds: int64(mesosv1alpha1.DefaultFailoverTimeout.Seconds())}}
	if err := c.Create(ctx, ot); err != nil {
		return nil, err
	}
	return mc, nil
}

// runningTask is the MesosTask the manager writes when a pod's task first reports
// TASK_RUNNING.
func runningTask(pod *corev1.Pod, mc *mesosv1alpha1.MesosCluster) (*mesosv1alpha1.MesosTask, error) {
	mt, err := podtask.NewMesosTask(pod, mc, "agent-0001")
	if err != nil {
		return nil, err
	}
	now := metav1.Now()
	agent, executor := mesos.AgentID{Value: "2c1d5e0a-6f1b-4f63-9a55-0e6f3c2d8b11-S1"}, mesos.ExecutorID{Value: mt.Spec.ExecutorID}
	source := mesos.SOURCE_EXECUTOR
	podtask.ApplyUpdate(&mt.Status, mesos.TaskStatus{TaskID: mesos.TaskID{Value: mt.Spec.TaskID}, State: mesos.TASK_RUNNING.Enum(),
		AgentID: &agent, ExecutorID: &executor, Source: &source, UUID: []byte("0123456789abcdef")}, now)
	podtask.FillLaunch(&mt.Status, podtask.Launch{AgentID: agent.Value, Hostname: "agent-0001", ExecutorID: executor.Value, At: now}, mt.Generation)
	podtask.StampGeneration(mt)
	return mt, nil
}

// podEvent is an event about a pod with its MesosTask related, as the manager records.
func podEvent(pod *corev1.Pod, mt *mesosv1alpha1.MesosTask) *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: fmt.Sprintf("%s.%x", pod.Name, time.Now().UnixNano())},
		EventTime:  metav1.NowMicro(), ReportingController: "k8sm.io/scheduler", ReportingInstance: "k8sm-manager-7d9c5b6f4-x2k8p",
		Action: "Run", Reason: "Running", Type: corev1.EventTypeNormal,
		Regarding: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Related: &corev1.ObjectReference{Kind: "MesosTask", APIVersion: mesosv1alpha1.GroupVersion.String(), Namespace: mt.Namespace,
			Name: mt.Name, UID: mt.UID},
		Note: fmt.Sprintf("Task %s is running on agent %s", mt.Spec.TaskID, mt.Status.Hostname)}
}

// inParallel calls write for 0..n-1, by workers at once, and returns the first error.
func inParallel(n, workers int, write func(i int) error) error {
	next := make(chan int)
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := write(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// reportWriteCosts prints the costs per write, and what a pod's writes add up to for k8sm
// and for kube-scheduler with a kubelet's least writes.
func reportWriteCosts(costs []writeCost, n, creators int) {
	fmt.Printf("\nkube-apiserver + etcd CPU per write (%d of each, %d writers, nothing else watching; their CPU when idle taken out)\n", n, creators)
	for _, w := range costs {
		fmt.Printf("  %-72s %.2f ms\n", w.name, perPod(w.cpu, n))
	}
	if len(costs) < 7 {
		return
	}
	base, other, ours, binding, task, status, event := costs[0].cpu, costs[1].cpu, costs[2].cpu, costs[3].cpu, costs[4].cpu, costs[5].cpu, costs[6].cpu
	k8sm := ours + binding + task + status + 2*event
	peer := base + binding + status + 4*event
	fmt.Printf("  the policy adds %.2f ms to a MesosCluster's pod and %.2f ms to another's\n", perPod(ours-base, n), perPod(other-base, n))
	fmt.Printf("  a pod's writes: k8sm %.2f ms (its pod, binding, MesosTask, status, 2 events); kube-scheduler + a kubelet's least writes %.2f ms (pod, binding, status, 4 events, no policy)\n",
		perPod(k8sm, n), perPod(peer, n))
	fmt.Printf("  of the difference: the MesosTask %.2f ms, the policy %.2f ms, 2 events fewer %.2f ms\n\n",
		perPod(task, n), perPod(ours-base, n), -perPod(2*event, n))
}
