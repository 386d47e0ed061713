// Package mesossim is a Mesos master with simulated agents in one process, speaking the
// v1 scheduler HTTP API (protobuf and JSON, RecordIO streams) the way Mesos 1.x does on
// the paths k8sm uses. It stands in for Mesos in tests, benchmarks and the local
// default; it never stands in for Mesos in production.
package mesossim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/uuid"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// LabelFinishAfter on a task makes a simulated task finish after that duration (Go form).
const LabelFinishAfter = "mesos-sim.finish-after"

// Config shapes a simulated cluster.
type Config struct {
	// Agents is the number of agents, named agent-1 … agent-N.
	Agents int
	// AgentHostname, when set, is the hostname of every agent, as several Mesos agents
	// started on one host with the same --hostname (e.g. 127.0.0.1): each then has a
	// port of its own, 5051, 5052, … (AgentInfo.port, the offers' url), and is named in
	// the fault API and Go methods by hostname:port. Default: agent-1 … agent-N, each
	// on port 5051, as agents on hosts of their own.
	AgentHostname string
	// LoopbackIPs gives each agent an address of its own on loopback, 127.0.0.<i> for
	// agent-<i>, as agents on hosts of their own have one each: the offers' url.ip, its
	// pid, its containers' network_infos and, with Exec, the address its executor API is
	// served on (MESOS_AGENT_ENDPOINT). Services an executor offers on its agent's address
	// (the kubelet API) then do not collide on one port. Ignored with AgentHostname (the
	// agents share a host). Default: every agent is 127.0.0.1.
	LoopbackIPs bool
	// AgentResources in Mesos's --resources form. Default "cpus:4;mem:8192;disk:20000;ports:[31000-32000]".
	AgentResources string
	// AgentAttributes in Mesos's --attributes form, for every agent.
	AgentAttributes string
	// AgentZones, when set, gives the agents fault domains (Mesos's agent --domain):
	// agent-i is in zone AgentZones[(i-1) % len(AgentZones)] of AgentRegion, which the
	// master's domain (--domain) names too. Its offers and GET_AGENTS say so. Mesos
	// offers the agents of a region other than the master's only to REGION_AWARE
	// frameworks; the sim's agents are all in the master's region.
	AgentZones []string
	// AgentRegion is the region of AgentZones, the master's. Default "region-1".
	AgentRegion string
	// AgentRegions, when set with AgentZones, puts agent-i in region
	// AgentRegions[(i-1) % len(AgentRegions)] instead: an agent whose region is not the
	// master's is remote, and its resources are offered only to frameworks with the
	// REGION_AWARE capability (Mesos's allocator: isRemoteSlave).
	AgentRegions []string
	// HeartbeatInterval of scheduler streams. Default 15s.
	HeartbeatInterval time.Duration
	// AllocationInterval between offer rounds. Default 1s.
	AllocationInterval time.Duration
	// UpdateRetry is the first wait before an unacknowledged update is sent again; it
	// doubles up to 10 minutes. Default 10s.
	UpdateRetry time.Duration
	// TaskStartDelay is how long a simulated task takes from STAGING to RUNNING.
	TaskStartDelay time.Duration
	// TaskStopDelay is how long a simulated task takes to end after its first KILL, as a
	// container given a grace period does (TASK_KILLING at once, to a framework with
	// TASK_KILLING_STATE; TASK_KILLED then). Zero ends it at once.
	TaskStopDelay time.Duration
	// Exec makes agents start the executor named in each task's ExecutorInfo as a real
	// process, serving it the v1 executor API on the agent's own address, and run the
	// command of a task without an executor (a command task) as Mesos's command
	// executor does (command.go); without it tasks are simulated.
	Exec bool
	// WorkDir holds the executors' sandboxes. Default: a new temporary directory, which
	// Close removes.
	WorkDir string
	// OfferTimeout is how long an offer may stay unused before the master rescinds it
	// and its resources go back to the agent, as Mesos's --offer_timeout. Default 0:
	// offers are never rescinded for age.
	OfferTimeout time.Duration
	// ExecutorShutdownGracePeriod is how long an executor told to SHUTDOWN has to exit
	// before the agent kills it, unless its ExecutorInfo sets shutdown_grace_period (the
	// agent's --executor_shutdown_grace_period). Executors get it as
	// MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD. Default 5s.
	ExecutorShutdownGracePeriod time.Duration
	// ExecutorRegistrationTimeout is how long an agent waits for an executor it started
	// to subscribe before it destroys its container; its tasks then end TASK_FAILED,
	// REASON_EXECUTOR_REGISTRATION_TIMEOUT (the agent's --executor_registration_timeout).
	// Default 1m, as Mesos's.
	ExecutorRegistrationTimeout time.Duration
	// ExecutorReregistrationTimeout is how long a restarted agent waits for the
	// executors of checkpointing frameworks to subscribe again before it kills them (the
	// agent's --executor_reregistration_timeout); an agent that runs tasks of a
	// checkpointing framework registers with the master again only then, simulated
	// tasks or not. Executors get it as MESOS_SUBSCRIPTION_BACKOFF_MAX. Default 2s.
	ExecutorReregistrationTimeout time.Duration
	// ExecutorHeartbeatInterval is how often an agent sends each subscribed executor a
	// HEARTBEAT event, the first one an interval after it subscribed. Default 30m, as
	// Mesos's agent (DEFAULT_EXECUTOR_HEARTBEAT_INTERVAL, not a flag).
	ExecutorHeartbeatInterval time.Duration
	// RecoveryTimeout is how long an executor of a checkpointing framework waits for a
	// restarted agent before it gives up, given to it as MESOS_RECOVERY_TIMEOUT (the
	// agent's --recovery_timeout). Default 15m.
	RecoveryTimeout time.Duration
	// Credentials are the principals the master knows, with their secrets (Mesos's
	// --credentials; ParseCredentials reads its file). They are asked for only where
	// AuthenticateHTTPFrameworks or AuthenticateHTTPReadWrite says (auth.go).
	Credentials map[string]string
	// AuthenticateHTTPFrameworks makes the scheduler API take only requests with the
	// basic credentials of a principal of Credentials (else 401), and only calls of
	// frameworks whose FrameworkInfo.principal is that principal or, for SUBSCRIBE,
	// unset (else 400), as Mesos's --authenticate_http_frameworks with
	// --http_framework_authenticators=basic.
	AuthenticateHTTPFrameworks bool
	// AuthenticateHTTPReadWrite makes the operator API (POST /api/v1) take only requests
	// with such credentials, as Mesos's --authenticate_http_readwrite. The sim's own
	// endpoints (/state, /health, /faults) never ask.
	AuthenticateHTTPReadWrite bool
	// AuthenticateHTTPExecutors (with Exec) gives each executor a token in
	// MESOS_EXECUTOR_AUTHENTICATION_TOKEN, and makes the agents' executor APIs take only
	// calls that carry it as a bearer token (else 401), from the executor it names (else
	// 403), as Mesos's agent --authenticate_http_executors with its JWT authenticator
	// (execauth.go).
	AuthenticateHTTPExecutors bool
	// Log receives the sim's log lines.
	Log logr.Logger
	// Observer, if set, is told of launches, updates and acknowledgements (see Observer).
	Observer *Observer
}

