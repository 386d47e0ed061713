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
	// Changed is closed once the leader is another than the one Leader returned last (a
	// master that joins or leaves the election without leading is no change); only
	// Leader hands out a new channel. Nil if the leader never changes.
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
		// The scheduler API is at /api/v1/scheduler on the master's host:port, as
		// libprocess serves it: anything else in the URL would be dropped, and the
		// framework subscribe elsewhere than the URL says.
		if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
			return nil, fmt.Errorf("master %q is not an http(s)://host:port URL: a master is reached at its host and port, with no path", m)
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

// zkDetector watches Mesos's leader election path in ZooKeeper as Mesos's own detector
// does (src/zookeeper/detector.cpp): the leader is the json.info_ node of the lowest
// sequence, and only another leader is a change. Standby masters join and leave the
// path, and this process's ZooKeeper session may expire, while the leader stays: its
// subscription goes on.
type zkDetector struct {
	servers []string
	path    string
	scheme  string
	// timeout bounds one lookup of the leader; DefaultRequestTimeout when zero.
	timeout time.Duration

	mu   sync.Mutex
	conn *zk.Conn
	// watching is set while a watch of the path keeps seen current (watch); Leader then
	// reads the leader there.
	watching bool
	// seen is the leader as last read, given the one Leader returned last; changed is
	// closed (signalled) once seen is another.
	seen, given zkLeader
	changed     chan struct{}
	signalled   bool
}

// zkLeader is the leader as read from the election path.
type zkLeader struct {
	// node is the leading json.info_ node, empty when no master is registered.
	node string
	url  string
	// err says why there is no url.
	err error
	// version is the path's child version (Stat.Cversion) it was read at.
	version int32
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

// Leader returns the current leader. The first call reads it and starts the one watch of
// the election path, which keeps it current until ctx ends; later calls return what the
// watch saw, or read it again when that was no leader. A lookup takes at most d.timeout.
func (d *zkDetector) Leader(ctx context.Context) (string, error) {
	d.mu.Lock()
	if d.watching && d.seen.err == nil {
		defer d.mu.Unlock()
		return d.handOutLocked(), nil
	}
	arm := !d.watching
	d.mu.Unlock()
	conn, found, watch, err := d.lookupWithin(ctx, arm)
	if err != nil {
		return "", err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if watch != nil && !d.watching {
		d.watching = true
		go d.watch(ctx, conn, watch)
	}
	d.sawLocked(found, false)
	if d.seen.err != nil {
		return "", d.seen.err
	}
	return d.handOutLocked(), nil
}

// lookupWithin reads the leader (arming a watch of the path with arm) within d.timeout.
// The ZooKeeper client takes no context: a server that accepts connections and does not
// answer would hold a lookup for a minute or more. The lookup goes on in the background
// until the client gives up; its answer is then dropped.
func (d *zkDetector) lookupWithin(ctx context.Context, arm bool) (*zk.Conn, zkLeader, <-chan zk.Event, error) {
	conn, err := d.connect()
	if err != nil {
		return nil, zkLeader{}, nil, err
	}
	timeout := d.timeout
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	type answer struct {
		found zkLeader
		watch <-chan zk.Event
		err   error
	}
	done := make(chan answer, 1)
	go func() {
		found, watch, err := d.lookup(conn, arm)
		done <- answer{found, watch, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case a := <-done:
		return conn, a.found, a.watch, a.err
	case <-t.C:
		return nil, zkLeader{}, nil, fmt.Errorf("ZooKeeper %s did not answer within %s (RequestTimeout)", strings.Join(d.servers, ","), timeout)
	case <-ctx.Done():
		return nil, zkLeader{}, nil, ctx.Err()
	}
}

// lookup reads the leader, and with arm watches the path for its next change. It fails
// when the path cannot be read; a path without a leader, or whose leader cannot be read,
// is a zkLeader with err.
func (d *zkDetector) lookup(conn *zk.Conn, arm bool) (zkLeader, <-chan zk.Event, error) {
	var children []string
	var stat *zk.Stat
	var watch <-chan zk.Event
	var err error
	if arm {
		children, stat, watch, err = conn.ChildrenW(d.path)
	} else {
		children, stat, err = conn.Children(d.path)
	}
	if err != nil {
		return zkLeader{}, nil, fmt.Errorf("reading %s in ZooKeeper: %w", d.path, err)
	}
	found := zkLeader{version: stat.Cversion}
	node, ok := LeaderFromZKNodes(children)
	if !ok {
		found.err = fmt.Errorf("no Mesos master is registered under %s in ZooKeeper", d.path)
		return found, watch, nil
	}
	found.node = node
	data, _, err := conn.Get(d.path + "/" + node)
	if err != nil {
		found.err = fmt.Errorf("reading %s/%s in ZooKeeper: %w", d.path, node, err)
		return found, watch, nil
	}
	found.url, found.err = MasterURLFromInfo(data, d.scheme)
	return found, watch, nil
}

// watch keeps seen current until ctx ends or the detector is closed: at each change of
// the election path it reads the leader again, watching the path anew, and signals
// another leader. While the path cannot be read (ZooKeeper is away, or the session
// expired) it tries again, and the last leader seen stays, as in Mesos.
func (d *zkDetector) watch(ctx context.Context, conn *zk.Conn, ev <-chan zk.Event) {
	defer func() {
		d.mu.Lock()
		d.watching = false
		d.mu.Unlock()
	}()
	var retry time.Duration
	for {
		var again <-chan time.Time
		if ev == nil {
			again = time.After(retry)
		}
		select {
		case <-ctx.Done():
			return
		case <-ev:
		case <-again:
		}
		if d.closed(conn) {
			return
		}
		found, next, err := d.lookup(conn, true)
		if err != nil {
			ev, retry = nil, min(max(2*retry, 100*time.Millisecond), 10*time.Second)
			continue
		}
		ev, retry = next, 0
		d.mu.Lock()
		d.sawLocked(found, true)
		d.mu.Unlock()
	}
}

// closed says whether the detector no longer uses conn (Close).
func (d *zkDetector) closed(conn *zk.Conn) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.conn != conn
}

// sawLocked records a reading of the leader, and signals another leader than the one
// handed out. The watch's readings come in order; a lookup of Leader's done meanwhile
// counts unless it is older. d.mu is held.
func (d *zkDetector) sawLocked(found zkLeader, fromWatch bool) {
	if !fromWatch && found.version < d.seen.version {
		return
	}
	d.seen = found
	if found.node != d.given.node && !d.signalled {
		close(d.changed)
		d.signalled = true
	}
}

// handOutLocked hands out the leader seen, with a new Changed channel once the last one
// was closed. d.mu is held.
func (d *zkDetector) handOutLocked() string {
	if d.signalled {
		d.changed, d.signalled = make(chan struct{}), false
	}
	d.given = d.seen
	return d.seen.url
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
