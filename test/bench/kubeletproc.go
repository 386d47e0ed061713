package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeletsCommand is the first argument that runs this program as the peers' kubelets
// (runKubelets) rather than as the bench.
const kubeletsCommand = "kubelets"

// kubeletProcess is the peers' kubelets in a process of their own: what kubeletWrites
// does for every pod kube-scheduler binds, and renewNodeLeases, there. Their CPU is then
// measured apart from the load's: a peer's kubelets make, as a client, requests that
// k8sm's manager makes itself (the pod's status, the events), so the manager's CPU per pod
// can be set beside kube-scheduler's and theirs together.
type kubeletProcess struct {
	cmd *exec.Cmd
}

// startKubeletProcess starts the kubelets of nodes Nodes in mode, against the API server
// of kubeconfig, and returns once they watch the pods and hold the Nodes' Leases.
func startKubeletProcess(kubeconfig string, mode kubeletMode, nodes int) (*kubeletProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, kubeletsCommand, "-kubeconfig="+kubeconfig, "-mode="+strconv.Itoa(int(mode)), "-nodes="+strconv.Itoa(nodes))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &kubeletProcess{cmd: cmd}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("said %q", line)
		}
		ready <- err
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case err = <-ready:
	case <-time.After(2 * time.Minute):
		err = fmt.Errorf("not ready after 2 minutes")
	}
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("the peers' kubelets: %w", err)
	}
	return p, nil
}

func (p *kubeletProcess) pid() int { return p.cmd.Process.Pid }

func (p *kubeletProcess) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
}

// runKubelets is this program run as the peers' kubelets (startKubeletProcess): it
// watches the bench's pods, as protobuf, as kubelets watch theirs, and makes the writes
// of its kubeletMode for each one bound; it renews the Nodes' Leases; it says "ready" on
// its standard output once it does both, and stops on SIGTERM.
func runKubelets(args []string) error {
	fs := flag.NewFlagSet(kubeletsCommand, flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "The API server's kubeconfig.")
	mode := fs.Int("mode", int(leastWrites), "The kubeletMode.")
	nodes := fs.Int("nodes", 0, "How many Nodes (peerNode 0 on) have their Leases renewed.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	c, err := newClient(cfg)
	if err != nil {
		return err
	}
	k, err := newKubeletWrites(ctx, c, cfg, kubeletMode(*mode), 32)
	if err != nil {
		return err
	}
	defer k.stop()
	names := make([]string, *nodes)
	for i := range names {
		names[i] = peerNode(i)
	}
	stopLeases, err := renewNodeLeases(ctx, c, names)
	if err != nil {
		return fmt.Errorf("the Nodes' Leases: %w", err)
	}
	defer stopLeases()
	cs, err := newProtobufClientset(cfg)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace("default"))
	pods := factory.Core().V1().Pods().Informer()
	saw := func(o any) {
		if p, ok := o.(*corev1.Pod); ok {
			k.saw(p)
		}
	}
	if _, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: saw, UpdateFunc: func(_, o any) { saw(o) }}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), pods.HasSynced) {
		return fmt.Errorf("the pods' watch did not sync")
	}
	fmt.Println("ready")
	<-ctx.Done()
	factory.Shutdown()
	return nil
}
