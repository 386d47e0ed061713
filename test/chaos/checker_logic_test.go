package chaos

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/mesossim"
	"github.com/k8sm/k8sm/internal/podtask"
)

// The checker's own logic, without a cluster: these run in -short too.

func TestPlanFaultsIsAFunctionOfTheProfile(t *testing.T) {
	n := len(faultKinds) // the short profile: 12 faults, or one of each kind if there are more kinds
	short := profile{seed: 7, pods: 60, agents: 8, faults: n, pace: 4 * time.Second, kinds: faultKinds}
	a, b := planFaults(short), planFaults(short)
	if len(a) != n || len(b) != n {
		t.Fatalf("plans of %d and %d faults, want %d", len(a), len(b), n)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("fault %d: %v, then %v for the same seed", i, a[i], b[i])
		}
	}
	seen := map[faultKind]bool{}
	for i, f := range a {
		seen[f.kind] = true
		if i > 0 && f.at <= a[i-1].at {
			t.Fatalf("fault %d at %s, not after the one before (%s)", i, f.at, a[i-1].at)
		}
		if f.agent < 0 || f.agent >= short.agents {
			t.Fatalf("fault %v on agent index %d of %d", f, f.agent, short.agents)
		}
	}
	if len(seen) != len(faultKinds) {
		t.Fatalf("kinds %v: the short profile covers every kind", seen)
	}
	other := short
	other.seed = 8
	if c := planFaults(other); c[0] == a[0] && c[1] == a[1] && c[2] == a[2] {
		t.Fatalf("seeds 7 and 8 give the same plan")
	}

	long := profile{seed: 1, pods: 1000, agents: 50, faults: 150, pace: 4 * time.Second, kinds: faultKinds, minLeaderKill: 20}
	kills := 0
	for _, f := range planFaults(long) {
		if f.kind == faultKillLeader {
			kills++
		}
	}
	if kills < 20 {
		t.Fatalf("long plan has %d leader SIGKILLs, want at least 20", kills)
	}
	only := short
	only.kinds = []faultKind{faultPartition}
	for _, f := range planFaults(only) {
		if f.kind != faultPartition || f.lasts <= 0 {
			t.Fatalf("-chaos.kinds=partition-agent planned %v", f)
		}
	}
}

func TestParseKinds(t *testing.T) {
	if k, err := parseKinds("", false, false); err != nil || len(k) != len(faultKinds) || hasKind(k, faultKillExecutor) || hasKind(k, faultZKLeader) {
		t.Fatalf("default kinds %v, %v", k, err)
	}
	if k, err := parseKinds("", true, false); err != nil || len(k) != len(faultKinds)+1 || !hasKind(k, faultKillExecutor) {
		t.Fatalf("default kinds with executors %v, %v", k, err)
	}
	if k, err := parseKinds("", false, true); err != nil || len(k) != len(faultKinds)+1 || !hasKind(k, faultZKLeader) {
		t.Fatalf("default kinds with ZooKeeper %v, %v", k, err)
	}
	if k, err := parseKinds("master-down, partition-agent,master-down", false, false); err != nil || len(k) != 2 {
		t.Fatalf("kinds %v, %v", k, err)
	}
	if _, err := parseKinds("meteor", false, false); err == nil || !strings.Contains(err.Error(), "meteor") {
		t.Fatalf("an unknown kind: %v", err)
	}
	if _, err := parseKinds("kill-executor", false, true); err == nil || !strings.Contains(err.Error(), "-chaos.exec") {
		t.Fatalf("kill-executor without executors: %v", err)
	}
	if _, err := parseKinds("zk-leader-change", true, false); err == nil || !strings.Contains(err.Error(), "-chaos.zk") {
		t.Fatalf("zk-leader-change without ZooKeeper: %v", err)
	}
}

