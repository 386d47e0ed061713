package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/mesossim"
)

type loadKind int

const (
	createPod loadKind = iota
	deletePod
	createDeployment
	scaleDeployment
	rolloutDeployment
	createJob
)

// loadAction is one thing the load does to the cluster.
type loadAction struct {
	at       time.Duration
	kind     loadKind
	name     string
	replicas int           // deployments: replicas; jobs: completions
	parallel int           // jobs: parallelism
	runFor   time.Duration // jobs: how long each pod runs
	pinAgent int           // bare pods: the agent it is bound to at creation (as a DaemonSet's pod), or -1
	requests bool          // bare pods and templates: small explicit requests
	grace    int64         // deletes: grace period, -1 for the pod's own
	again    bool          // bare pods: made again under the name of one deleted at once
}

// planLoad draws the run's load from its seed over the fault phase: about half the pods
// bare (a tenth bound to an agent's Node at creation, three in ten deleted later with
// various grace periods; two in three of those deleted at once are made again under their name
// a moment later, as a StatefulSet makes its pods), three in ten through Deployments
// (scaled down, scaled up or rolled out once), two in ten through Jobs whose pods finish
// after a few seconds. Without kube-controller-manager every pod is bare.
func planLoad(p profile, controllers bool, phase time.Duration) []loadAction {
	rng := rand.New(rand.NewPCG(uint64(p.seed), 0x6c6f6164)) // "load"
	window := phase * 8 / 10
	at := func(from, to time.Duration) time.Duration { return from + randDur(rng, max(to-from, time.Millisecond)) }
	bare, deployed := p.pods, 0
	var plan []loadAction
	if controllers {
		deployed = p.pods * 3 / 10
		jobPods := p.pods * 2 / 10
		bare = p.pods - deployed - jobPods
		plan = append(plan, planDeployments(rng, deployed, window, at)...)
		jobs := max(1, jobPods/8)
		for i := range jobs {
			plan = append(plan, loadAction{at: at(0, window*7/10), kind: createJob, name: fmt.Sprintf("job-%d", i),
				replicas: jobPods / jobs, parallel: 2 + rng.IntN(3), runFor: 2*time.Second + randDur(rng, 4*time.Second), requests: rng.IntN(2) == 0})
		}
	}
	graces := []int64{-1, 0, 1}
	// Its own draws, so that the rest of a seed's plan is what it was before pods were
	// made again.
	again := rand.New(rand.NewPCG(uint64(p.seed), 0x6167616e)) // "agan"
	for i := range bare {
		create := at(0, window)
		a := loadAction{at: create, kind: createPod, name: fmt.Sprintf("pod-%04d", i), pinAgent: -1, requests: rng.IntN(2) == 0}
		if rng.IntN(10) == 0 {
			a.pinAgent = rng.IntN(p.agents)
		}
		plan = append(plan, a)
		if rng.IntN(10) < 3 {
			del := loadAction{at: at(create+time.Second, window+time.Second), kind: deletePod, name: a.name, grace: graces[rng.IntN(len(graces))]}
			plan = append(plan, del)
			if del.grace == 0 && again.IntN(3) > 0 {
				plan = append(plan, loadAction{at: del.at + 500*time.Millisecond + randDur(again, 2500*time.Millisecond), kind: createPod,
					name: a.name, pinAgent: -1, requests: a.requests, again: true})
			}
		}
	}
	sort.SliceStable(plan, func(i, j int) bool { return plan[i].at < plan[j].at })
	return plan
}

func planDeployments(rng *rand.Rand, pods int, window time.Duration, at func(from, to time.Duration) time.Duration) []loadAction {
	if pods == 0 {
		return nil
	}
	n := max(2, pods/20)
	var plan []loadAction
	for i := range n {
		name := fmt.Sprintf("deploy-%d", i)
		replicas := max(1, pods/n)
		created := at(0, window/2)
		plan = append(plan, loadAction{at: created, kind: createDeployment, name: name, replicas: replicas, requests: rng.IntN(2) == 0})
		change := loadAction{at: at(created+5*time.Second, window), name: name}
		switch rng.IntN(4) {
		case 0, 1:
			change.kind, change.replicas = scaleDeployment, replicas/2
		case 2:
			change.kind, change.replicas = scaleDeployment, replicas+replicas/2+1
		default:
			change.kind = rolloutDeployment
		}
		plan = append(plan, change)
	}
	return plan
}

// startLoad runs the load plan; the channel closes when it is done.
func (r *run) startLoad(plan []loadAction) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		for _, a := range plan {
			time.Sleep(time.Until(start.Add(a.at))) // pacing
			if err := r.apply(context.Background(), a); err != nil {
				r.runError("load: %s %s: %v", loadNames[a.kind], a.name, err)
			}
		}
		r.t.Logf("load done: %d actions", len(plan))
	}()
	return done
}

