// Command mesos-sim runs a simulated Mesos master with agents, for tests and for trying
// k8sm locally. It is not Mesos and never stands in for it in production.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"

	"github.com/k8sm/k8sm/internal/mesossim"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mesos-sim:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mesos-sim", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:5050", "Address the master serves on.")
	agents := fs.Int("agents", 3, "Number of simulated agents.")
	agentHostname := fs.String("agent-hostname", "", "One hostname for every agent, as agents started on one host with --hostname (e.g. 127.0.0.1): each gets its own port, 5051, 5052, ... (default: agent-1 ... agent-N, each on port 5051).")
	loopbackIPs := fs.Bool("agent-loopback-ips", false, "Give agent-<i> the address 127.0.0.<i> (offers' url, its pid, the executor API with --exec), as agents on hosts of their own, so that what executors serve on their agent's address does not collide (default: every agent is 127.0.0.1).")
	resources := fs.String("agent-resources", "cpus:4;mem:8192;disk:20000;ports:[31000-32000]", "Resources of each agent, in Mesos's --resources form.")
	attributes := fs.String("agent-attributes", "", "Attributes of each agent, in Mesos's --attributes form (e.g. 'rack:r1').")
	zones := fs.String("agent-zones", "", "Comma-separated fault domain zones, agent-i in the i-th (round robin), all in -agent-region (Mesos's agent and master --domain); none by default.")
	region := fs.String("agent-region", "region-1", "The region of -agent-zones, the master's too.")
	regions := fs.String("agent-regions", "", "Comma-separated regions, agent-i in the i-th (round robin), instead of -agent-region; an agent outside the master's region is offered only to REGION_AWARE frameworks.")
	heartbeat := fs.Duration("heartbeat-interval", 15*time.Second, "Heartbeat interval of scheduler streams.")
	allocation := fs.Duration("allocation-interval", time.Second, "Interval between offer rounds.")
	startDelay := fs.Duration("task-start-delay", 0, "How long a simulated task takes from STAGING to RUNNING.")
	stopDelay := fs.Duration("task-stop-delay", 0, "How long a simulated task takes to end after its first KILL, as a container given a grace period.")
	execMode := fs.Bool("exec", false, "Start each task's executor as a real process with the v1 executor API, and run command tasks' commands, as Mesos does (else tasks are simulated).")
	workDir := fs.String("work-dir", "", "Where executor sandboxes go (default: a new temporary directory, removed on exit).")
	offerTimeout := fs.Duration("offer-timeout", 0, "Rescind offers left unused this long, as Mesos's --offer_timeout (0: never).")
	grace := fs.Duration("executor-shutdown-grace-period", 5*time.Second, "How long an executor told to shut down has before it is killed (--exec).")
	register := fs.Duration("executor-registration-timeout", time.Minute, "How long an agent waits for an executor it started to subscribe before it destroys it, failing its tasks (--exec), as Mesos's --executor_registration_timeout.")
	reregister := fs.Duration("executor-reregistration-timeout", 2*time.Second, "How long a restarted agent waits for executors of checkpointing frameworks to subscribe again before it kills them and registers with the master again.")
	execHeartbeat := fs.Duration("executor-heartbeat-interval", 30*time.Minute, "How often agents send subscribed executors a HEARTBEAT event (--exec; Mesos's agent: 30 minutes, not configurable).")
	zkURL := fs.String("zk", "", "Register the master in ZooKeeper as Mesos does (zk://host:port/mesos), for zk:// masters.")
	credentialsFile := fs.String("credentials", "", `File of the principals and secrets the master accepts, as Mesos's --credentials: {"credentials":[{"principal":"p","secret":"s"}]}.`)
	authFrameworks := fs.Bool("authenticate-http-frameworks", false, "Let only frameworks with the basic credentials of a principal of --credentials use the scheduler API, as Mesos's --authenticate_http_frameworks (401 otherwise; 400 when FrameworkInfo.principal is another).")
	authReadWrite := fs.Bool("authenticate-http-readwrite", false, "Let only requests with such credentials use the operator API (POST /api/v1), as Mesos's --authenticate_http_readwrite.")
	authExecutors := fs.Bool("authenticate-http-executors", false, "With --exec, give each executor a token in MESOS_EXECUTOR_AUTHENTICATION_TOKEN and let the agents' executor APIs take only calls that carry it as a bearer token, as Mesos's agent --authenticate_http_executors (401 otherwise; 403 for another executor's token).")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *agents < 0 {
		return fmt.Errorf("--agents must not be negative")
	}
	if *offerTimeout < 0 {
		return fmt.Errorf("--offer-timeout must not be negative")
	}
	var credentials map[string]string
	if *credentialsFile != "" {
		data, err := os.ReadFile(*credentialsFile)
		if err != nil {
			return fmt.Errorf("--credentials: %w", err)
		}
		if credentials, err = mesossim.ParseCredentials(data); err != nil {
			return fmt.Errorf("--credentials %s: %w", *credentialsFile, err)
		}
	}
	if (*authFrameworks || *authReadWrite) && credentials == nil {
		return fmt.Errorf("--authenticate-http-frameworks and --authenticate-http-readwrite need --credentials")
	}
	if *authExecutors && !*execMode {
		return fmt.Errorf("--authenticate-http-executors needs --exec: simulated tasks have no executor to authenticate")
	}
	sim, err := mesossim.New(mesossim.Config{
		Agents: *agents, AgentHostname: *agentHostname, LoopbackIPs: *loopbackIPs, AgentResources: *resources, AgentAttributes: *attributes, AgentZones: splitList(*zones), AgentRegion: *region, AgentRegions: splitList(*regions),
		HeartbeatInterval: *heartbeat, AllocationInterval: *allocation, TaskStartDelay: *startDelay, TaskStopDelay: *stopDelay,
		Exec: *execMode, WorkDir: *workDir, OfferTimeout: *offerTimeout,
		ExecutorShutdownGracePeriod: *grace, ExecutorRegistrationTimeout: *register, ExecutorReregistrationTimeout: *reregister, ExecutorHeartbeatInterval: *execHeartbeat,
		Credentials: credentials, AuthenticateHTTPFrameworks: *authFrameworks, AuthenticateHTTPReadWrite: *authReadWrite,
		AuthenticateHTTPExecutors: *authExecutors,
		Log:                       logr.Discard(),
	})
	if err != nil {
		return err
	}
	if err := sim.Start(*listen); err != nil {
		return fmt.Errorf("listening on %s: %w", *listen, err)
	}
	if *zkURL != "" {
		withdraw, err := sim.RegisterInZK(*zkURL)
		if err != nil {
			sim.Close()
			return err
		}
		defer withdraw()
	}
	fmt.Printf("mesos-sim: master %s with %d agents (state: %s/state)\n", sim.URL(), *agents, sim.URL())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	sim.Close()
	return nil
}

// splitList is the non-empty comma-separated items of s.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