func TestPlanLoad(t *testing.T) {
	p := profile{seed: 3, pods: 100, agents: 8}
	a, b := planLoad(p, true, time.Minute), planLoad(p, true, time.Minute)
	if len(a) != len(b) {
		t.Fatalf("%d then %d actions for the same seed", len(a), len(b))
	}
	counts := map[loadKind]int{}
	pods := 0
	for i, x := range a {
		if x != b[i] {
			t.Fatalf("action %d: %+v then %+v", i, x, b[i])
		}
		counts[x.kind]++
		switch x.kind {
		case createPod:
			pods++
		case createDeployment, createJob:
			pods += x.replicas
		}
	}
	if pods < 90 || pods > 110 || counts[deletePod] == 0 || counts[createDeployment] < 2 || counts[createJob] == 0 {
		t.Fatalf("load %v for %d pods", counts, pods)
	}
	// Some pods deleted at once are made again under their name, after their delete.
	again := 0
	for seed := range int64(3) {
		deleted := map[string]loadAction{}
		for _, x := range planLoad(profile{seed: seed + 1, pods: 100, agents: 8}, true, time.Minute) {
			switch {
			case x.kind == deletePod:
				deleted[x.name] = x
			case x.kind == createPod && x.again:
				again++
				if d, ok := deleted[x.name]; !ok || d.grace != 0 || x.at <= d.at {
					t.Fatalf("%s made again at %s, after %+v", x.name, x.at, d)
				}
			}
		}
	}
	if again == 0 {
		t.Fatalf("no pod made again under its name: %v", counts)
	}
	for _, x := range planLoad(p, false, time.Minute) {
		if x.kind != createPod && x.kind != deletePod {
			t.Fatalf("without kube-controller-manager: %+v", x)
		}
	}
}

func status(state mesos.TaskState, uuid []byte) mesos.TaskStatus {
	return mesos.TaskStatus{TaskID: mesos.TaskID{Value: "k8sm.u1"}, State: state.Enum(), UUID: uuid}
}

