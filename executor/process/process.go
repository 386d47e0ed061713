// Package process is the executor runtime that runs each container's command as a child
// process in the sandbox: env (values and the downward API fields a pod can use
// offline), workingDir, restartPolicy with kubelet-like backoff, logs in the CRI format (logs.go),
// SIGTERM then SIGKILL to whole process groups, after the preStop hook (hooks.go).
// Init containers run first, in order, native sidecars beside the main containers
// (sidecars.go), which start in order, each once the one before ran its postStart hook;
// startup, readiness and liveness probes (probes.go, probehttp.go).
// No container process outlives the executor (orphans.go). Each runs as the user its
// securityContext names, held to it (security.go), and in cgroups that hold it to its
// resource limits where the agent allows, the pod told where not (limits.go).
package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/go-logr/logr"

	"github.com/k8sm/k8sm/executor"
	"github.com/k8sm/k8sm/executor/process/cgroup"
)

// Runtime runs pods as processes.
type Runtime struct {
	// BackoffBase and BackoffMax bound the wait before a container restarts, doubling
	// like the kubelet's (10s to 5m by default); BackoffReset is how long after its last
	// restart a container must exit for its back-off to start over (10m by default).
	// restartDelay says how they are used.
	BackoffBase, BackoffMax, BackoffReset time.Duration
	// HostIP is reported as status.hostIP and status.podIP (processes share the host network).
	HostIP string
	// NodeName is spec.nodeName for the downward API when the pod has none.
	NodeName string
	// Sandbox is the executor run's sandbox (executor.RunDir). With it, each running
	// container is recorded there, a watchdog kills the containers of an executor that
	// dies (when the program called Init), and Sweep can stop those of ended runs.
	Sandbox string
	// PodPidsLimit bounds the tasks (threads included) of each pod's cgroup, as the
	// kubelet's podPidsLimit does; 0 sets no bound, as the kubelet's default (-1).
	PodPidsLimit int64
	// Log receives the runtime's log lines.
	Log logr.Logger

	// self, when set, stands for the executor's identity (tests).
	self *identity
	// detect, when set, stands for cgroup.Detect (tests); cg is what it found.
	detect func() (*cgroup.Manager, error)
	cg     cgroupsOf

	watchdogOnce sync.Once
	keepAlive    *os.File // the write end of the watchdog's pipe
	aclWarning   sync.Once

	registry // its pods, for the kubelet API (provider.go)
}

// Supports: emptyDir volumes only (directories in the sandbox).
func (r *Runtime) Supports(v *corev1.Volume) bool { return v.EmptyDir != nil }

// container is one supervised container.
type container struct {
	spec   corev1.Container
	sec    resolved
	status corev1.ContainerStatus
	cmd    *exec.Cmd
	done   chan struct{}
	// exited is closed once its running instance's process is gone (done, once it is
	// reported so); startedAt is when it started; stopWhy, when set, says why it was
	// stopped (a failed probe or postStart hook); preStopped says its preStop hook ran;
	// probeStopped says its liveness or startup probe stopped it (restarts).
	exited       chan struct{}
	startedAt    metav1.Time
	stopWhy      string
	preStopped   bool
	probeStopped bool
	// firstStarted is closed once it is first Started (a sidecar's next init container
	// may start then).
	firstStarted chan struct{}
	startedOnce  sync.Once
	// launched is closed once its first start is over (launchOver): the next main
	// container may start then.
	launched     chan struct{}
	launchedOnce sync.Once
	// backoff is its restart back-off (restartDelay).
	backoff backoff
	// log is the log of its latest instance; launch and cg are its running
	// instance's (exec runs as it, stats read it).
	log    *containerLog
	launch *launch
	cg     *ctrCgroup
}

type pod struct {
	rt      *Runtime
	pod     *corev1.Pod
	sandbox string
	report  func(executor.Report)
	limits  *podLimits

	mu     sync.Mutex
	inits  []*container
	mains  []*container
	killed bool
	kill   chan struct{}
	// killBy is when a killed pod's containers get SIGKILL: the earliest deadline of its
	// kills (a later kill may shorten the grace period, never lengthen it); shortened is
	// closed, and made again, whenever it comes earlier. firstKill is when the first
	// Kill came, from which every Kill's grace counts.
	killBy    time.Time
	shortened chan struct{}
	firstKill time.Time
	// deadline stops the pod at its activeDeadlineSeconds; exceeded says it did
	// (deadline.go).
	deadline *time.Timer
	exceeded bool
	// stopping is closed once the sidecars are stopped (sidecars.go); initialized says
	// the init containers completed and the sidecars started.
	stopping    chan struct{}
	initialized bool
	started     metav1.Time
	ended       bool
	// final is the status its end was reported with.
	final *corev1.PodStatus
	// queued are the reports not delivered yet, oldest first; delivering says a
	// goroutine is delivering them (status.go).
	queued     []executor.Report
	delivering bool
}

