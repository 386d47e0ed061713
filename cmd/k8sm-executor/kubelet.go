package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"golang.org/x/sys/unix"

	"github.com/k8sm/k8sm/executor"
	"github.com/k8sm/k8sm/executor/kubelet"
)

// kubeletFlags configure the kubelet runtime.
type kubeletFlags struct {
	manifestDir, url, tokenFile, caFile, serverName string
	insecure                                        bool
	// nodeName is the agent's hostname as a kubelet takes it for its node name; nil
	// reads it.
	nodeName func() (string, error)
}

func (k *kubeletFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&k.manifestDir, "kubelet-manifest-dir", "/etc/kubernetes/manifests", "kubelet runtime: the kubelet's staticPodPath.")
	fs.StringVar(&k.url, "kubelet-url", "https://127.0.0.1:10250", "kubelet runtime: the kubelet's authenticated port, or its read-only port (http://127.0.0.1:10255, without --kubelet-token-file).")
	fs.StringVar(&k.tokenFile, "kubelet-token-file", "", "kubelet runtime: a file holding a bearer token the kubelet accepts, read again as it changes (at least every minute, and after the kubelet refused the token). Sent only to an https:// --kubelet-url whose certificate is verified: refused with http:// or --kubelet-insecure-skip-tls-verify.")
	fs.StringVar(&k.caFile, "kubelet-ca-file", "", "kubelet runtime: the CA bundle that signed the kubelet's serving certificate (default: the system's).")
	fs.StringVar(&k.serverName, "kubelet-server-name", "", "kubelet runtime: the name the kubelet's serving certificate is verified against, instead of --kubelet-url's host. Unset, at a loopback url with --kubelet-ca-file, the agent's hostname is taken too: a kubelet's own self-signed certificate names only its node name.")
	fs.BoolVar(&k.insecure, "kubelet-insecure-skip-tls-verify", false, "kubelet runtime: do not verify the kubelet's certificate (testing only; refused with --kubelet-token-file, --kubelet-ca-file or --kubelet-server-name).")
}

// runtime builds the kubelet runtime for this executor run, checking what can be
// checked at start.
func (k *kubeletFlags) runtime(log logr.Logger, cfg config.Config) (*kubelet.Runtime, error) {
	if st, err := os.Stat(k.manifestDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("--kubelet-manifest-dir %s is not a directory: is the kubelet's staticPodPath set?", k.manifestDir)
	}
	if tmp, err := onTmpfs(k.manifestDir); err == nil && !tmp {
		log.Info("The kubelet's manifest directory is not on tmpfs: after a reboot, or when the agent destroys this executor's container, the kubelet runs the pods of the manifests left there while Mesos takes their tasks for ended, and their pods run again elsewhere; make the kubelet's staticPodPath a directory under /run",
			"manifestDir", k.manifestDir)
	}
	if !strings.HasPrefix(k.url, "http://") && !strings.HasPrefix(k.url, "https://") {
		return nil, fmt.Errorf("--kubelet-url %q: want http(s)://host:port", k.url)
	}
	if err := k.checkVerification(); err != nil {
		return nil, err
	}
	if err := k.checkTokenReceiver(); err != nil {
		return nil, err
	}
	rt := &kubelet.Runtime{ManifestDir: k.manifestDir, URL: k.url, Log: log,
		FrameworkID: cfg.FrameworkID, ExecutorID: cfg.ExecutorID, Sandbox: executor.RunID(cfg)}
	if k.tokenFile != "" {
		// Read again as it changes (a rotated token, a projected one renewed before it
		// expires); read here to fail at start on a file that cannot serve.
		b, err := os.ReadFile(k.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("reading --kubelet-token-file: %w", err)
		}
		if strings.TrimSpace(string(b)) == "" {
			return nil, fmt.Errorf("--kubelet-token-file %s is empty", k.tokenFile)
		}
		rt.TokenFile = k.tokenFile
	}
	tlsCfg, err := k.tlsConfig(log)
	if err != nil {
		return nil, err
	}
	rt.Client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	return rt, nil
}

// onTmpfs says whether dir is on a tmpfs, which a reboot empties.
func onTmpfs(dir string) (bool, error) {
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return false, err
	}
	return fs.Type == unix.TMPFS_MAGIC, nil
}

// checkTokenReceiver refuses a token the runtime would send to a kubelet it cannot
// verify: over http, or over https without verifying the certificate. Whatever listens
// on the kubelet's port would get it (a process of the agent that bound the port while
// the kubelet restarts, say), and with it nodes/proxy on the kubelet's Node: the exec
// and logs of every pod there.
func (k *kubeletFlags) checkTokenReceiver() error {
	switch {
	case k.tokenFile == "":
		return nil
	case strings.HasPrefix(k.url, "http://"):
		return fmt.Errorf("--kubelet-token-file with --kubelet-url %s: the token would go over http:// to whatever listens on that port; "+
			"use the kubelet's authenticated port (https://) with --kubelet-ca-file, or the read-only port without a token", k.url)
	case k.insecure:
		return errors.New("--kubelet-token-file with --kubelet-insecure-skip-tls-verify: the token would go to whatever answers on the kubelet's port; " +
			"give --kubelet-ca-file the CA bundle that signed the kubelet's serving certificate, or drop the token")
	}
	return nil
}
