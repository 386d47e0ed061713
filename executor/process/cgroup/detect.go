package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Where a Manager finds the executor's own cgroups, and what it names its own.
const (
	// DefaultName is the cgroup the pods' cgroups hang from, below the executor's own.
	DefaultName = "k8sm"
	// executorLeaf is where, on v2, the executor's processes move so that its own
	// cgroup may give controllers to children (the no-internal-processes rule).
	executorLeaf = "k8sm-executor"
)

// v1Controllers are the v1 hierarchies a Manager uses: memory, cpu and pids enforce;
// cpuacct counts CPU time (it often shares the cpu hierarchy, "cpu,cpuacct").
var v1Controllers = []string{"memory", "cpu", "cpuacct", "pids"}

// v2Controllers are the v2 controllers a Manager enables for its cgroups.
var v2Controllers = []string{"memory", "cpu", "pids"}

type options struct {
	proc string // the process whose cgroups are the executor's: "/proc/self"
	name string // DefaultName
}

// Detect finds the executor's own cgroups (/proc/self/cgroup) and where they are
// mounted (/proc/self/mountinfo), and prepares the cgroup the pods' cgroups hang
// from, below the executor's own. It uses cgroup v2 where the executor's v2 cgroup
// offers the memory controller, else the v1 hierarchies (memory, cpu, cpuacct, pids)
// that it can create cgroups in. On v2, unless its cgroup is the root, it moves its
// own processes into a child cgroup first (k8sm-executor): a cgroup that gives
// controllers to its children may hold no process. The error says why nothing is
// usable; a Manager may still lack a controller (Unenforced says which limits then go
// unenforced, and why).
func Detect() (*Manager, error) {
	return detect(options{proc: "/proc/self", name: DefaultName})
}

func detect(o options) (*Manager, error) {
	cg, err := os.ReadFile(filepath.Join(o.proc, "cgroup"))
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	mi, err := os.ReadFile(filepath.Join(o.proc, "mountinfo"))
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	own := parseProcCgroup(string(cg))
	mounts := parseMountinfo(string(mi))
	var why []string
	var offered []string // by the executor's v2 cgroup v2dir
	var v2dir string
	var v2mount mount
	if p, isV2 := own[""]; isV2 {
		var ok bool
		if v2dir, v2mount, ok = v2Dir(mounts, p); ok {
			offered = readWords(filepath.Join(v2dir, "cgroup.controllers"))
			why = append(why, fmt.Sprintf("v2: the executor's cgroup %s offers %v", v2dir, offered))
		} else {
			why = append(why, fmt.Sprintf("v2: no cgroup2 mount shows the executor's cgroup %s", p))
		}
	}
	if contains(offered, "memory") {
		m, err := setupV2(v2dir, o.name)
		if err == nil {
			warnLocalEvents(m, v2mount)
		}
		return m, err
	}
	m, err := setupV1(mounts, own, o.name)
	if err == nil {
		return m, nil
	}
	// No memory controller anywhere; v2's cpu or pids are better than nothing.
	if contains(offered, "cpu") || contains(offered, "pids") {
		return setupV2(v2dir, o.name)
	}
	return nil, errors.New(strings.Join(append(why, err.Error()), "; "))
}

// warnLocalEvents warns of a v2 mount without memory_localevents: there an OOM in a
// pod's container counts in the memory.events of every cgroup above it too, the
// executor's included, and the Mesos agent's cgroups v2 memory isolator, which ends
// the executor's container when its memory.events counts an OOM, would take it for
// the executor's own and destroy it, pods and all.
func warnLocalEvents(m *Manager, mt mount) {
	if m.has("memory") && !contains(mt.options, "memory_localevents") {
		m.warnings = append(m.warnings, fmt.Sprintf("cgroup2 at %s is mounted without memory_localevents: "+
			"a container's OOM also counts as an OOM of every cgroup above it, "+
			"and a Mesos agent with cgroups v2 memory isolation ends the executor on such a count", mt.point))
	}
}

// v2Dir is the directory of the executor's v2 cgroup p, and its mount. After a Detect
// has moved the executor into its leaf, p is that leaf, and the executor's cgroup is
// its parent.
func v2Dir(mounts []mount, p string) (string, mount, bool) {
	for _, m := range mounts {
		if !m.v2 {
			continue
		}
		dir, ok := m.dirFor(p)
		if !ok {
			continue
		}
		if filepath.Base(dir) == executorLeaf {
			dir = filepath.Dir(dir)
		}
		return dir, m, true
	}
	return "", mount{}, false
}