func TestReflects(t *testing.T) {
	u1, u2 := []byte("0123456789abcdef"), []byte("fedcba9876543210")
	const hex1 = "30313233343536373839616263646566"
	for _, tc := range []struct {
		name string
		st   mesosv1alpha1.MesosTaskStatus
		ts   mesos.TaskStatus
		want bool
	}{
		{"nothing written", mesosv1alpha1.MesosTaskStatus{}, status(mesos.TASK_RUNNING, u1), false},
		{"only the launch written", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStaging}, status(mesos.TASK_RUNNING, u1), false},
		{"an earlier update written", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, MesosState: "TASK_RUNNING", LastUpdateUUID: hex1}, status(mesos.TASK_KILLED, u2), false},
		{"the update itself", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, MesosState: "TASK_RUNNING", LastUpdateUUID: hex1}, status(mesos.TASK_RUNNING, u1), true},
		{"its state, from a reconciliation", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, MesosState: "TASK_RUNNING"}, status(mesos.TASK_RUNNING, u2), true},
		{"an older launch state sent again", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseKilling, MesosState: "TASK_KILLING"}, status(mesos.TASK_RUNNING, u2), true},
		{"the task ended", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseKilled, MesosState: "TASK_KILLED"}, status(mesos.TASK_RUNNING, u2), true},
		{"unreachable is not running", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseUnreachable, MesosState: "TASK_UNREACHABLE"}, status(mesos.TASK_RUNNING, u2), false},
		{"a launch Mesos never ran, back to Pending", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhasePending}, status(mesos.TASK_GONE, u1), true},
		{"a launch Mesos never ran, not written", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStaging}, status(mesos.TASK_GONE, u1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := reflects(tc.st, tc.ts); got != tc.want {
				t.Fatalf("reflects = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTruthfulEnd(t *testing.T) {
	killed := []sentUpdate{{state: mesos.TASK_RUNNING}, {state: mesos.TASK_KILLED}}
	failed := []sentUpdate{{state: mesos.TASK_RUNNING}, {state: mesos.TASK_FAILED, reason: "REASON_EXECUTOR_TERMINATED"}}
	for _, tc := range []struct {
		name   string
		phase  corev1.PodPhase
		reason string
		sent   []sentUpdate
		want   bool
	}{
		{"succeeded after FINISHED", corev1.PodSucceeded, "", []sentUpdate{{state: mesos.TASK_FINISHED}}, true},
		{"succeeded without FINISHED", corev1.PodSucceeded, "", killed, false},
		{"failed without a reason", corev1.PodFailed, "", killed, false},
		{"failed with Mesos's reason", corev1.PodFailed, "REASON_EXECUTOR_TERMINATED", failed, true},
		{"failed with another reason", corev1.PodFailed, "REASON_TASK_KILLED_DURING_LAUNCH", failed, false},
		{"NodeLost after unreachable", corev1.PodFailed, "NodeLost", []sentUpdate{{state: mesos.TASK_UNREACHABLE}}, true},
		{"NodeLost while running", corev1.PodFailed, "NodeLost", killed, false},
		{"its Node deleted after its launch was dropped", corev1.PodFailed, "NodeLost", []sentUpdate{{state: mesos.TASK_DROPPED}}, true},
		{"its Node deleted before any launch", corev1.PodFailed, "NodeLost", nil, true},
		{"its Node deleted though it ran", corev1.PodFailed, "NodeLost", []sentUpdate{{state: mesos.TASK_RUNNING}, {state: mesos.TASK_DROPPED}}, false},
		{"gone", corev1.PodFailed, "MesosTaskGone", []sentUpdate{{state: mesos.TASK_GONE}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{NodeName: "mesos-chaos-agent-1"}, Status: corev1.PodStatus{Phase: tc.phase, Reason: tc.reason}}
			if strings.HasPrefix(tc.name, "its Node deleted") {
				pod.Status.Message = podtask.NodeDeletedMessage(pod.Spec.NodeName)
			}
			if got := truthfulEnd(pod, tc.sent); got != tc.want {
				t.Fatalf("truthfulEnd = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLostWhy(t *testing.T) {
	created := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	pt := &podTrack{namespace: "chaos", name: "p", uid: "u1", created: created}
	byTest := map[string][]podDelete{"chaos/p": {{user: userLoad, at: created.Add(time.Second)}, {user: userManager, at: created.Add(2 * time.Second)}}}
	byManager := map[string][]podDelete{"chaos/p": {{user: userManager, at: created.Add(time.Second)}}}
	earlier := map[string][]podDelete{"chaos/p": {{user: userLoad, at: created.Add(-time.Minute)}}}
	if why := lostWhy(pt, false, byTest, nil); why != "" {
		t.Fatalf("deleted by the test, removed by the manager: %s", why)
	}
	if why := lostWhy(pt, false, byManager, nil); !strings.Contains(why, "removed by the manager") {
		t.Fatalf("removed by the manager alone: %q", why)
	}
	if why := lostWhy(pt, false, earlier, nil); !strings.Contains(why, "vanished") {
		t.Fatalf("only an earlier pod of the name was deleted: %q", why)
	}
	if why := lostWhy(pt, true, nil, nil); why != "" {
		t.Fatalf("a pod still there: %q", why)
	}
	pt.ended = &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed}}
	if why := lostWhy(pt, true, nil, []sentUpdate{{state: mesos.TASK_KILLED}}); !strings.Contains(why, "ended Failed") {
		t.Fatalf("failed without a reason: %q", why)
	}
	pt.ended.DeletionTimestamp = &metav1.Time{Time: created}
	if why := lostWhy(pt, true, nil, []sentUpdate{{state: mesos.TASK_KILLED}}); why != "" {
		t.Fatalf("failed after its deletion was asked: %q", why)
	}
}

func task(id, state, uid string) mesossim.TaskState {
	v := uid
	return mesossim.TaskState{ID: id, State: state, AgentID: "a1", Labels: []mesos.Label{{Key: labelPodUID, Value: &v}}}
}

func TestSnapshotChecks(t *testing.T) {
	now := metav1.Now()
	readyCond := []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	s := snapshot{
		pods: []corev1.Pod{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: "running", UID: "u1"}, Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: readyCond}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: "pending", UID: "u2"}, Status: corev1.PodStatus{Phase: corev1.PodPending}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: "terminating", UID: "u3", DeletionTimestamp: &now}, Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: readyCond}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: "failed", UID: "u4"}, Status: corev1.PodStatus{Phase: corev1.PodFailed}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: "unready", UID: "u5"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: "taskless", UID: "u6"}, Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: readyCond}},
			// Bound to removed agents' Nodes, deleted: the garbage collector's once the
			// Node is gone, the cluster's while it is there.
			{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: "pinned-gone", UID: "u10", DeletionTimestamp: &now}, Spec: corev1.PodSpec{NodeName: "gone"},
				Status: corev1.PodStatus{Phase: corev1.PodPending}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: "pinned-there", UID: "u11", DeletionTimestamp: &now}, Spec: corev1.PodSpec{NodeName: "there"},
				Status: corev1.PodStatus{Phase: corev1.PodPending}},
		},
		removedNodes: map[string]bool{"gone": true, "there": true},
		nodes:        map[string]bool{"there": true},
		tasks:        []mesosv1alpha1.MesosTask{{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: "left"}, Spec: mesosv1alpha1.MesosTaskSpec{PodUID: "u9"}}},
		sim: mesossim.State{
			Agents: []mesossim.AgentState{{Active: true, Free: map[string]float64{"cpus": 4, "mem": 4096}}},
			Frameworks: []mesossim.FrameworkState{{ID: "f1", Tasks: []mesossim.TaskState{
				task("k8sm.u1", "TASK_RUNNING", "u1"), task("k8sm.u3", "TASK_RUNNING", "u3"), task("k8sm.u4", "TASK_RUNNING", "u4"),
				task("k8sm.u5", "TASK_UNREACHABLE", "u5"), task("k8sm.u7", "TASK_RUNNING", "u7"), task("k8sm.u8", "TASK_KILLED", "u8"),
			}}},
		},
	}
	stuck := strings.Join(s.stuck(), "\n")
	for _, want := range []string{"pod chaos/pending Pending", "pod chaos/terminating Terminating", "pod chaos/unready Running but not Ready", "MesosTask chaos/left left without its pod",
		"pod chaos/pinned-there Terminating"} {
		if !strings.Contains(stuck, want) {
			t.Errorf("stuck does not name %q:\n%s", want, stuck)
		}
	}
	if n := len(s.stuck()); n != 5 {
		t.Errorf("%d stuck, want 5:\n%s", n, stuck)
	}
	orphaned := s.orphaned()
	if len(orphaned) != 2 || !strings.Contains(orphaned[0], "k8sm.u4") || !strings.Contains(orphaned[1], "k8sm.u7") {
		t.Errorf("orphaned %v, want the task of the failed pod and the one of no pod", orphaned)
	}
	if lost := s.runningWithoutTask(); len(lost) != 1 || !strings.Contains(lost[0], "chaos/taskless") {
		t.Errorf("running without a task: %v", lost)
	}
	s.sim.Agents[0].Free["cpus"] = 0.1
	if stuck := strings.Join(s.stuck(), "\n"); strings.Contains(stuck, "pod chaos/pending Pending") {
		t.Errorf("a pod Pending while no agent has room is not stuck:\n%s", stuck)
	}
	// A Running pod without its MesosTask in the API server, but with the MesosTasks in
	// the managers' memory: there are none there to find.
	if norecord := s.runningWithoutRecord(); len(norecord) != 3 {
		t.Errorf("running without a record: %v, want the three Running, not deleted pods", norecord)
	}
	s.tasksInMemory = true
	if norecord := s.runningWithoutRecord(); len(norecord) != 0 {
		t.Errorf("with the MesosTasks in memory, running without a record: %v", norecord)
	}
}

