package taskapi

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/k8sm/k8sm/internal/taskstore"
)

// Options are how a manager serves the API.
type Options struct {
	// Addr is where it listens, host:port.
	Addr string
	// CertDir holds the serving certificate and key: tls.crt and tls.key, or OLM's
	// apiserver.crt and apiserver.key; reloaded when they change. Empty: the manager
	// makes its own (SelfSigned).
	CertDir string
	// Namespace is the manager's; Service the name of its Service the APIService names;
	// Secret where SelfSigned keeps the certificate it makes.
	Namespace, Service, Secret string
	// LeaderOnly says only the leading replica holds the MesosTasks (held in memory, no
	// CRD beside them): the served resource takes the CRD's short name and category,
	// the leader's pod, Pod in Namespace, is labeled (LeaderLabel), and the other
	// replicas pass the requests they get on to it (Relay).
	LeaderOnly bool
	// Pod is the replica's pod's name (POD_NAME). With the CRD too, the leader's pod
	// is labeled and the other replicas pass the requests on to it: every replica
	// numbers its revisions its own way, and a watch from a list's revision is answered
	// only where the list was (Handler.Leads). Without it each answers from its own.
	Pod string
	// Leading, with LeaderOnly, starts the leader's Store: a replica that does not lead
	// keeps a copy of the leader's MesosTasks for it (Mirror).
	Leading *taskstore.Leading
}

// Add has mgr serve the API from store: the server, its certificate, and the front
// proxy's configuration, on every replica.
func Add(mgr manager.Manager, store *taskstore.Store, o Options) error {
	log := mgr.GetLogger().WithName("tasks-api")
	var certificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	var reload func(context.Context)
	if o.CertDir != "" {
		crt, key, err := certFiles(o.CertDir)
		if err != nil {
			return err
		}
		w, err := certwatcher.New(crt, key)
		if err != nil {
			return fmt.Errorf("reading the MesosTasks API's certificate: %w", err)
		}
		if err := mgr.Add(w); err != nil {
			return err
		}
		certificate = w.GetCertificate
		reload = func(context.Context) {
			if err := w.ReadCertificate(); err != nil {
				log.V(1).Info("Could not read the MesosTasks API's serving certificate again", "dir", o.CertDir, "error", err.Error())
			}
		}
	} else {
		s := &SelfSigned{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Secret: types.NamespacedName{Namespace: o.Namespace, Name: o.Secret},
			Service: o.Service, Log: log}
		if err := mgr.Add(s); err != nil {
			return err
		}
		certificate, reload = s.GetCertificate, s.Reload
	}
	proxy := &FrontProxy{}
	if err := mgr.Add(&FrontProxyLoader{Reader: mgr.GetAPIReader(), Proxy: proxy, Log: log}); err != nil {
		return err
	}
	if o.Pod != "" {
		if err := mgr.Add(&LeaderLabel{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Namespace: o.Namespace, Pod: o.Pod, Log: log}); err != nil {
			return err
		}
	} else if o.LeaderOnly {
		log.Info("Not labeling the leader's pod: the manager's pod name is not known (POD_NAME); a replica that does not lead cannot find the leader to pass the MesosTasks API's requests on to, and answers them 503 (run one replica, or set POD_NAME)")
	}
	h := &Handler{Store: store, Authenticator: proxy, Authorizer: newAuthorizer(mgr.GetClient(), nil), Log: log, Sole: o.LeaderOnly}
	if !o.LeaderOnly && o.Pod == "" {
		return mgr.Add(&Server{Addr: o.Addr, Certificate: certificate, Log: log, Handler: h})
	}
	// A replica that does not lead passes the requests it gets on to the one that does.
	_, port, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return fmt.Errorf("--tasks-api-bind-address %s: %w", o.Addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("--tasks-api-bind-address %s: the port: %w", o.Addr, err)
	}
	leader := &LeaderPods{Reader: mgr.GetAPIReader(), Namespace: o.Namespace, Self: o.Pod, Port: p}
	h.Relay = &Relay{Certificate: certificate, Reload: reload, Log: log, Leader: leader}
	if !o.LeaderOnly {
		h.Leads = closed(mgr.Elected())
	} else if o.Leading != nil && o.Pod != "" {
		mirror := &Mirror{Leader: leader, Replicas: leader, Relay: h.Relay, Elected: mgr.Elected(), Log: log}
		if err := mgr.Add(mirror); err != nil {
			return err
		}
		o.Leading.Copy = mirror
		return mgr.Add(&Server{Addr: o.Addr, Certificate: certificate, Log: log, Handler: withCopy(h, mirror)})
	}
	return mgr.Add(&Server{Addr: o.Addr, Certificate: certificate, Log: log, Handler: h})
}

// closed says whether c is closed.
func closed(c <-chan struct{}) func() bool {
	return func() bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}
}

// certFiles are the certificate and key in dir: tls.crt and tls.key, else
// apiserver.crt and apiserver.key (where OLM mounts an APIService's).
func certFiles(dir string) (crt, key string, err error) {
	for _, pair := range [][2]string{{"tls.crt", "tls.key"}, {"apiserver.crt", "apiserver.key"}} {
		crt, key = filepath.Join(dir, pair[0]), filepath.Join(dir, pair[1])
		if _, err := os.Stat(crt); err == nil {
			return crt, key, nil
		}
	}
	return "", "", fmt.Errorf("--tasks-api-cert-dir %s holds neither tls.crt and tls.key nor apiserver.crt and apiserver.key", dir)
}

// withCopy is h, but with the mirror answering copyPath.
func withCopy(h http.Handler, mirror *Mirror) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == copyPath {
			mirror.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
