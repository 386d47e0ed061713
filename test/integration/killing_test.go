package integration

import (
	"path/filepath"
	"slices"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/mesossim"
)

// taskLog records, from the master's side, the states of the updates sent to
// frameworks, each update once (by its uuid).
type taskLog struct {
	mu     sync.Mutex
	seen   map[string]bool
	states []string
	kills  int
}

func (l *taskLog) observer() *mesossim.Observer {
	l.seen = map[string]bool{}
	return &mesossim.Observer{
		Update: func(_ string, st mesos.TaskStatus) {
			l.mu.Lock()
			defer l.mu.Unlock()
			if len(st.UUID) > 0 && !l.seen[string(st.UUID)] {
				l.seen[string(st.UUID)] = true
				l.states = append(l.states, st.GetState().String())
			}
		},
		Called: func(_ string, call scheduler.Call_Type) {
			if call == scheduler.Call_KILL {
				l.mu.Lock()
				l.kills++
				l.mu.Unlock()
			}
		},
	}
}

// killCalls is how many KILL calls the master took.
func (l *taskLog) killCalls() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.kills
}

// get returns the states, each run of one state as one.
func (l *taskLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Compact(append([]string(nil), l.states...))
}

// A framework registers TASK_KILLING_STATE by default, and the k8sm executor answers the
// first KILL of a running pod with TASK_KILLING, as Mesos's own executors do: while the
// deleted pod's container takes its time to stop, its MesosTask is Killing and the pod
// still Ready (its container serves on, as under a kubelet, which probes readiness through
// a pod's termination); the task then ends TASK_KILLED and the pod goes.
var _ = Describe("A pod deleted under the k8sm executor", func() {
	It("is Killing while its container stops, then goes", func() {
		var log taskLog
		sim := startExecSim(func(c *mesossim.Config) { c.Observer = log.observer() })
		mc := simClusterWith(sim, func(mc *mesosv1alpha1.MesosCluster) {
			mc.Spec.Executor = mesosv1alpha1.ExecutorSpec{URI: executorBinary(), Command: "./k8sm-executor"}
		})
		pod := newPod(newNamespace(), "slow-to-stop", mc.Spec.SchedulerName, "100m")
		grace := int64(20)
		pod.Spec.TerminationGracePeriodSeconds = &grace
		// It says when its trap is set: a SIGTERM before that would end it at once.
		trapped := filepath.Join(writableDir(), "trapped")
		pod.Spec.Containers[0].Command = []string{"sh", "-c", "trap 'sleep 2; exit 0' TERM; touch " + trapped + "; sleep 3600 & wait"}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		Eventually(podOf(key), 60*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		Eventually(trapped, 30*time.Second, 50*time.Millisecond).Should(BeAnExistingFile())

		Expect(k8sClient.Delete(ctx, pod)).To(Succeed())
		Eventually(func() string {
			mt := &mesosv1alpha1.MesosTask{}
			if err := k8sClient.Get(ctx, key, mt); err != nil {
				return err.Error()
			}
			p, err := podOf(key)()
			if err != nil {
				return err.Error()
			}
			return string(mt.Status.Phase) + " " + podCondition(p, corev1.PodReady)
		}, 10*time.Second, 50*time.Millisecond).Should(HavePrefix(string(mesosv1alpha1.TaskPhaseKilling) + " True/"))
		Eventually(func() bool {
			_, err := podOf(key)()
			return apierrors.IsNotFound(err)
		}, 30*time.Second, 100*time.Millisecond).Should(BeTrue())

		// Never RUNNING or STARTING again once killing, though the stopped container
		// makes the pod Pending again for a moment.
		Expect(log.get()).To(HaveExactElements("TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_KILLED"))
		// One KILL, though each write about the deleted pod (its MesosTask Killing, its
		// status) makes another pass over it.
		Expect(log.killCalls()).To(Equal(1))
	})
})