func TestRecorderSeesLaunchesTwice(t *testing.T) {
	r := newRecorder(nil)
	labels := &mesos.Labels{Labels: []mesos.Label{{Key: labelPodNamespace, Value: ptr("chaos")}, {Key: labelPodName, Value: ptr("p")}, {Key: labelPodUID, Value: ptr("u1")}}}
	ti := mesos.TaskInfo{TaskID: mesos.TaskID{Value: "k8sm.u1"}, Labels: labels}
	r.onLaunch(mesossim.ObservedLaunch{FrameworkID: "f1", AgentID: "a1", Task: ti})
	if len(r.twice) != 0 {
		t.Fatalf("a first launch: %v", r.twice)
	}
	r.onLaunch(mesossim.ObservedLaunch{FrameworkID: "f1", AgentID: "a2", Task: ti, Live: []mesossim.LiveTask{{FrameworkID: "f1", AgentID: "a1", State: mesos.TASK_UNREACHABLE}}})
	if why := r.twice["task k8sm.u1"]; !strings.Contains(why, "launch #2") || !strings.Contains(why, "TASK_UNREACHABLE on a1") || !strings.Contains(why, "chaos/p") {
		t.Fatalf("a launch while live: %q", why)
	}

	r = newRecorder(nil)
	r.checkLive(mesossim.State{Frameworks: []mesossim.FrameworkState{
		{ID: "f1", Tasks: []mesossim.TaskState{task("k8sm.u1", "TASK_RUNNING", "u1"), task("k8sm.u2", "TASK_RUNNING", "u2")}},
		{ID: "f2", Tasks: []mesossim.TaskState{task("k8sm.u1", "TASK_STAGING", "u1"), task("k8sm.u2", "TASK_KILLED", "u2")}},
	}})
	if len(r.twice) != 1 || !strings.Contains(r.twice["pod "+string(types.UID("u1"))], "2 live tasks") {
		t.Fatalf("two live tasks for one pod: %v", r.twice)
	}

	// A pod made again under its name whose earlier task is live: two pods' tasks under
	// one name, unless Mesos reported the earlier one unreachable.
	named := func(id, state, name, uid string) mesossim.TaskState {
		t := task(id, state, uid)
		t.Labels = append(t.Labels, mesos.Label{Key: labelPodNamespace, Value: ptr("chaos")}, mesos.Label{Key: labelPodName, Value: ptr(name)})
		return t
	}
	state := mesossim.State{Frameworks: []mesossim.FrameworkState{{ID: "f1", Tasks: []mesossim.TaskState{
		named("k8sm.u1", "TASK_KILLING", "web-0", "u1"), named("k8sm.u2", "TASK_STAGING", "web-0", "u2"),
		named("k8sm.u3", "TASK_RUNNING", "web-1", "u3"), named("k8sm.u4", "TASK_KILLED", "web-1", "u4")}}}}
	r = newRecorder(nil)
	r.checkLive(state)
	if len(r.twice) != 1 || !strings.Contains(r.twice["name chaos/web-0"], "live tasks of 2 pods") {
		t.Fatalf("two pods' live tasks under one name: %v", r.twice)
	}
	r = newRecorder(nil)
	r.onUpdate("f1", mesos.TaskStatus{TaskID: mesos.TaskID{Value: "k8sm.u1"}, State: mesos.TASK_UNREACHABLE.Enum()})
	r.checkLive(state)
	if len(r.twice) != 0 {
		t.Fatalf("the earlier task reported unreachable: %v", r.twice)
	}
}