// CheckPod says, naming the field, what of a pod the runtime cannot run, before anything
// of it starts: a container without a command, a terminal off Linux, a gRPC probe, a
// container's own restart policy or rules (checkRestartPolicies), env that needs
// ConfigMaps, Secrets or resource fields. Its volumes are DecodePod's
// (Supports). nil means none. The manager refuses such pods before it queues them
// (podtask.CheckRuntime), and must refuse the same.
func CheckPod(p *corev1.Pod) error {
	for i, c := range p.Spec.InitContainers {
		if len(c.Command) == 0 && len(c.Args) == 0 {
			return fmt.Errorf("spec.initContainers[%d].command: the process runtime runs commands, and %s has none", i, c.Name)
		}
	}
	for i, c := range p.Spec.Containers {
		if len(c.Command) == 0 && len(c.Args) == 0 {
			return fmt.Errorf("spec.containers[%d].command: the process runtime runs commands, and %s has none", i, c.Name)
		}
	}
	if err := checkTTY(p); err != nil {
		return err
	}
	if err := checkProbes(p); err != nil {
		return err
	}
	if err := checkRestartPolicies(p); err != nil {
		return err
	}
	var r Runtime // env's values are not looked at, only whether it can make them
	for i := range p.Spec.InitContainers {
		if _, err := r.env(p, &p.Spec.InitContainers[i]); err != nil {
			return fmt.Errorf("spec.initContainers[%d].env: %w", i, err)
		}
	}
	for i := range p.Spec.Containers {
		if _, err := r.env(p, &p.Spec.Containers[i]); err != nil {
			return fmt.Errorf("spec.containers[%d].env: %w", i, err)
		}
	}
	return nil
}

// Start runs the pod in the background.
func (r *Runtime) Start(p *corev1.Pod, sandbox string, report func(executor.Report)) (executor.Handle, error) {
	if err := CheckPod(p); err != nil {
		return nil, err
	}
	self := currentIdentity()
	if r.self != nil {
		self = *r.self
	}
	inits, mains, err := resolvePod(p, self)
	if err != nil {
		return nil, err
	}
	memory := memTotal()
	for i := range inits {
		inits[i].OOMScoreAdj = oomScoreAdj(p, &p.Spec.InitContainers[i], memory)
	}
	for i := range mains {
		mains[i].OOMScoreAdj = oomScoreAdj(p, &p.Spec.Containers[i], memory)
	}
	switch closed, err := closePodDir(sandbox, podUsers(inits, mains)); {
	case err != nil:
		return nil, fmt.Errorf("closing the pod's directory to other users: %w", err)
	case !closed:
		r.aclWarning.Do(func() {
			r.Log.Info("Warning: the sandbox's filesystem takes no POSIX ACLs: pods running as other users can reach each other's directories",
				"sandbox", sandbox)
		})
	}
	for i, v := range p.Spec.Volumes {
		if err := makeVolume(filepath.Join(sandbox, "volumes", v.Name), fsGroup(p)); err != nil {
			return nil, fmt.Errorf("spec.volumes[%d] (%s): %w", i, v.Name, err)
		}
	}
	pd := &pod{rt: r, pod: p, sandbox: sandbox, report: report, kill: make(chan struct{}), stopping: make(chan struct{}), initialized: len(p.Spec.InitContainers) == 0, started: metav1.Now(), limits: r.limitsFor(p)}
	for i, c := range p.Spec.InitContainers {
		pd.inits = append(pd.inits, &container{spec: c, sec: inits[i], status: waiting(c, "PodInitializing"), firstStarted: make(chan struct{})})
	}
	for i, c := range p.Spec.Containers {
		pd.mains = append(pd.mains, &container{spec: c, sec: mains[i], status: waiting(c, "ContainerCreating"), firstStarted: make(chan struct{}), launched: make(chan struct{})})
	}
	r.ensureWatchdog()
	r.register(pd)
	pd.mu.Lock()
	pd.enforceDeadline()
	pd.mu.Unlock()
	go pd.run()
	return pd, nil
}

func fsGroup(p *corev1.Pod) *int64 {
	if p.Spec.SecurityContext == nil {
		return nil
	}
	return p.Spec.SecurityContext.FSGroup
}