// Master is the simulated master and its agents.
type Master struct {
	cfg Config
	id  string
	log logr.Logger
	// executorKey signs executor tokens (AuthenticateHTTPExecutors), as an agent's
	// --executor_secret_key.
	executorKey []byte

	mu         sync.Mutex
	frameworks map[string]*framework
	agents     []*agent
	agentByID  map[string]*agent
	offers     map[string]*offer
	nextOffer  int
	nextFW     int
	// roleChosen counts the allocations to each role since the master started or failed
	// over, the role sorter's tie-break (offers.go roleOrder).
	roleChosen map[string]int
	// maint is the maintenance schedule, the machines and the inverse offers (maintenance.go).
	maint *maintenanceState

	workDir string
	nextRun int

	// Faults on the way of agent status updates to frameworks.
	duplicateUpdates bool
	updateDelay      time.Duration
	// failAccepts ACCEPT calls are still to be answered 503 (see FailAccepts).
	failAccepts          int
	failAcceptsProcessed bool

	ln  net.Listener
	srv *http.Server
	// ip and hostname are what MasterInfo gives as the master's (address.go).
	ip       net.IP
	hostname string
	// down is set while the master is taken down (SetDown): its API answers nothing.
	down atomic.Bool
	stop chan struct{}
	// allocateSoon asks for an allocation before the next interval, as Mesos's
	// allocator runs one at once (generateOffers) when a framework subscribes or revives;
	// requests made before it runs are served by one.
	allocateSoon chan struct{}
	closed       sync.Once
	wg           sync.WaitGroup
}

