package framework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// Detector finds the master to subscribe to.
type Detector interface {
	// Leader returns the URL (scheme://host:port) of the master to try next. After a failed
	// attempt the caller calls Failed, so a list of masters is tried in turn.
	Leader(ctx context.Context) (string, error)
	// Failed reports that the URL Leader returned could not be subscribed to.
	Failed(url string)
	// Changed is closed when the detector learns of a new leader; nil if it never does.
	Changed() <-chan struct{}
	// Close releases the detector's resources.
	Close()
}

// ParseMaster splits a MesosCluster master string into a Detector: one http(s) URL, a
// comma-separated list of them, or a zk:// URL. useTLS makes zk:// leaders https.
func ParseMaster(master string, useTLS bool) (Detector, error) {
	master = strings.TrimSpace(master)
	if strings.HasPrefix(master, "zk://") {
		servers, path, err := parseZK(master)
		if err != nil {
			return nil, err
		}
		scheme := "http"
		if useTLS {
			scheme = "https"
		}
		return newZKDetector(servers, path, scheme), nil
	}
	var urls []string
	for _, m := range strings.Split(master, ",") {
		m = strings.TrimRight(strings.TrimSpace(m), "/")
		u, err := url.Parse(m)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("master %q is not an http(s)://host:port URL", m)
		}
		urls = append(urls, u.Scheme+"://"+u.Host)
	}
	return &listDetector{urls: urls}, nil
}

// listDetector tries a fixed list of masters in turn; a non-leading master redirects
// the subscription to the leader itself.
type listDetector struct {
	mu   sync.Mutex
	urls []string
	next int
}

func (d *listDetector) Leader(context.Context) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.urls[d.next%len(d.urls)], nil
}

func (d *listDetector) Failed(u string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.urls[d.next%len(d.urls)] == u {
		d.next++
	}
}

func (d *listDetector) Changed() <-chan struct{} { return nil }
func (d *listDetector) Close()                   {}

func parseZK(master string) (servers []string, path string, err error) {
	rest := strings.TrimPrefix(master, "zk://")
	slash := strings.Index(rest, "/")
	if slash <= 0 || slash == len(rest)-1 {
		return nil, "", fmt.Errorf("master %q must be zk://host:port[,host:port]/path", master)
	}
	hosts, path := rest[:slash], rest[slash:]
	if at := strings.LastIndex(hosts, "@"); at >= 0 {
		return nil, "", errors.New("zk:// masters with credentials are not supported")
	}
	for _, h := range strings.Split(hosts, ",") {
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(h, "2181")
		}
		servers = append(servers, h)
	}
	return servers, strings.TrimRight(path, "/"), nil
}

// zkMasterInfo is the part of the MasterInfo JSON Mesos writes into json.info_ nodes.
type zkMasterInfo struct {
	Hostname string `json:"hostname"`
	Address  struct {
		Hostname string `json:"hostname"`
		IP       string `json:"ip"`
		Port     int    `json:"port"`
	} `json:"address"`
	Port int `json:"port"`
}

// LeaderFromZKNodes picks the leader from the children of Mesos's ZooKeeper path: the
// json.info_ node with the lowest sequence number. It returns that node's name.
func LeaderFromZKNodes(children []string) (string, bool) {
	var infos []string
	for _, c := range children {
		if strings.HasPrefix(c, "json.info_") {
			infos = append(infos, c)
		}
	}
	if len(infos) == 0 {
		return "", false
	}
	sort.Slice(infos, func(i, j int) bool { return zkSeq(infos[i]) < zkSeq(infos[j]) })
	return infos[0], true
}

func zkSeq(node string) int64 {
	i := strings.LastIndex(node, "_")
	n, err := strconv.ParseInt(node[i+1:], 10, 64)
	if err != nil {
		return 1<<63 - 1
	}
	return n
}