func waiting(c corev1.Container, reason string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: c.Name, Image: c.Image, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
}

// run supervises the pod to its end.
func (p *pod) run() {
	p.makePodCgroup()
	p.send("")
	sidecars, ok := p.runInits()
	if !ok {
		return
	}
	p.mu.Lock()
	p.initialized = true
	p.mu.Unlock()
	// The main containers start in order, each once the one before it is launched (its
	// postStart hook over: launchOver), as the kubelet's SyncPod starts them; none
	// after a kill.
	var wg sync.WaitGroup
	for _, c := range p.mains {
		if p.isKilled() {
			break
		}
		wg.Add(1)
		go func(c *container) {
			defer wg.Done()
			p.supervise(c)
		}(c)
		select {
		case <-c.launched:
		case <-p.kill:
		}
	}
	wg.Wait()
	grace := p.grace(nil)
	if p.isKilled() {
		grace = 0 // Kill stops them
	}
	p.stopSidecars(sidecars, grace)
	p.finish()
}

// supervise runs a container, restarting it as its pod's restartPolicy says (restarts).
func (p *pod) supervise(c *container) {
	for {
		code, _ := p.runOnce(c)
		if p.isKilled() || !p.restarts(c, code) {
			return
		}
		if !p.wait(c) {
			return
		}
	}
}

// restarts says whether the pod's restartPolicy has a main container that ended with
// code restarted: always under Always, never under Never, under OnFailure when it
// failed, or when its liveness or startup probe stopped it, whatever its exit code (one
// that ends well on SIGTERM too), as the kubelet restarts a container it kills for a
// probe unless the policy is Never (computePodActions).
func (p *pod) restarts(c *container, code int32) bool {
	switch p.pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		p.mu.Lock()
		defer p.mu.Unlock()
		return code != 0 || c.probeStopped
	}
	return true
}

// launchOver says that the container's first start is over: it runs, its postStart
// hook completed (or failed, and it was stopped), or it could not start. The kubelet
// starts the next container then (startContainer runs the hook before it returns).
func (c *container) launchOver() {
	if c.launched != nil {
		c.launchedOnce.Do(func() { close(c.launched) })
	}
}

// runOnce runs a container's process to its end and returns its exit code; its start
// is over (launchOver) before it waits for that.
func (p *pod) runOnce(c *container) (int32, error) {
	defer c.launchOver()
	if c.sec.err != nil {
		c.launchOver()
		return p.configError(c)
	}
	cookie := newCookie()
	l, err := p.command(c, cookie)
	if err != nil {
		return p.startError(c, err), err
	}
	out, err := p.openLog(c)
	if err != nil {
		return p.startError(c, err), err
	}
	defer out.finish() // when it did not start
	cc := p.containerCgroup(c)
	l.Cgroup = cc.procsFiles()
	cmd, code, forget, err := p.start(c, l, out, cc, cookie)
	if err != nil {
		p.endCgroup(cc, code)
		return code, err
	}
	p.mu.Lock()
	in := c.current()
	p.mu.Unlock()
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(in.exited)
	}()
	stopProbes := func() {}
	if p.postStart(in) {
		stopProbes = p.probe(in)
	}
	c.launchOver()
	<-in.exited
	stopProbes()
	// Reap what the container left behind in its process group, then in its cgroup, or
	// without one, by its cookie (what left its process group: a daemon).
	signal(cmd, syscall.SIGKILL)
	code = exitCode(waitErr)
	oomKilled := p.endCgroup(cc, code)
	if cc == nil {
		killByCookie(cookie)
	}
	forget()
	out.finish()
	p.terminated(c, code, oomKilled)
	return code, nil
}

// configError reports a container whose settings cannot be made Waiting with
// CreateContainerConfigError, as the kubelet does; it stays so until the pod is killed
// (nothing that could change them changes), and runOnce returns then.
func (p *pod) configError(c *container) (int32, error) {
	p.mu.Lock()
	c.status.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: c.sec.err.Error()}}
	p.mu.Unlock()
	p.send("")
	select {
	case <-p.kill:
	case <-p.stopping: // a sidecar, once the pod stops them
	}
	return -1, c.sec.err
}