type framework struct {
	id             string
	info           mesos.FrameworkInfo
	stream         *stream
	suppressed     bool
	filters        map[string][]refusal // refuse filters by agent id (offers.go)
	inverseFilters map[string]time.Time // inverse offer filters by agent id, until when (inverse.go)
	tasks          map[string]*task
	removed        bool
	partitionAware bool
	failover       *time.Timer
	// unknown: a master that failed over does not know the framework yet (its tasks and
	// executors are only on agents not registered with it): its calls are refused as an
	// unknown framework's until it subscribes or such an agent registers again.
	unknown bool
	// recovered: the master failed over and the framework has not subscribed with it
	// since (GET_FRAMEWORKS lists it recovered once the master knows it).
	recovered bool
	// registered and reregistered are when it first subscribed with this master, and
	// last subscribed again (GET_FRAMEWORKS registered_time, reregistered_time).
	registered, reregistered time.Time
	reconciles               int
	observer                 *Observer // Config.Observer
}

type agent struct {
	id, hostname string
	port         int32  // AgentInfo.port: 5051 unless agents share a hostname
	ip           string // its address: 127.0.0.1 unless Config.LoopbackIPs
	attrs        []mesos.Attribute
	domain       *mesos.DomainInfo // --domain; nil without one
	total, free  pool
	held         pool                          // taken by HoldResources
	executors    map[string]mesos.ExecutorInfo // framework id + "/" + executor id
	runs         map[string]*execRun           // executor processes, same keys
	containers   map[string]container          // simulated executors' containers, same keys
	gone         bool                          // partitioned or removed: not registered
	removed      bool                          // removed for good (RemoveAgent)
	unreachable  time.Time                     // when it was partitioned
	down         bool                          // its process is restarting (RestartAgent)
	recovering   bool                          // restarted, waiting for executors to subscribe again
	// shutDown: the master told it to shut down (its machine DOWN) and its process exited;
	// it never registers again. forgotten: removed with its machine DOWN (removeSlave), not
	// marked gone: the master answers for it as for an agent it does not know.
	shutDown, forgotten bool
	// recovered: the master failed over and the agent has not registered with it again
	// (recovered.go); reregisterDelay is how long it takes to, reregisterGen tells its
	// wait of the latest failover from an earlier one's.
	recovered       bool
	reregisterDelay time.Duration
	reregisterGen   int
	ready           chan struct{} // closed while the agent serves
	endpoint        string
	srv             *http.Server
	// strays are the status update streams of tasks the agent does not know, by
	// framework id + "/" + task id (streams.go).
	strays map[string]*task
}

// connected says whether the agent is registered with the master and talking to it:
// only then does it get offers and do its status updates reach frameworks.
func (a *agent) connected() bool { return a.registered() && !a.down && !a.recovering }

// registered says whether the master holds the agent and its tasks: neither partitioned
// nor removed, nor waiting to register with a failed-over master. A restarting agent is
// registered, though not connected.
func (a *agent) registered() bool { return !a.gone && !a.recovered }