func TestReadPodDeletes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	lines := []string{
		`{"stage":"ResponseComplete","verb":"delete","user":{"username":"k8sm-manager"},"objectRef":{"resource":"pods","namespace":"chaos","name":"p"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-01-01T10:00:02.000001Z"}`,
		`{"stage":"ResponseComplete","verb":"delete","user":{"username":"chaos-load"},"objectRef":{"resource":"pods","namespace":"chaos","name":"p"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-01-01T10:00:01.5Z"}`,
		`{"stage":"ResponseComplete","verb":"delete","user":{"username":"chaos-load"},"objectRef":{"resource":"pods","namespace":"chaos","name":"q"},"responseStatus":{"code":404},"requestReceivedTimestamp":"2026-01-01T10:00:01Z"}`,
		`not json`,
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deletes, err := readPodDeletes(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(deletes["chaos/q"]) != 0 {
		t.Fatalf("a refused delete counted: %v", deletes["chaos/q"])
	}
	d := firstDelete(deletes, "chaos", "p", time.Date(2026, 1, 1, 10, 0, 1, 0, time.UTC))
	if d == nil || d.user != userLoad {
		t.Fatalf("first delete of chaos/p: %+v, want the test's", d)
	}
}

func TestWrongExecutor(t *testing.T) {
	run := func(id, executor string) mesossim.TaskState {
		ts := task(id, "TASK_RUNNING", "u")
		ts.ExecutorID = executor
		return ts
	}
	mt := func(name, taskID, spec, status string) mesosv1alpha1.MesosTask {
		return mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: name},
			Spec: mesosv1alpha1.MesosTaskSpec{TaskID: taskID, ExecutorID: spec}, Status: mesosv1alpha1.MesosTaskStatus{ExecutorID: status}}
	}
	s := snapshot{
		tasks: []mesosv1alpha1.MesosTask{
			mt("right", "k8sm.1", "e-old", "e-old"),
			mt("not-reported", "k8sm.2", "e-new", ""),
			mt("made-before-an-upgrade", "k8sm.3", "e-new", "e-old"),
			mt("status-wrong", "k8sm.4", "e-old", "e-new"),
			mt("ended", "k8sm.5", "e-new", "e-new"),
		},
		sim: mesossim.State{Frameworks: []mesossim.FrameworkState{{ID: "f1", Tasks: []mesossim.TaskState{
			run("k8sm.1", "e-old"), run("k8sm.2", "e-new"), run("k8sm.3", "e-old"), run("k8sm.4", "e-old"),
			{ID: "k8sm.5", State: "TASK_FINISHED", ExecutorID: "e-old"},
		}}}},
	}
	got := s.wrongExecutor()
	if len(got) != 1 || !strings.Contains(got[0], "chaos/status-wrong: status.executorID e-new") {
		t.Errorf("wrong executors %q, want status-wrong's status alone", got)
	}
}

