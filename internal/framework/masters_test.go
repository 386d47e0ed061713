package framework

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/k8sm/k8sm/internal/testzk"
)

func TestParseMaster(t *testing.T) {
	for _, tc := range []struct {
		master  string
		tls     bool
		want    []string // successive leaders after each failure
		wantErr bool
	}{
		{master: "http://m1:5050", want: []string{"http://m1:5050", "http://m1:5050"}},
		{master: "http://m1:5050/, https://m2:5050", want: []string{"http://m1:5050", "https://m2:5050", "http://m1:5050"}},
		{master: "ftp://m1:5050", wantErr: true},
		{master: "m1:5050", wantErr: true},
		{master: "zk://", wantErr: true},
		{master: "zk://zk1:2181", wantErr: true},
		{master: "zk://user:pw@zk1:2181/mesos", wantErr: true},
		// Only host:port is kept of a URL: a path, query or user would be dropped, and
		// the framework subscribe somewhere else than the URL says.
		{master: "https://m1:5050/mesos", wantErr: true},
		{master: "http://m1:5050,https://gw/mesos/", wantErr: true},
		{master: "http://m1:5050?x=1", wantErr: true},
		{master: "http://m1:5050#x", wantErr: true},
		{master: "http://u:p@m1:5050", wantErr: true},
	} {
		d, err := ParseMaster(tc.master, tc.tls)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseMaster(%q) error = %v, want error %v", tc.master, err, tc.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		for i, want := range tc.want {
			got, err := d.Leader(context.Background())
			if err != nil || got != want {
				t.Errorf("ParseMaster(%q): leader %d = %q, %v; want %q", tc.master, i, got, err, want)
			}
			d.Failed(got)
		}
	}
}

func TestParseZK(t *testing.T) {
	servers, path, err := parseZK("zk://zk1:2181,zk2,10.0.0.3:2182/mesos/")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"zk1:2181", "zk2:2181", "10.0.0.3:2182"}
	if len(servers) != 3 || servers[0] != want[0] || servers[1] != want[1] || servers[2] != want[2] || path != "/mesos" {
		t.Fatalf("parseZK = %v %q", servers, path)
	}
}

func TestLeaderFromZKNodes(t *testing.T) {
	for _, tc := range []struct {
		children []string
		want     string
		ok       bool
	}{
		{[]string{"json.info_0000000003", "json.info_0000000001", "log_replicas", "info_0000000000"}, "json.info_0000000001", true},
		{[]string{"info_0000000001", "log_replicas"}, "", false},
		{nil, "", false},
		{[]string{"json.info_0000000010", "json.info_0000000009"}, "json.info_0000000009", true},
	} {
		got, ok := LeaderFromZKNodes(tc.children)
		if got != tc.want || ok != tc.ok {
			t.Errorf("LeaderFromZKNodes(%v) = %q, %v; want %q, %v", tc.children, got, ok, tc.want, tc.ok)
		}
	}
}

func TestMasterURLFromInfo(t *testing.T) {
	for _, tc := range []struct {
		json, scheme, want string
		wantErr            bool
	}{
		{`{"address":{"hostname":"m1","ip":"10.0.0.1","port":5050},"hostname":"m1","id":"x","ip":16777226,"port":5050}`, "http", "http://10.0.0.1:5050", false},
		{`{"address":{"hostname":"m1","port":5050}}`, "https", "https://m1:5050", false},
		// https: the hostname, which certificates name more often than addresses.
		{`{"address":{"hostname":"m1.example","ip":"10.0.0.1","port":5050},"hostname":"m1.example","port":5050}`, "https", "https://m1.example:5050", false},
		{`{"address":{"ip":"10.0.0.1","port":5050}}`, "https", "https://10.0.0.1:5050", false},
		{`{"hostname":"m2","port":5051}`, "http", "http://m2:5051", false},
		{`{"address":{}}`, "http", "", true},
		{`not json`, "http", "", true},
	} {
		got, err := MasterURLFromInfo([]byte(tc.json), tc.scheme)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("MasterURLFromInfo(%s) = %q, %v; want %q, error %v", tc.json, got, err, tc.want, tc.wantErr)
		}
	}
}

// registerMaster writes a leader candidate the way a Mesos master does: an ephemeral
// sequential json.info_ node holding its MasterInfo as JSON.
func registerMaster(t *testing.T, conn *zk.Conn, path, ip string, port int) string {
	t.Helper()
	data := []byte(`{"address":{"hostname":"master","ip":"` + ip + `","port":` + itoa(port) + `},"hostname":"master","port":` + itoa(port) + `}`)
	node, err := conn.Create(path+"/json.info_", data, zk.FlagEphemeral|zk.FlagSequence, zk.WorldACL(zk.PermAll))
	if err != nil {
		t.Fatalf("registering a master in ZooKeeper: %v", err)
	}
	return node
}