// parseProcCgroup reads /proc/<pid>/cgroup ("id:controllers:path" lines) into each
// controller's path; the v2 path is under "". A path in a cgroup namespace that does
// not contain the cgroup starts with "/..": no mount shows it.
func parseProcCgroup(data string) map[string]string {
	own := map[string]string{}
	for _, line := range strings.Split(data, "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		p := strings.TrimSuffix(f[2], " (deleted)")
		if f[0] == "0" && f[1] == "" {
			own[""] = p
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c != "" {
				own[c] = p
			}
		}
	}
	return own
}

// mount is a cgroup filesystem mount from /proc/<pid>/mountinfo.
type mount struct {
	root, point string
	v2          bool
	// options are the superblock options: on v1, the hierarchy's controllers.
	options []string
}

// parseMountinfo reads the cgroup and cgroup2 mounts of /proc/<pid>/mountinfo:
// "id parent dev root point options [optional...] - fstype source superoptions".
func parseMountinfo(data string) []mount {
	var out []mount
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+3 >= len(f) || (f[sep+1] != "cgroup" && f[sep+1] != "cgroup2") {
			continue
		}
		out = append(out, mount{root: unescape(f[3]), point: unescape(f[4]), v2: f[sep+1] == "cgroup2",
			options: strings.Split(f[sep+3], ",")})
	}
	return out
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// dirFor is the directory that shows cgroup p in the mount: the mount point joined
// with p below the mount's root. A mount of another subtree (a container's bind mount
// of its own cgroup) does not show p, nor does any mount show a path outside the
// process's cgroup namespace ("/..").
func (m mount) dirFor(p string) (string, bool) {
	for _, e := range strings.Split(p, "/") {
		if e == ".." {
			return "", false
		}
	}
	p = path.Clean("/" + p)
	root := path.Clean("/" + m.root)
	if root != "/" && p != root && !strings.HasPrefix(p, root+"/") {
		return "", false
	}
	rel := strings.TrimPrefix(p, root)
	return filepath.Join(m.point, filepath.FromSlash(rel)), true
}

// hasController: a v1 mount of the hierarchy that holds controller c.
func (m mount) hasController(c string) bool { return !m.v2 && contains(m.options, c) }

// setupV1 makes the pods' parent cgroup in each v1 hierarchy the executor can create
// cgroups in; a controller it cannot use is recorded with the reason.
func setupV1(mounts []mount, own map[string]string, name string) (*Manager, error) {
	m := &Manager{version: V1, unusable: map[string]string{}}
	for _, c := range v1Controllers {
		base, err := v1Base(mounts, own, c, name)
		if err != nil {
			m.unusable[c] = err.Error()
			continue
		}
		if i := m.hierarchyAt(base); i >= 0 {
			m.hiers[i].controllers = append(m.hiers[i].controllers, c)
			continue
		}
		if err := mkdir(base); err != nil {
			m.unusable[c] = err.Error()
			continue
		}
		if c == "memory" {
			// A hierarchy whose root kept use_hierarchy 0 (old kernels without
			// systemd) would not charge the pods to the executor's cgroup, whose
			// limit the agent sets: ask for it where it is still allowed.
			_ = write(filepath.Join(base, "memory.use_hierarchy"), "1")
		}
		m.hiers = append(m.hiers, hierarchy{base: base, controllers: []string{c}})
	}
	if !m.has("memory") && !m.has("cpu") && !m.has("pids") {
		var why []string
		for _, c := range v1Controllers {
			why = append(why, fmt.Sprintf("v1 %s: %s", c, m.unusable[c]))
		}
		return nil, errors.New(strings.Join(why, "; "))
	}
	return m, nil
}

// v1Base is the pods' parent cgroup in the v1 hierarchy of controller c.
func v1Base(mounts []mount, own map[string]string, c, name string) (string, error) {
	p, ok := own[c]
	if !ok {
		return "", errors.New("the executor is in no cgroup of this controller")
	}
	for _, mt := range mounts {
		if !mt.hasController(c) {
			continue
		}
		if dir, ok := mt.dirFor(p); ok {
			return filepath.Join(dir, name), nil
		}
	}
	return "", fmt.Errorf("no mount of the hierarchy shows the executor's cgroup %s", p)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