// MasterURLFromInfo turns the MasterInfo JSON of a json.info_ node into a URL.
func MasterURLFromInfo(data []byte, scheme string) (string, error) {
	var info zkMasterInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return "", fmt.Errorf("reading the leading master's info from ZooKeeper: %w", err)
	}
	host := masterHost(scheme, info.Address.IP, info.Address.Hostname, info.Hostname)
	port := info.Address.Port
	if port == 0 {
		port = info.Port
	}
	if host == "" || port == 0 {
		return "", errors.New("the leading master's info in ZooKeeper has no address")
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// zkMaxPacket caps a ZooKeeper answer, like ZooKeeper's own jute.maxbuffer default: the
// election path holds a few small nodes.
const zkMaxPacket = 1 << 20

// zkDetector watches Mesos's leader election path in ZooKeeper.
type zkDetector struct {
	servers []string
	path    string
	scheme  string
	// timeout bounds one lookup of the leader; DefaultRequestTimeout when zero.
	timeout time.Duration

	mu      sync.Mutex
	conn    *zk.Conn
	leader  string
	changed chan struct{}
}

func newZKDetector(servers []string, path, scheme string) *zkDetector {
	return &zkDetector{servers: servers, path: path, scheme: scheme, changed: make(chan struct{})}
}

func (d *zkDetector) connect() (*zk.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil {
		return d.conn, nil
	}
	conn, _, err := zk.Connect(d.servers, 10*time.Second, zk.WithLogInfo(false), zk.WithLogger(nopLogger{}),
		zk.WithMaxBufferSize(zkMaxPacket))
	if err != nil {
		return nil, fmt.Errorf("connecting to ZooKeeper %s: %w", strings.Join(d.servers, ","), err)
	}
	d.conn = conn
	return conn, nil
}

// Leader reads the current leader and arms a watch that closes Changed when it changes.
// ctx is the lifetime of the watch; the lookup itself takes at most d.timeout.
func (d *zkDetector) Leader(ctx context.Context) (string, error) {
	conn, err := d.connect()
	if err != nil {
		return "", err
	}
	timeout := d.timeout
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	// The ZooKeeper client takes no context: a server that accepts connections and does
	// not answer would hold a lookup for a minute or more. The lookup goes on in the
	// background until the client gives up; its answer is then dropped.
	type found struct {
		leader string
		watch  <-chan zk.Event
		err    error
	}
	done := make(chan found, 1)
	go func() {
		leader, watch, err := d.lookup(conn)
		done <- found{leader, watch, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	var f found
	select {
	case f = <-done:
	case <-t.C:
		return "", fmt.Errorf("ZooKeeper %s did not answer within %s (RequestTimeout)", strings.Join(d.servers, ","), timeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if f.err != nil {
		return "", f.err
	}
	leader, watch := f.leader, f.watch
	d.mu.Lock()
	ch := d.changed
	d.leader = leader
	d.mu.Unlock()
	go func() {
		select {
		case <-watch:
			d.mu.Lock()
			if d.changed == ch {
				close(d.changed)
				d.changed = make(chan struct{})
			}
			d.mu.Unlock()
		case <-ctx.Done():
		}
	}()
	return leader, nil
}

// lookup reads the leader's URL and arms a watch on the election path.
func (d *zkDetector) lookup(conn *zk.Conn) (string, <-chan zk.Event, error) {
	children, _, watch, err := conn.ChildrenW(d.path)
	if err != nil {
		return "", nil, fmt.Errorf("reading %s in ZooKeeper: %w", d.path, err)
	}
	node, ok := LeaderFromZKNodes(children)
	if !ok {
		return "", nil, fmt.Errorf("no Mesos master is registered under %s in ZooKeeper", d.path)
	}
	data, _, err := conn.Get(d.path + "/" + node)
	if err != nil {
		return "", nil, fmt.Errorf("reading %s/%s in ZooKeeper: %w", d.path, node, err)
	}
	leader, err := MasterURLFromInfo(data, d.scheme)
	if err != nil {
		return "", nil, err
	}
	return leader, watch, nil
}

func (d *zkDetector) Failed(string) {}

func (d *zkDetector) Changed() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.changed
}

func (d *zkDetector) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil {
		d.conn.Close()
		d.conn = nil
	}
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