type offer struct {
	id    string
	fw    *framework
	agent *agent
	res   pool
	role  string // allocated to
}

type task struct {
	info     mesos.TaskInfo
	fw       *framework
	agent    *agent
	state    mesos.TaskState // as the master knows it
	res      pool
	role     string          // its offer's, which its resources are allocated to
	pending  []pendingUpdate // updates waiting for an ack; the first is in flight
	retry    *time.Timer
	retryGen int // bumped whenever retry is armed again, so a stale timer does nothing
	backoff  time.Duration
	last     mesos.TaskStatus // the latest status the agent has
	// containerStatus is that of the latest status that had one (Mesos:
	// protobuf::getTaskContainerStatus).
	containerStatus *mesos.ContainerStatus
	// sentState is the state of the latest agent update sent to the framework, which
	// the master answers reconciliation with while it is not acknowledged (Mesos:
	// Task.status_update_state, set in Master::forward).
	sentState *mesos.TaskState
	seen      []string // uuids of updates received from the executor
	// unreachable: the master removed the task with its agent (partitioned, or marked
	// gone for a framework that is not PARTITION_AWARE) and keeps it among the
	// framework's unreachable tasks (Framework::unreachableTasks), whose ids no new task
	// may take, until the agent comes back, an unreachable agent is marked gone, or the
	// master fails over.
	unreachable bool
	finished    chan struct{}
	command     *commandRun // a command task's process, in exec mode
	stopping    bool        // a simulated task killed, ending after TaskStopDelay
	// stray: not a task but the agent's status update stream of a task it does not
	// know, in agent.strays (streams.go); only its pending updates and their retry
	// matter.
	stray bool
}

// pendingUpdate is an agent status update waiting for the framework's acknowledgement.
type pendingUpdate struct {
	status mesos.TaskStatus
	ready  time.Time // not sent before (DelayUpdates)
}

// New makes a master with its agents; Start serves it.
func New(cfg Config) (*Master, error) {
	if cfg.AgentResources == "" {
		cfg.AgentResources = "cpus:4;mem:8192;disk:20000;ports:[31000-32000]"
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 15 * time.Second
	}
	if cfg.AllocationInterval <= 0 {
		cfg.AllocationInterval = time.Second
	}
	if cfg.UpdateRetry <= 0 {
		cfg.UpdateRetry = 10 * time.Second
	}
	if cfg.ExecutorShutdownGracePeriod <= 0 {
		cfg.ExecutorShutdownGracePeriod = 5 * time.Second
	}
	if cfg.ExecutorRegistrationTimeout <= 0 {
		cfg.ExecutorRegistrationTimeout = time.Minute
	}
	if cfg.ExecutorReregistrationTimeout <= 0 {
		cfg.ExecutorReregistrationTimeout = 2 * time.Second
	}
	if cfg.ExecutorHeartbeatInterval <= 0 {
		cfg.ExecutorHeartbeatInterval = 30 * time.Minute
	}
	if cfg.RecoveryTimeout <= 0 {
		cfg.RecoveryTimeout = 15 * time.Minute
	}
	if err := checkAuthConfig(cfg); err != nil {
		return nil, err
	}
	res, err := ParseResources(cfg.AgentResources)
	if err != nil {
		return nil, fmt.Errorf("agent resources: %w", err)
	}
	attrs, err := ParseAttributes(cfg.AgentAttributes)
	if err != nil {
		return nil, fmt.Errorf("agent attributes: %w", err)
	}
	m := &Master{cfg: cfg, id: uuid.NewString(), log: cfg.Log, executorKey: newExecutorKey(), frameworks: map[string]*framework{},
		agentByID: map[string]*agent{}, offers: map[string]*offer{}, roleChosen: map[string]int{}, stop: make(chan struct{}), allocateSoon: make(chan struct{}, 1),
		maint: newMaintenance()}
	for i := 1; i <= cfg.Agents; i++ {
		hostname, port := fmt.Sprintf("agent-%d", i), mesos.Default_AgentInfo_Port
		if cfg.AgentHostname != "" {
			hostname, port = cfg.AgentHostname, mesos.Default_AgentInfo_Port+int32(i-1)
		}
		a := m.addAgentLocked(hostname, port, res.clone(), attrs)
		if len(cfg.AgentZones) > 0 {
			region := m.region()
			if len(cfg.AgentRegions) > 0 {
				region = cfg.AgentRegions[(i-1)%len(cfg.AgentRegions)]
			}
			a.domain = faultDomain(region, cfg.AgentZones[(i-1)%len(cfg.AgentZones)])
		}
		if cfg.LoopbackIPs && cfg.AgentHostname == "" {
			if i > 253 {
				return nil, fmt.Errorf("loopback IPs: %d agents do not fit in 127.0.0.1-253 (agent N on 127.0.0.N): at most 253", cfg.Agents)
			}
			a.ip = fmt.Sprintf("127.0.0.%d", i)
		}
		m.noteMachineLocked(a) // it registers: the master knows its machine
	}
	return m, nil
}

