package taskapi

import (
	"crypto/tls"
	"net/http"
	"testing"
	"time"

	"github.com/k8sm/k8sm/internal/pki"
)

// When one replica holds a serving certificate made anew and the other the one before,
// they still know each other: on a connection made before, by the key before; on a new
// one, the replica that meets the new key reads its certificate again.
func TestReplicasKnowEachOtherAcrossANewCertificate(t *testing.T) {
	for _, tc := range []struct {
		name        string
		leaderMakes bool
	}{
		{"the standby makes it", false},
		{"the leader makes it", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, renewed := servingCert(t, newCA(t)), servingCert(t, newCA(t))
			secret := &heldCert{cert: old}
			leader, standby := &heldCert{cert: old, secret: secret}, &heldCert{cert: old, secret: secret}
			r := newReplicasOf(t, leader, standby, mesosTask("ns", "a", "id-a", "c1"))
			list := func(when string) {
				t.Helper()
				if code, b := get(t, r.client, r.standbySrv, base+"/namespaces/ns/mesostasks", nil); code != http.StatusOK {
					t.Fatalf("a list through the standby %s: %d %s", when, code, b)
				}
			}
			list("before the new certificate")

			maker, other := standby, leader
			if tc.leaderMakes {
				maker, other = leader, standby
			}
			secret.set(renewed)
			maker.set(renewed)
			list("on the connection made before")
			if n := leader.reloaded() + standby.reloaded(); n != 0 {
				t.Errorf("the certificate read again %d times for a connection made before", n)
			}

			// The connection may not be idle yet when the answer has reached the client
			// (HTTP/2 forgets a stream after its end is read): a new transport dials anew.
			before := r.standbyRelay.transport.Swap(nil)
			t.Cleanup(before.CloseIdleConnections)
			list("on a new connection")
			if other.reloaded() != 1 || maker.reloaded() != 0 {
				t.Errorf("the certificate read again %d times by the replica without the new one, %d by the one that made it", other.reloaded(), maker.reloaded())
			}
			if c, _ := other.get(nil); c != renewed {
				t.Error("the replica without the new certificate did not take it")
			}
		})
	}
}

// Only a certificate for the API's names, of another key, has a replica read its own
// again, and at most once every reloadEvery: not the front proxy's, kube-apiserver's,
// which comes with every request.
func TestOnlyAPeersNewCertificateHasTheCertificateReadAgain(t *testing.T) {
	cert := servingCert(t, newCA(t))
	leader := &heldCert{cert: cert, secret: &heldCert{cert: cert}}
	r := newReplicasOf(t, leader, &heldCert{cert: cert})
	as := func(c *tls.Certificate) *http.Client {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{*c}}}}
		t.Cleanup(client.CloseIdleConnections)
		return client
	}
	frontProxyCA, err := pki.NewCA("front-proxy-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	frontProxy := certFor(t, frontProxyCA, "front-proxy-client", "front-proxy-client")
	relayed := http.Header{relayedUser: {"alice"}}
	for _, step := range []struct {
		name    string
		cert    *tls.Certificate
		reloads int
	}{
		{"the front proxy's certificate", frontProxy, 0},
		{"a certificate for the API's names of another key", servingCert(t, newCA(t)), 1},
		{"another such certificate at once after", servingCert(t, newCA(t)), 1},
	} {
		if code, b := get(t, as(step.cert), r.leaderSrv, base+"/mesostasks", relayed); code != http.StatusUnauthorized {
			t.Errorf("%s: %d %s", step.name, code, b)
		}
		if got := leader.reloaded(); got != step.reloads {
			t.Errorf("%s: the certificate read again %d times, want %d", step.name, got, step.reloads)
		}
	}
}