var loadNames = map[loadKind]string{createPod: "create pod", deletePod: "delete pod", createDeployment: "create deployment",
	scaleDeployment: "scale deployment", rolloutDeployment: "roll out deployment", createJob: "create job"}

// apply carries one action out, retrying while kube-apiserver is away.
func (r *run) apply(ctx context.Context, a loadAction) error {
	switch a.kind {
	case createPod:
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: a.name}, Spec: podSpec(a.requests, "3600")}
		if a.pinAgent >= 0 {
			pod.Spec.SchedulerName = corev1.DefaultSchedulerName
			pod.Spec.NodeName = agentnode.NodeName(clusterName, fmt.Sprintf("agent-%d", a.pinAgent+1), 0)
		}
		if a.again {
			return r.createAgain(ctx, pod)
		}
		return r.create(ctx, pod)
	case deletePod:
		var opts []client.DeleteOption
		if a.grace >= 0 {
			opts = append(opts, client.GracePeriodSeconds(a.grace))
		}
		return apiRetry(func() error {
			return client.IgnoreNotFound(r.load.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: a.name}}, opts...))
		})
	case createDeployment:
		return r.create(ctx, deployment(a))
	case scaleDeployment, rolloutDeployment:
		rollout := strconv.FormatInt(time.Now().UnixNano(), 10)
		return apiRetry(func() error {
			d := &appsv1.Deployment{}
			if err := r.load.Get(ctx, client.ObjectKey{Namespace: namespace, Name: a.name}, d); err != nil {
				return err
			}
			before := d.DeepCopy()
			if a.kind == scaleDeployment {
				d.Spec.Replicas = ptr(int32(a.replicas))
			} else {
				d.Spec.Template.Annotations["chaos/rollout"] = rollout // the same on a retry: one rollout
			}
			return r.load.Patch(ctx, d, client.MergeFrom(before))
		})
	case createJob:
		return r.create(ctx, job(a))
	}
	return fmt.Errorf("unknown load action %d", a.kind)
}

// create creates obj, retrying while kube-apiserver is away; a create that answers
// AlreadyExists after a try that failed was made by that try (its answer was lost).
func (r *run) create(ctx context.Context, obj client.Object) error {
	tried := false
	return apiRetry(func() error {
		err := r.load.Create(ctx, obj)
		if tried && apierrors.IsAlreadyExists(err) {
			return nil
		}
		tried = true
		return err
	})
}

// createAgain creates a pod under the name of one deleted at once a moment ago, waiting
// while that one is still there (its delete retried while kube-apiserver was away); a pod
// of the name created since the call began is this call's (a try whose answer was lost).
func (r *run) createAgain(ctx context.Context, pod *corev1.Pod) error {
	began := time.Now().Add(-time.Second) // creationTimestamp has whole seconds
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		err := r.load.Create(ctx, pod.DeepCopy())
		if !apierrors.IsAlreadyExists(err) {
			return err == nil, nil // kube-apiserver away: tried again
		}
		there := &corev1.Pod{}
		if r.load.Get(ctx, client.ObjectKeyFromObject(pod), there) == nil && !there.CreationTimestamp.Time.Before(began) {
			return true, nil
		}
		return false, nil
	})
}

func ptr[T any](v T) *T { return &v }

// podSpec is a pod of the cluster's scheduler that runs `sleep secs`: on simulated
// tasks it runs until killed, or finishes after secs when finishes is set on its labels.
func podSpec(requests bool, secs string) corev1.PodSpec {
	c := corev1.Container{Name: "c", Image: "busybox", Command: []string{"sleep", secs}}
	if requests {
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("32Mi")}
	}
	return corev1.PodSpec{SchedulerName: "mesos", TerminationGracePeriodSeconds: ptr(int64(2)), Containers: []corev1.Container{c}}
}

func deployment(a loadAction) *appsv1.Deployment {
	labels := map[string]string{"app": a.name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: a.name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(a.replicas)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{"chaos/rollout": "0"}},
				Spec:       podSpec(a.requests, "3600"),
			},
		},
	}
}

// taskLabelAnnotation makes k8sm put a label on the pod's task (internal/podtask).
const taskLabelAnnotation = "task-label.mesos.k8sm.io/"

func job(a loadAction) *batchv1.Job {
	spec := podSpec(a.requests, strconv.Itoa(int(a.runFor.Seconds())))
	spec.RestartPolicy = corev1.RestartPolicyNever
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: a.name},
		Spec: batchv1.JobSpec{
			Completions:  ptr(int32(a.replicas)),
			Parallelism:  ptr(int32(a.parallel)),
			BackoffLimit: ptr(int32(100)),
			Template: corev1.PodTemplateSpec{
				// A simulated task finishes after the label's duration.
				ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{taskLabelAnnotation + mesossim.LabelFinishAfter: a.runFor.String()}},
				Spec:       spec,
			},
		},
	}
}