// command makes the container's launch: argv with $(VAR) expanded, its environment
// with the cookie (EnvCookie), its settings, its rootfs (owned by its user) and
// workingDir.
func (p *pod) command(c *container, cookie string) (*launch, error) {
	containers := filepath.Join(p.sandbox, "containers")
	dir := filepath.Join(containers, c.spec.Name)
	if err := mkdirs(0o755, containers, dir); err != nil {
		return nil, err
	}
	rootfs, err := makeRootFS(dir, c.sec.settings)
	if err != nil {
		return nil, err
	}
	env, err := p.rt.env(p.pod, &c.spec)
	if err != nil {
		return nil, fmt.Errorf("env: %w", err)
	}
	argv := append(append([]string{}, c.spec.Command...), c.spec.Args...)
	for i := range argv {
		argv[i] = expand(argv[i], env)
	}
	return &launch{Settings: c.sec.settings, Argv: argv, Env: setEnv(env, EnvCookie, cookie), RootFS: rootfs,
		WorkingDir: c.spec.WorkingDir, Parent: os.Getpid()}, nil
}

// start starts the process (to die with the executor: startProcess) in a process group
// of its own in the executor's session, so a kill reaches what it starts, and so does
// the agent's destroy of the executor's container (a container with a terminal leads a
// session of its own, which its terminal needs to be its controlling one: its process
// group still is its pid, and it still is the executor's child, held by the same
// parent-death signal, records and cgroup); it records it (forget removes the
// record) and reports the container Running (after its postStart hook where it has
// one: postStart). It does so under the pod's lock, so a Kill either sees the process
// or stops it from starting. A process that cannot start is a StartError (exit code
// 128), as the kubelet reports it, with the reason.
func (p *pod) start(c *container, l *launch, out *containerLog, cc *ctrCgroup, cookie string) (cmd *exec.Cmd, code int32, forget func(), err error) {
	p.mu.Lock()
	if p.isKilled() || (isSidecar(&c.spec) && p.sidecarsStopping()) {
		p.mu.Unlock()
		return nil, -1, nil, errors.New("killed")
	}
	cmd, err = startLaunch(context.Background(), l, out.child, true)
	out.started()
	if err != nil {
		p.mu.Unlock()
		return nil, p.startError(c, err), nil, err
	}
	forget = p.rt.remember(p.pod.Namespace+"/"+p.pod.Name, c.spec.Name, cmd, cookie)
	c.cmd, c.done, c.exited, c.launch, c.cg = cmd, make(chan struct{}), make(chan struct{}), l, cc
	c.startedAt, c.stopWhy, c.preStopped, c.probeStopped = metav1.Now(), "", false, false
	c.status.User = l.Settings.user()
	if lifecycle(&c.spec).PostStart == nil {
		c.runningLocked()
	} else {
		c.status.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating", Message: "running its postStart hook"}}
	}
	c.status.ContainerID = fmt.Sprintf("process://%d", cmd.Process.Pid)
	p.mu.Unlock()
	p.send("")
	return cmd, 0, forget, nil
}

// startError reports a container that could not start Terminated with reason
// StartError and the cause, exit code 128, as the kubelet does, and returns that code.
func (p *pod) startError(c *container, err error) int32 {
	p.mu.Lock()
	now := metav1.Now()
	c.status.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: err.Error(), StartedAt: now, FinishedAt: now}}
	p.mu.Unlock()
	p.send("")
	return 128
}

// runningLocked makes the container's status Running: Started unless it has a startup
// probe (that has yet to succeed), Ready at once unless it has a startup or readiness
// probe.
func (c *container) runningLocked() {
	c.status.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: c.startedAt}}
	started := c.spec.StartupProbe == nil
	c.status.Started = &started
	if started {
		c.markStarted()
	}
	c.status.Ready = started && c.spec.ReadinessProbe == nil
}

// instance is one run of a container: its process, exited once that is gone, its launch.
type instance struct {
	c      *container
	cmd    *exec.Cmd
	exited chan struct{}
	l      *launch
}

// current is the container's running instance; under p.mu.
func (c *container) current() instance {
	return instance{c: c, cmd: c.cmd, exited: c.exited, l: c.launch}
}

// terminated reports the container Terminated with code: Completed for 0, OOMKilled
// after an OOM kill in its cgroup, else Error; with why it was stopped, if it was. Closing done tells Kill the process is
// gone.
func (p *pod) terminated(c *container, code int32, oomKilled bool) {
	p.mu.Lock()
	reason := "Completed"
	switch {
	case oomKilled:
		reason = ReasonOOMKilled
	case code != 0:
		reason = "Error"
	}
	started := false
	c.status.Started = &started
	c.status.Ready = false
	c.status.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: code, Reason: reason, Message: c.stopWhy, StartedAt: c.startedAt, FinishedAt: metav1.Now(), ContainerID: c.status.ContainerID}}
	close(c.done)
	p.mu.Unlock()
	p.send("")
}