// region is the master's region, "" when the agents have no fault domain.
func (m *Master) region() string {
	if len(m.cfg.AgentZones) == 0 {
		return ""
	}
	if m.cfg.AgentRegion != "" {
		return m.cfg.AgentRegion
	}
	return "region-1"
}

// faultDomain is a DomainInfo of region and zone (the master's is in the first zone).
// remote says whether an agent is in another region than the master's.
func (m *Master) remote(a *agent) bool {
	fd := a.domain.GetFaultDomain()
	return fd != nil && fd.Region.Name != m.region()
}

func faultDomain(region, zone string) *mesos.DomainInfo {
	return &mesos.DomainInfo{FaultDomain: &mesos.DomainInfo_FaultDomain{
		Region: mesos.DomainInfo_FaultDomain_RegionInfo{Name: region}, Zone: mesos.DomainInfo_FaultDomain_ZoneInfo{Name: zone}}}
}

func (m *Master) addAgentLocked(hostname string, port int32, res pool, attrs []mesos.Attribute) *agent {
	a := &agent{id: fmt.Sprintf("%s-S%d", m.id, len(m.agents)), hostname: hostname, port: port, ip: agentIP, attrs: attrs,
		total: res, free: res.clone(), held: newPool(), executors: map[string]mesos.ExecutorInfo{}, runs: map[string]*execRun{}, containers: map[string]container{}, strays: map[string]*task{},
		ready: make(chan struct{})}
	close(a.ready)
	m.agents = append(m.agents, a)
	m.agentByID[a.id] = a
	return a
}

// Start serves the master on addr (e.g. 127.0.0.1:0) and runs its allocator.
func (m *Master) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if m.ip, m.hostname, err = advertise(ln.Addr().(*net.TCPAddr)); err != nil {
		_ = ln.Close()
		return err
	}
	m.ln = ln
	if m.cfg.Exec {
		m.workDir = m.cfg.WorkDir
		if m.workDir == "" {
			if m.workDir, err = os.MkdirTemp("", "mesos-sim-"); err != nil {
				return err
			}
		}
		for _, a := range m.agents {
			if err := m.serveAgent(a); err != nil {
				return err
			}
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/scheduler", m.serveScheduler)
	mux.HandleFunc("/api/v1", m.serveOperator)
	mux.HandleFunc("/state", m.serveState)
	mux.HandleFunc("/master/state", m.serveState)
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/faults/", m.serveFaults)
	srv := &http.Server{Handler: m.unlessDown(mux), ReadHeaderTimeout: 10 * time.Second, ConnState: m.observeConn}
	m.srv = srv
	m.wg.Add(2)
	go func() { defer m.wg.Done(); _ = srv.Serve(ln) }()
	go func() { defer m.wg.Done(); m.allocate() }()
	return nil
}

// URL is the master's http://ip:port, at the address it gives frameworks (address.go).
func (m *Master) URL() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return "http://" + net.JoinHostPort(m.ip.String(), strconv.Itoa(m.ln.Addr().(*net.TCPAddr).Port))
}

