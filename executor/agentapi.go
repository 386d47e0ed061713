package executor

import (
	"os"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"
)

// envAuthenticationToken is where an agent with --authenticate_http_executors puts the
// token it gives each executor: a JWT naming the framework, executor and container.
const envAuthenticationToken = "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"

// takeAuthenticationToken returns the agent's token for this executor, if it gave one,
// and takes it out of the environment, as Mesos's own executor library does: the
// processes the executor starts (pods' containers, the helpers that start them, the
// watchdog) inherit its environment, and the token would let them act as the executor.
func takeAuthenticationToken() string {
	token, _ := os.LookupEnv(envAuthenticationToken)
	_ = os.Unsetenv(envAuthenticationToken)
	return token
}

// connect makes the clients of the agent's executor API: sender for calls, subscriber
// for the SUBSCRIBE stream, on a connection of its own. With a token, every call carries
// it as a bearer token (Mesos's docs/authentication.md), without which the agent
// answers 401 to any call, SUBSCRIBE included, and destroys the executor once its
// executor_registration_timeout is over.
func (e *Executor) connect(token string) (sender, subscriber calls.Sender) {
	opts := []httpcli.Opt{
		httpcli.Endpoint("http://" + e.Config.AgentEndpoint + "/api/v1/executor"),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
		httpcli.Do(httpcli.With(httpcli.Timeout(10 * time.Second))),
	}
	if token != "" {
		opts = append(opts, httpcli.DefaultHeader("Authorization", "Bearer "+token))
	}
	cli := httpcli.New(opts...)
	ids := []mexec.CallOpt{calls.Framework(e.Config.FrameworkID), calls.Executor(e.Config.ExecutorID)}
	return calls.SenderWith(httpexec.NewSender(cli.Send), ids...),
		calls.SenderWith(httpexec.NewSender(cli.Send, httpcli.Close(true)), ids...)
}
