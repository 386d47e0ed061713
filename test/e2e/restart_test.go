package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/mesossim"
	"github.com/k8sm/k8sm/internal/podtask"
)

// observed is what a master saw of tasks, in order (mesossim.Observer).
type observed struct {
	mu   sync.Mutex
	seen []string
}

func (o *observed) observer() *mesossim.Observer {
	return &mesossim.Observer{
		Launch: func(l mesossim.ObservedLaunch) {
			ref, _ := podtask.PodRefFromLabels(l.Task.Labels)
			o.add("launch " + l.Task.TaskID.Value + " " + ref.Name)
		},
		Update: func(_ string, st mesos.TaskStatus) {
			if podtask.IsTerminal(st.GetState()) {
				o.add("end " + st.TaskID.Value)
			}
		},
		Ended: func(_ string, st mesos.TaskStatus) { o.add("ended " + st.TaskID.Value) },
	}
}

func (o *observed) add(e string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, e)
}

func (o *observed) events() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.seen)
}

// The real manager binary, killed (SIGKILL) at awkward moments and started again.
var _ = Describe("Restart safety", func() {
	var (
		c       client.Client
		sim     *mesossim.Master
		manager *managerProcess
		// checkpoint is the cluster's spec.framework.checkpoint: nil, its default, unless a spec's
		// BeforeEach sets it.
		checkpoint *bool
		// seen is what the master saw, in order: "launch <task id> <pod name>" for every
		// task launched, "ended <task id>" when it recorded a task's end (its resources
		// freed), and "end <task id>" for every terminal update sent, which may come later.
		seen *observed
	)

	BeforeEach(func() {
		var kubeconfig string
		_, kubeconfig, c = adminEnv()
		manager = newManagerProcess(kubeconfig)

		var err error
		seen = &observed{}
		// A task ends a second after its KILL, as a container given a grace period: one a
		// new leader kills as it reconciles still runs when it lists the tasks Mesos holds.
		sim, err = mesossim.New(mesossim.Config{Agents: 4, AgentResources: "cpus:8;mem:16384;disk:10000",
			HeartbeatInterval: time.Second, AllocationInterval: 50 * time.Millisecond, UpdateRetry: time.Second,
			TaskStartDelay: 200 * time.Millisecond, TaskStopDelay: time.Second, Observer: seen.observer()})
		Expect(err).NotTo(HaveOccurred())
		Expect(sim.Start("127.0.0.1:0")).To(Succeed())
		DeferCleanup(sim.Close)
		checkpoint = nil
	})

	JustBeforeEach(func() {
		Expect(c.Create(context.Background(), &mesosv1alpha1.MesosCluster{
			ObjectMeta: metav1.ObjectMeta{Name: "restart"},
			Spec: mesosv1alpha1.MesosClusterSpec{Master: sim.URL(), Executor: mesosv1alpha1.ExecutorSpec{URI: "/k8sm-executor"},
				Framework: mesosv1alpha1.FrameworkSpec{Checkpoint: checkpoint}},
		})).To(Succeed())
		manager.start()
	})

	// simTasks counts the sim's tasks of the framework by state.
	simTasks := func() map[string]int {
		out := map[string]int{}
		for _, fw := range sim.State().Frameworks {
			if fw.Removed {
				continue
			}
			for _, t := range fw.Tasks {
				out[t.State]++
			}
		}
		return out
	}
	pods := func() []corev1.Pod {
		var list corev1.PodList
		Expect(c.List(context.Background(), &list, client.InNamespace("default"))).To(Succeed())
		return list.Items
	}
	podNames := func() []string {
		var names []string
		for _, p := range pods() {
			names = append(names, p.Name)
		}
		return names
	}

	// waitForNodes waits for the four agents' Nodes.
	waitForNodes := func() {
		Eventually(func() (int, error) {
			var nodes corev1.NodeList
			err := c.List(context.Background(), &nodes)
			return len(nodes.Items), err
		}, 30*time.Second, 100*time.Millisecond).Should(Equal(4))
	}
	// sleeper is a pod of the cluster named name; bound says it is bound to agent i%4+1's
	// Node by someone else, as a DaemonSet's pod is.
	sleeper := func(name string, i int, bound bool) *corev1.Pod {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec: corev1.PodSpec{SchedulerName: "mesos", Containers: []corev1.Container{{Name: "c", Image: "busybox",
				Command: []string{"sleep", "3600"}}}},
		}
		if bound {
			pod.Spec.SchedulerName = corev1.DefaultSchedulerName
			pod.Spec.NodeName = agentnode.NodeName("restart", fmt.Sprintf("agent-%d", i%4+1), 0)
		}
		return pod
	}
	running := func() int {
		count := 0
		for _, p := range pods() {
			if p.Status.Phase == corev1.PodRunning {
				count++
			}
		}
		return count
	}
	// runSleepers creates n sleepers named prefix-00…, every bound-th bound by another,
	// and waits until each runs, in one task.
	runSleepers := func(prefix string, n, bound int) {
		waitForNodes()
		for i := range n {
			Expect(c.Create(context.Background(), sleeper(fmt.Sprintf("%s-%02d", prefix, i), i, i%bound == 0))).To(Succeed())
		}
		Eventually(running, 60*time.Second, 200*time.Millisecond).Should(Equal(n))
		Eventually(simTasks, 30*time.Second).Should(Equal(map[string]int{"TASK_RUNNING": n}))
	}

	// boundUnrecorded names the pods k8sm bound whose task has not reported yet: no
	// MesosTask, or one without a phase.
	boundUnrecorded := func() []string {
		var tasks mesosv1alpha1.MesosTaskList
		Expect(c.List(context.Background(), &tasks, client.InNamespace("default"))).To(Succeed())
		phase := map[string]mesosv1alpha1.TaskPhase{}
		for _, t := range tasks.Items {
			phase[t.Name] = t.Status.Phase
		}
		var out []string
		for _, p := range pods() {
			if ph, ok := phase[p.Name]; (!ok || ph == "") && p.Spec.NodeName != "" && p.Spec.SchedulerName == "mesos" {
				out = append(out, p.Name)
			}
		}
		return out
	}

	// What a manager that keeps no MesosTask in etcd meets at every start
	// (docs/mesostask-served.md, step 2): the pods, the Nodes and Mesos, nothing else. The
	// framework does not checkpoint, so an agent that restarts meanwhile loses its tasks:
	// Mesos then says it does not know them, which for a pod that ran is its end, not a
	// launch Mesos never ran.
	Context("without checkpointing", func() {
		BeforeEach(func() { checkpoint = ptr.To(false) })

		It("rebuilds every task's record from the pods and Mesos when the MesosTasks are gone too", func() {
			ctx := context.Background()
			const n = 12
			runSleepers("q", n, 4)
			// The pods on agent-1, which restarts while no manager runs: those bound by
			// another (every fourth) and those placed there. And one placed elsewhere, to
			// be removed and made again under its name, as a StatefulSet's pod is.
			lost := map[string]bool{}
			var again string
			var againUID types.UID
			for _, p := range pods() {
				switch {
				case p.Name == "q-01" || p.Name == "q-02":
				case p.Spec.NodeName == agentnode.NodeName("restart", "agent-1", 0):
					lost[p.Name] = true
				case again == "" && p.Spec.SchedulerName == "mesos":
					again, againUID = p.Name, p.UID
				}
			}
			Expect(again).NotTo(BeEmpty())

			manager.kill()
			var tasks mesosv1alpha1.MesosTaskList
			Expect(c.List(ctx, &tasks, client.InNamespace("default"))).To(Succeed())
			Expect(tasks.Items).To(HaveLen(n))
			before := map[string]mesosv1alpha1.MesosTaskStatus{}
			for _, t := range tasks.Items {
				before[t.Name] = t.Status
			}
			for i := range tasks.Items {
				t := &tasks.Items[i]
				t.Finalizers = nil
				Expect(c.Update(ctx, t)).To(Succeed())
				Expect(client.IgnoreNotFound(c.Delete(ctx, t))).To(Succeed())
			}
			// While no manager runs: one pod removed at once (its task has nothing left to
			// name it), one deleted with a grace period (it waits, Terminating, for its
			// task to be killed), one made (it waits to be placed), and agent-1 restarted,
			// its tasks lost.
			Expect(c.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "q-01"}},
				client.GracePeriodSeconds(0))).To(Succeed())
			Expect(c.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "q-02"}})).To(Succeed())
			Expect(c.Create(ctx, sleeper("q-new", 0, false))).To(Succeed())
			// And one removed at once and made again under its name: its earlier task,
			// which nothing records any more, must end before the new pod's runs.
			Expect(c.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: again}},
				client.GracePeriodSeconds(0))).To(Succeed())
			Eventually(func() error {
				return c.Create(ctx, sleeper(again, 1, false))
			}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
			Expect(sim.RestartAgent("agent-1")).To(Succeed())
			Eventually(sim.AgentReady("agent-1"), 30*time.Second).Should(BeClosed())
			manager.start()

			Eventually(podNames, 60*time.Second, 200*time.Millisecond).Should(And(Not(ContainElement("q-01")), Not(ContainElement("q-02"))))
			phases := func() map[string]corev1.PodPhase {
				out := map[string]corev1.PodPhase{}
				for _, p := range pods() {
					out[p.Name] = p.Status.Phase
				}
				return out
			}
			want := map[string]corev1.PodPhase{}
			for i := range n {
				if name := fmt.Sprintf("q-%02d", i); name != "q-01" && name != "q-02" {
					want[name] = corev1.PodRunning
					if lost[name] {
						want[name] = corev1.PodFailed
					}
				}
			}
			want["q-new"] = corev1.PodRunning
			Eventually(phases, 60*time.Second, 200*time.Millisecond).Should(Equal(want),
				"the pods of the restarted agent fail, as their lost tasks did, and the others run")
			stillRunning := map[string]int{"TASK_RUNNING": n - 1 - len(lost)}
			Eventually(simTasks, 30*time.Second).Should(Equal(stillRunning),
				"the deleted pods' tasks are killed, the new pod's launched, and no task runs twice")
			Consistently(simTasks, 3*time.Second, 200*time.Millisecond).Should(Equal(stillRunning),
				"no pod whose task was lost is launched again")
			Eventually(func(g Gomega) {
				g.Expect(c.List(ctx, &tasks, client.InNamespace("default"))).To(Succeed())
				g.Expect(tasks.Items).To(HaveLen(n - 1))
				for _, t := range tasks.Items {
					g.Expect(t.Finalizers).NotTo(BeEmpty(), t.Name)
					if lost[t.Name] {
						g.Expect(t.Status.Phase).To(Equal(mesosv1alpha1.TaskPhaseGone), t.Name)
						continue
					}
					g.Expect(t.Status.Phase).To(Equal(mesosv1alpha1.TaskPhaseRunning), t.Name)
					g.Expect(t.Status.MesosState).To(Equal("TASK_RUNNING"), t.Name)
					g.Expect(t.Status.AgentID).NotTo(BeEmpty(), t.Name)
					if was, ok := before[t.Name]; ok && t.Name != again {
						g.Expect(t.Status.AgentID).To(Equal(was.AgentID), t.Name)
						g.Expect(t.Status.ExecutorID).To(Equal(was.ExecutorID), t.Name)
						g.Expect(t.Status.Hostname).To(Equal(was.Hostname), t.Name)
						g.Expect(t.Status.LaunchedAt.Time).To(BeTemporally("~", was.LaunchedAt.Time, time.Second), t.Name+" launchedAt")
						g.Expect(t.Status.StartedAt.Time).To(BeTemporally("~", was.StartedAt.Time, time.Second), t.Name+" startedAt")
						g.Expect(t.Status.Conditions).To(HaveLen(len(was.Conditions)), t.Name)
					}
				}
			}, 60*time.Second, 200*time.Millisecond).Should(Succeed(), "each pod's record is made again from Mesos's answer")
			// Ended once its agent said so: the master frees its resources then, while the
			// update waits behind the task's TASK_KILLING until that is acknowledged.
			earlier := "k8sm." + string(againUID)
			Expect(seen.events()).To(ContainElement("end "+earlier), "the earlier task of "+again+" is killed")
			ended := slices.Index(seen.events(), "ended "+earlier)
			Expect(ended).To(BeNumerically(">=", 0), "the master recorded the end of the earlier task of "+again)
			for i, e := range seen.events() {
				if strings.HasPrefix(e, "launch ") && strings.HasSuffix(e, " "+again) && !strings.HasPrefix(e, "launch "+earlier+" ") {
					Expect(i).To(BeNumerically(">", ended), "the new "+again+" is launched only once its earlier task ended: "+strings.Join(seen.events(), ", "))
				}
			}
		})
	})

	// A new leader with the MesosTasks in memory holds none, and learns of the tasks of
	// pods gone from what the master lists; a master that failed over lists none of an
	// agent that has not registered with it again. A pod made again under the name of one
	// whose task runs there waits until the agent is back, and its earlier task ended.
	Context("with the MesosTasks in memory", func() {
		BeforeEach(func() {
			manager.args = []string{"--mesostask-storage=memory", "--tasks-api-bind-address=127.0.0.1:0"}
		})

		It("holds a pod made again under its name until the agent a failed-over master recovered is back", func() {
			ctx := context.Background()
			waitForNodes()
			Expect(c.Create(ctx, sleeper("w-0", 0, false))).To(Succeed())
			Eventually(running, 60*time.Second, 200*time.Millisecond).Should(Equal(1))
			Eventually(simTasks, 30*time.Second).Should(Equal(map[string]int{"TASK_RUNNING": 1}))
			key := client.ObjectKey{Namespace: "default", Name: "w-0"}
			first := &corev1.Pod{}
			Expect(c.Get(ctx, key, first)).To(Succeed())
			earlier := "k8sm." + string(first.UID)
			var host string
			for _, a := range sim.State().Agents {
				if a.ID == sim.State().Frameworks[0].Tasks[0].AgentID {
					host = a.Hostname
				}
			}
			Expect(host).NotTo(BeEmpty())

			By("removing w-0 and making it again while no manager runs, and failing the master over, w-0's agent registering 20 s later")
			manager.kill()
			Expect(c.Delete(ctx, first, client.GracePeriodSeconds(0))).To(Succeed())
			Eventually(func() error { return c.Create(ctx, sleeper("w-0", 0, false)) }, 10*time.Second, 100*time.Millisecond).Should(Succeed())
			const late = 20 * time.Second
			Expect(sim.DelayReregistration(late, host)).To(Succeed())
			failedOver := time.Now()
			sim.FailoverMaster()
			manager.start()

			By("while the agent is not back, the new w-0 waits and says why")
			Eventually(func(g Gomega) {
				p := &corev1.Pod{}
				g.Expect(c.Get(ctx, key, p)).To(Succeed())
				i := slices.IndexFunc(p.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == corev1.PodScheduled })
				g.Expect(i).To(BeNumerically(">=", 0))
				g.Expect(p.Status.Conditions[i].Status).To(Equal(corev1.ConditionFalse))
				g.Expect(p.Status.Conditions[i].Message).To(ContainSubstring("recovered after a failover"))
			}, time.Until(failedOver.Add(late-2*time.Second)), 200*time.Millisecond).Should(Succeed())
			Expect(time.Now()).To(BeTemporally("<", failedOver.Add(late)), "the agent must still be away")

			By("once the agent is back, the earlier task is killed, and the new w-0 runs after it ended")
			Eventually(running, 90*time.Second, 200*time.Millisecond).Should(Equal(1))
			Eventually(simTasks, 30*time.Second).Should(Equal(map[string]int{"TASK_RUNNING": 1}))
			ended := slices.Index(seen.events(), "ended "+earlier)
			Expect(ended).To(BeNumerically(">=", 0), "the master recorded the end of the earlier task of w-0: "+strings.Join(seen.events(), ", "))
			for i, e := range seen.events() {
				if strings.HasPrefix(e, "launch ") && strings.HasSuffix(e, " w-0") && !strings.HasPrefix(e, "launch "+earlier+" ") {
					Expect(i).To(BeNumerically(">", ended), "the new w-0 is launched only once its earlier task ended: "+strings.Join(seen.events(), ", "))
				}
			}
		})
	})

	// An install switched from the CRD to the MesosTasks in memory (kubectl apply keeps
	// the CRD): the manager, started again with them in memory, takes the CRD's objects
	// over and removes the CRD; every pod runs on in its one task, and a pod deleted
	// meanwhile has its task killed.
	It("takes the MesosTasks of the CRD over when started with them in memory", func() {
		ctx := context.Background()
		const n = 6
		runSleepers("s", n, 3)
		var tasks mesosv1alpha1.MesosTaskList
		Eventually(func() (int, error) {
			err := c.List(ctx, &tasks, client.InNamespace("default"))
			return len(tasks.Items), err
		}, 30*time.Second, 200*time.Millisecond).Should(Equal(n))

		By("deleting a pod while no manager runs, and starting the manager with the MesosTasks in memory")
		manager.kill()
		Expect(c.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "s-01"}})).To(Succeed())
		manager.args = []string{"--mesostask-storage=memory", "--tasks-api-bind-address=127.0.0.1:0"}
		manager.start()

		By("the CRD goes, the deleted pod's task is killed, and the others run on in their tasks")
		Eventually(func() bool {
			crd := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"}}
			return apierrors.IsNotFound(c.Get(ctx, client.ObjectKey{Name: "mesostasks.mesos.k8sm.io"}, crd))
		}, 60*time.Second, 200*time.Millisecond).Should(BeTrue(), "the MesosTask CRD is removed")
		Eventually(podNames, 60*time.Second, 200*time.Millisecond).ShouldNot(ContainElement("s-01"))
		Eventually(simTasks, 30*time.Second).Should(Equal(map[string]int{"TASK_RUNNING": n - 1}))
		Consistently(simTasks, 3*time.Second, 200*time.Millisecond).Should(Equal(map[string]int{"TASK_RUNNING": n - 1}))
		Expect(running()).To(Equal(n - 1))
		launches := 0
		for _, e := range seen.events() {
			if strings.HasPrefix(e, "launch ") {
				launches++
			}
		}
		Expect(launches).To(Equal(n), "no task is launched again: "+strings.Join(seen.events(), ", "))
	})

	It("loses no pod, launches none twice and leaves none hanging when the manager is killed", func() {
		ctx := context.Background()
		const n = 30
		waitForNodes()
		for i := range n {
			Expect(c.Create(ctx, sleeper(fmt.Sprintf("p-%02d", i), i, i%5 == 0))).To(Succeed())
			if i == n/2 {
				// Mid-launch: some pods are queued, some launched, and some bound with a
				// task Mesos is starting while their MesosTask says nothing yet (the
				// binding is the only record of that launch).
				Eventually(boundUnrecorded, 30*time.Second, 10*time.Millisecond).ShouldNot(BeEmpty())
				manager.kill()
				manager.start()
			}
		}
		Eventually(running, 90*time.Second, 200*time.Millisecond).Should(Equal(n))
		Expect(simTasks()).To(Equal(map[string]int{"TASK_RUNNING": n}), "every pod is exactly one running task")

		// Delete them all and kill the manager while the kills are under way.
		for _, p := range pods() {
			Expect(c.Delete(ctx, &p)).To(Succeed())
		}
		Eventually(func() int { return simTasks()["TASK_KILLED"] }, 30*time.Second, 10*time.Millisecond).Should(BeNumerically(">", 0))
		manager.kill()
		manager.start()
		Eventually(func() int { return len(pods()) }, 90*time.Second, 200*time.Millisecond).Should(BeZero(), "no pod is left terminating")
		Eventually(func() int { return simTasks()["TASK_RUNNING"] }, 30*time.Second).Should(BeZero(), "no task is left running")
		var tasks mesosv1alpha1.MesosTaskList
		Eventually(func() int {
			Expect(c.List(ctx, &tasks, client.InNamespace("default"))).To(Succeed())
			return len(tasks.Items)
		}, 30*time.Second).Should(BeZero(), func() string {
			out := "MesosTasks go with their pods; left:"
			for _, t := range tasks.Items {
				out += fmt.Sprintf(" %s(%s %s del=%v fin=%v)", t.Name, t.Status.Phase, t.Status.MesosState, t.DeletionTimestamp != nil, t.Finalizers)
			}
			return out
		})
	})
})