func itoa(i int) string { return strconv.Itoa(i) }

// zkWithMesos starts a ZooKeeper with an empty /mesos and connects to it; the test is
// skipped where none is installed and none is required.
func zkWithMesos(t *testing.T) (*testzk.Server, *zk.Conn) {
	t.Helper()
	srv, err := testzk.Start()
	if errors.Is(err, testzk.ErrNotInstalled) && !testzk.Required() {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	conn, _, err := zk.Connect([]string{srv.Addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	if _, err := conn.Create("/mesos", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	return srv, conn
}

func TestZKDetectorFollowsTheLeader(t *testing.T) {
	srv, conn := zkWithMesos(t)

	d, err := ParseMaster("zk://"+srv.Addr+"/mesos", false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	if _, err := d.Leader(ctx); err == nil {
		t.Fatal("Leader() found a master where none is registered")
	}

	first := registerMaster(t, conn, "/mesos", "127.0.0.1", 5050)
	registerMaster(t, conn, "/mesos", "127.0.0.2", 5051)
	got, err := d.Leader(ctx)
	if err != nil || got != "http://127.0.0.1:5050" {
		t.Fatalf("Leader() = %q, %v; want http://127.0.0.1:5050", got, err)
	}

	// A master that joins the election without winning it changes nothing: the
	// subscription to the leader goes on.
	changed := d.Changed()
	registerMaster(t, conn, "/mesos", "127.0.0.3", 5052)
	settle(t, d, conn, "/mesos")
	select {
	case <-changed:
		t.Fatal("Changed() was closed when a master that does not lead joined")
	default:
	}
	if got, err := d.Leader(ctx); err != nil || got != "http://127.0.0.1:5050" {
		t.Fatalf("after a standby joined Leader() = %q, %v; want http://127.0.0.1:5050", got, err)
	}

	if err := conn.Delete(first, -1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(20 * time.Second):
		t.Fatal("Changed() was not closed when the leader went away")
	}
	got, err = d.Leader(ctx)
	if err != nil || got != "http://127.0.0.2:5051" {
		t.Fatalf("after failover Leader() = %q, %v; want http://127.0.0.2:5051", got, err)
	}
}

// The leader of a subscription, for the operator API, is reached at its IP over http, and
// at its hostname over https, whose certificate names it so more often.
func TestLeaderURL(t *testing.T) {
	ip, name := "10.0.0.1", "m1.example"
	info := &mesos.MasterInfo{Hostname: &name, Address: &mesos.Address{IP: &ip, Hostname: &name, Port: 5050}}
	for _, tc := range []struct {
		master string
		info   *mesos.MasterInfo
		want   string
	}{
		{"http://m0:5050", info, "http://10.0.0.1:5050"},
		{"https://m0:5050", info, "https://m1.example:5050"},
		{"https://m0:5050", &mesos.MasterInfo{Address: &mesos.Address{IP: &ip, Port: 5050}}, "https://10.0.0.1:5050"},
		{"http://m0:5050", nil, "http://m0:5050"},
	} {
		if got := leaderURL(tc.master, tc.info); got != tc.want {
			t.Errorf("leaderURL(%s) = %s, want %s", tc.master, got, tc.want)
		}
	}
}

// settle waits until the detector has read the election path as it is now.
func settle(t *testing.T, d Detector, conn *zk.Conn, path string) {
	t.Helper()
	_, stat, err := conn.Children(path)
	if err != nil {
		t.Fatal(err)
	}
	zd := d.(*zkDetector)
	deadline := time.Now().Add(20 * time.Second)
	for {
		zd.mu.Lock()
		seen := zd.seen.version
		zd.mu.Unlock()
		if seen >= stat.Cversion {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the detector read the election path at version %d, want %d", seen, stat.Cversion)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Looking the leader up again and again, as while subscribing keeps failing, keeps one
// watch of the election path.
func TestZKDetectorWatchesOnce(t *testing.T) {
	srv, conn := zkWithMesos(t)
	registerMaster(t, conn, "/mesos", "127.0.0.1", 5050)
	d, err := ParseMaster("zk://"+srv.Addr+"/mesos", false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := d.Leader(ctx); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	for range 100 {
		if _, err := d.Leader(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if after := runtime.NumGoroutine(); after > before+10 {
		t.Fatalf("%d goroutines after 100 lookups of an unchanged leader, %d before", after, before)
	}
}