// MoveTo makes the master serve on a new address (e.g. 127.0.0.1:0), as when another
// master process, elsewhere, takes the lead: the old address answers no more, and every
// connection to it is closed. The master keeps its state; a failover (SetDown, which
// a leader's death is) is the caller's to fire, and announcing the new address
// (RegisterInZK) too.
func (m *Master) MoveTo(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	ip, hostname, err := advertise(ln.Addr().(*net.TCPAddr))
	if err != nil {
		_ = ln.Close()
		return err
	}
	m.mu.Lock()
	old := m.srv
	srv := &http.Server{Handler: old.Handler, ReadHeaderTimeout: old.ReadHeaderTimeout, ConnState: old.ConnState}
	m.srv, m.ln, m.ip, m.hostname = srv, ln, ip, hostname
	m.wg.Add(1)
	m.mu.Unlock()
	go func() { defer m.wg.Done(); _ = srv.Serve(ln) }()
	return old.Close()
}

// ID is the master's id, the prefix of the framework, agent and offer ids it hands out.
// It changes on FailoverMaster; agents and frameworks keep their ids.
func (m *Master) ID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.id
}

// Close stops the master; streams end, tasks are forgotten, and the sandboxes go with
// the temporary directory Start made for them (not a Config.WorkDir).
func (m *Master) Close() {
	m.closed.Do(func() {
		close(m.stop)
		m.mu.Lock()
		for _, a := range m.agents {
			for _, run := range a.runs {
				run.fw.removed = true
				_ = syscall.Kill(-run.cmd.Process.Pid, syscall.SIGKILL)
			}
			if a.srv != nil {
				_ = a.srv.Close()
			}
		}
		for _, fw := range m.frameworks {
			if fw.stream != nil {
				fw.stream.close()
			}
			for _, t := range fw.tasks {
				if t.retry != nil {
					t.retry.Stop()
				}
				stopCommandLocked(t)
			}
			if fw.failover != nil {
				fw.failover.Stop()
			}
		}
		srv := m.srv
		m.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		m.wg.Wait()
		// The temporary directory Start made for the sandboxes, when given none.
		if m.cfg.Exec && m.cfg.WorkDir == "" && m.workDir != "" {
			_ = os.RemoveAll(m.workDir)
		}
	})
}

// newUUID is a 16-byte update uuid.
func newUUID() []byte {
	u := uuid.New()
	return u[:]
}

// Errors answered with the HTTP status Mesos uses.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

func statusOf(err error) int {
	var he *httpError
	if errors.As(err, &he) {
		return he.code
	}
	return http.StatusInternalServerError
}

func noAgent(hostname string) error {
	return &httpError{http.StatusNotFound, fmt.Sprintf("no agent %q", hostname)}
}

// DropStream closes a framework's event stream, as a network fault would: the master
// takes the framework for disconnected (Mesos: src/master/master.cpp
// Master::exited(const FrameworkID&, ...), _exited): its offers are withdrawn and its
// failover timeout starts.
func (m *Master) DropStream(frameworkID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if fw := m.frameworks[frameworkID]; fw != nil && fw.stream != nil {
		fw.stream.close()
	}
}

// agentByHostname finds an agent by its hostname, its hostname:port or its id; agents
// that share a hostname are told apart by port (a bare hostname names the first).
func (m *Master) agentByHostname(name string) *agent {
	for _, a := range m.agents {
		if a.hostname == name || a.id == name || a.name() == name {
			return a
		}
	}
	return nil
}

// name is how the sim's fault API and logs name an agent: its hostname, with its port
// when it shares the hostname with other agents (Config.AgentHostname).
func (a *agent) name() string {
	if a.port == mesos.Default_AgentInfo_Port {
		return a.hostname
	}
	return fmt.Sprintf("%s:%d", a.hostname, a.port)
}
