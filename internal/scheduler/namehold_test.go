package scheduler

import (
	"context"
	"slices"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
)

// With the MesosTasks in memory, a new leader whose master failed over cannot know the
// task of a pod gone that runs on an agent the master recovered and has not seen again:
// a pod made again under that name (web-0, a StatefulSet's) waits, told why, until the
// agent is back and its tasks are looked at; a pod whose name was generated is placed
// at once. With the CRD the earlier pod's MesosTask holds the name, and nothing waits.
func TestPodsOfFixedNamesWaitForTheAgentsAFailedOverMasterRecovered(t *testing.T) {
	for _, inMemory := range []bool{true, false} {
		t.Run(map[bool]string{true: "in memory", false: "with the CRD"}[inMemory], func(t *testing.T) {
			fixed, fixedTask := podWithTask("web-0", "500m")
			generated, generatedTask := podWithTask("job-x1", "500m")
			generated.GenerateName = "job-"
			c := fakeAPI(t, fixed, generated)
			d := &recoveringDriver{fakeDriver: newFakeDriver()}
			s, _ := newTestScheduler(c, d)
			s.TasksInMemory = inMemory
			s.recoveredAgentsPoll = 10 * time.Millisecond
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s.Enqueue(ctx, fixedTask, fixed)
			s.Enqueue(ctx, generatedTask, generated)

			if s.learnEarlierTasks(ctx, d) {
				t.Fatal("the look at the tasks Mesos holds is done while agent a-2 is not back")
			}
			s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 4)})
			launched := map[string]bool{}
			for _, tasks := range d.accepted {
				for _, ti := range tasks {
					launched[ti.TaskID.Value] = true
				}
			}
			if !launched[generatedTask.Spec.TaskID] {
				t.Errorf("launched %v; want job-x1, whose name was generated, placed at once", launched)
			}
			if launched[fixedTask.Spec.TaskID] == inMemory {
				t.Fatalf("web-0 launched: %v; want it launched only with the CRD (whose MesosTasks hold the names) while agent a-2 is not back", launched[fixedTask.Spec.TaskID])
			}
			if !inMemory {
				return
			}
			if !s.Pending(fixedTask.Spec.TaskID) {
				t.Fatal("web-0 left the queue; want it waiting aside")
			}
			pod := &corev1.Pod{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(fixed), pod); err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == corev1.PodScheduled })
			if i < 0 || pod.Status.Conditions[i].Status != corev1.ConditionFalse || pod.Status.Conditions[i].Message != whyNameHeld {
				t.Errorf("web-0's conditions are %+v; want PodScheduled False, saying %q", pod.Status.Conditions, whyNameHeld)
			}

			// Agent a-2 comes back: the task there of the earlier web-0 is recorded, and
			// web-0 is queued again.
			d.mu.Lock()
			d.back = true
			d.mu.Unlock()
			if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
				s.mu.Lock()
				defer s.mu.Unlock()
				_, queued := s.pending[fixedTask.Spec.TaskID]
				return queued && s.namesHeldFor == 0, nil
			}); err != nil {
				t.Fatal("web-0 is not queued again once agent a-2 is back")
			}
			earlier := &mesosv1alpha1.MesosTask{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(fixed), earlier); err != nil || earlier.Spec.TaskID != "k8sm.u1" {
				t.Fatalf("the MesosTask of web-0 is %+v (%v); want the earlier task's, recorded before web-0 is queued again", earlier.Spec, err)
			}
			s.handleNew(ctx, []mesos.Offer{agentOffer("agent-2", 4)})
			for _, tasks := range d.accepted {
				for _, ti := range tasks {
					if ti.TaskID.Value == fixedTask.Spec.TaskID {
						t.Fatal("web-0 launched while the earlier web-0's task may still run")
					}
				}
			}
		})
	}
}

// A hold of fixed names that a subscription began ends with the next subscription's look
// at the tasks Mesos holds when its master lists no agent it recovered (the first ended
// before its agents came back), and the pods that waited are placed.
func TestAHoldOfFixedNamesEndsWithTheNextLook(t *testing.T) {
	fixed, fixedTask := podWithTask("web-0", "500m")
	c := fakeAPI(t, fixed)
	d := &recoveringDriver{fakeDriver: newFakeDriver()}
	s, _ := newTestScheduler(c, d)
	s.TasksInMemory = true
	s.recoveredAgentsPoll = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Enqueue(ctx, fixedTask, fixed)
	s.learnEarlierTasks(ctx, d)

	next := &taskListingDriver{fakeDriver: newFakeDriver(), tasks: []framework.MasterTask{}}
	s.setDriver(next)
	if !s.learnEarlierTasks(ctx, next) {
		t.Fatal("the next look is not done, though its master lists no agent recovered")
	}
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 4)})
	if len(next.accepted) != 1 || len(next.accepted[0]) != 1 || next.accepted[0][0].TaskID.Value != fixedTask.Spec.TaskID {
		t.Errorf("ACCEPTs %v; want web-0 launched once no agent is awaited", next.accepted)
	}
}
