package mesossim

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
)

// RegisterInZK announces the master in ZooKeeper the way Mesos does: an ephemeral,
// sequential json.info_ node under the path of zkURL (zk://host:port[,host:port]/path)
// holding its MasterInfo as JSON. The returned func withdraws it (as a master that
// loses leadership or dies).
func (m *Master) RegisterInZK(zkURL string) (func(), error) {
	rest, ok := strings.CutPrefix(zkURL, "zk://")
	slash := strings.Index(rest, "/")
	if !ok || slash <= 0 {
		return nil, fmt.Errorf("%q is not zk://host:port/path", zkURL)
	}
	servers, path := strings.Split(rest[:slash], ","), strings.TrimRight(rest[slash:], "/")
	conn, _, err := zk.Connect(servers, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		return nil, err
	}
	// Create the path, parent by parent.
	p := ""
	for _, part := range strings.Split(strings.Trim(path, "/"), "/") {
		p += "/" + part
		if _, err := conn.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && err != zk.ErrNodeExists {
			conn.Close()
			return nil, fmt.Errorf("creating %s in ZooKeeper: %w", p, err)
		}
	}
	m.mu.Lock()
	port, hostname, ip := m.ln.Addr().(*net.TCPAddr).Port, m.hostname, m.ip.String()
	info := map[string]any{
		"id":       m.id,
		"hostname": hostname,
		"port":     port,
		"address":  map[string]any{"hostname": hostname, "ip": ip, "port": port},
		"version":  simVersion,
		"pid":      "master@" + net.JoinHostPort(ip, strconv.Itoa(port)),
	}
	m.mu.Unlock()
	data, _ := json.Marshal(info)
	if _, err := conn.Create(path+"/json.info_", data, zk.FlagEphemeral|zk.FlagSequence, zk.WorldACL(zk.PermAll)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("registering in ZooKeeper: %w", err)
	}
	return conn.Close, nil
}