func TestPlanTeardown(t *testing.T) {
	p := profile{seed: 3, agents: 8, kinds: faultKinds}
	plan := planTeardown(p)
	if len(plan) != teardownFaults {
		t.Fatalf("%d faults while the cluster is deleted, want %d", len(plan), teardownFaults)
	}
	for _, f := range plan {
		if !hasKind(teardownKinds, f.kind) {
			t.Errorf("fault %s while the cluster is deleted: not a teardown kind", f)
		}
	}
	if again := planTeardown(p); fmt.Sprint(again) != fmt.Sprint(plan) {
		t.Errorf("the same profile planned %v, then %v", plan, again)
	}
	if plan := planTeardown(profile{seed: 3, agents: 8, kinds: []faultKind{faultRestartAgent}}); plan != nil {
		t.Errorf("no teardown kind among the profile's, yet planned %v", plan)
	}
}

func TestLeftInMesos(t *testing.T) {
	left := leftInMesos(mesossim.State{Frameworks: []mesossim.FrameworkState{
		{ID: "torn-down", Removed: true, Tasks: []mesossim.TaskState{{ID: "k8sm.1", State: "TASK_KILLED"}}},
		{ID: "second", Connected: true, Tasks: []mesossim.TaskState{{ID: "k8sm.2", State: "TASK_RUNNING"}, {ID: "k8sm.3", State: "TASK_FINISHED"}}},
	}})
	if len(left) != 1 || !strings.Contains(left[0], "framework second not torn down") || !strings.Contains(left[0], "1 live tasks k8sm.2") {
		t.Errorf("left in Mesos %q, want the framework not torn down and its live task", left)
	}
}

// After the teardown, a deleted pod is left Terminating by the cluster unless it was bound
// at creation to a removed agent's Node and never ran: the pod garbage collector's.
func TestLeftTerminating(t *testing.T) {
	now := metav1.Now()
	for _, tc := range []struct {
		name    string
		node    string
		deleted bool
		phase   corev1.PodPhase
		want    bool
	}{
		{"not deleted", "there", false, corev1.PodRunning, false},
		{"deleted, running", "there", true, corev1.PodRunning, true},
		{"deleted, pending on a live agent's Node", "there", true, corev1.PodPending, true},
		{"deleted, pending on a removed agent's Node", "gone", true, corev1.PodPending, false},
		{"deleted, ran on a removed agent's Node", "gone", true, corev1.PodRunning, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{Spec: corev1.PodSpec{NodeName: tc.node}, Status: corev1.PodStatus{Phase: tc.phase}}
			if tc.deleted {
				p.DeletionTimestamp = &now
			}
			if got := leftTerminating(p, map[string]bool{"gone": true}); got != tc.want {
				t.Errorf("leftTerminating = %v, want %v", got, tc.want)
			}
		})
	}
}
