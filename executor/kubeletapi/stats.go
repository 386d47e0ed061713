package kubeletapi

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// summary answers /stats/summary with the CPU and memory of the kubelet's Summary API
// (k8s.io/kubelet/pkg/apis/stats/v1alpha1), the part a runtime without cAdvisor has.
func (h *Handler) summary(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	st, err := h.stats(r.Context())
	if err != nil {
		h.log.Error(err, "HTTP InternalServerError serving", "request", "/stats/summary")
		writeText(w, http.StatusInternalServerError, fmt.Sprintf("Internal Error: %v", err))
		return
	}
	s := summaryJSON{Node: nodeJSON{NodeName: h.nodeName, StartTime: metav1.NewTime(st.Node.StartTime)}, Pods: []podJSON{}}
	s.Node.CPU, s.Node.Memory = usageJSON(st.Node.Usage)
	for _, p := range st.Pods {
		pj := podJSON{
			PodRef:     podRefJSON{Name: p.Name, Namespace: p.Namespace, UID: p.UID},
			StartTime:  metav1.NewTime(p.StartTime),
			Containers: []containerJSON{},
		}
		pj.CPU, pj.Memory = usageJSON(p.Usage)
		for _, c := range p.Containers {
			cj := containerJSON{Name: c.Name, StartTime: metav1.NewTime(c.StartTime)}
			cj.CPU, cj.Memory = usageJSON(c.Usage)
			pj.Containers = append(pj.Containers, cj)
		}
		s.Pods = append(s.Pods, pj)
	}
	writeJSON(w, h.log, s)
}

// The Summary API's JSON, the fields served.
type summaryJSON struct {
	Node nodeJSON  `json:"node"`
	Pods []podJSON `json:"pods"`
}

type nodeJSON struct {
	NodeName  string      `json:"nodeName"`
	StartTime metav1.Time `json:"startTime"`
	CPU       *cpuJSON    `json:"cpu,omitempty"`
	Memory    *memoryJSON `json:"memory,omitempty"`
}

type podJSON struct {
	PodRef     podRefJSON      `json:"podRef"`
	StartTime  metav1.Time     `json:"startTime"`
	Containers []containerJSON `json:"containers"`
	CPU        *cpuJSON        `json:"cpu,omitempty"`
	Memory     *memoryJSON     `json:"memory,omitempty"`
}

type podRefJSON struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	UID       string `json:"uid"`
}

type containerJSON struct {
	Name      string      `json:"name"`
	StartTime metav1.Time `json:"startTime"`
	CPU       *cpuJSON    `json:"cpu,omitempty"`
	Memory    *memoryJSON `json:"memory,omitempty"`
}

type cpuJSON struct {
	Time                 metav1.Time `json:"time"`
	UsageCoreNanoSeconds uint64      `json:"usageCoreNanoSeconds"`
}

type memoryJSON struct {
	Time            metav1.Time `json:"time"`
	WorkingSetBytes uint64      `json:"workingSetBytes"`
}

func usageJSON(u Usage) (*cpuJSON, *memoryJSON) {
	if u.Time.IsZero() {
		return nil, nil
	}
	t := metav1.NewTime(u.Time)
	return &cpuJSON{Time: t, UsageCoreNanoSeconds: u.CPUUsageNanoSeconds}, &memoryJSON{Time: t, WorkingSetBytes: u.MemoryWorkingSetBytes}
}

// resourceMetrics answers /metrics/resource as the kubelet's resource metrics collector
// does: what metrics-server scrapes for `kubectl top` and the HPA. CPU and memory
// samples carry their time, in milliseconds, as metrics-server reads them.
func (h *Handler) resourceMetrics(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet) {
		return
	}
	st, err := h.stats(r.Context())
	m := newPromText()
	if err != nil {
		h.log.Error(err, "Error getting summary for resourceMetric prometheus endpoint")
	} else {
		m.stats(st)
	}
	scrapeError := 0.0
	if err != nil {
		scrapeError = 1
	}
	m.add("resource_scrape_error", "gauge", "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise", "", scrapeError, time.Time{})
	m.add("scrape_error", "gauge", "[ALPHA] (Deprecated since 1.29.0) 1 if there was an error while getting container metrics, 0 otherwise", "", scrapeError, time.Time{})
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(m.bytes())
	logError(h.log, err, "Cannot write a response")
}

// The families of /metrics/resource, as the kubelet describes them.
var families = []struct{ name, typ, help string }{
	{"container_cpu_usage_seconds_total", "counter", "[STABLE] Cumulative cpu time consumed by the container in core-seconds"},
	{"container_memory_working_set_bytes", "gauge", "[STABLE] Current working set of the container in bytes"},
	{"container_start_time_seconds", "gauge", "[STABLE] Start time of the container since unix epoch in seconds"},
	{"node_cpu_usage_seconds_total", "counter", "[STABLE] Cumulative cpu time consumed by the node in core-seconds"},
	{"node_memory_working_set_bytes", "gauge", "[STABLE] Current working set of the node in bytes"},
	{"pod_cpu_usage_seconds_total", "counter", "[STABLE] Cumulative cpu time consumed by the pod in core-seconds"},
	{"pod_memory_working_set_bytes", "gauge", "[STABLE] Current working set of the pod in bytes"},
}

// stats adds the samples of st, the families in the order the kubelet's registry
// writes them (by name).
func (m *promText) stats(st Stats) {
	for _, f := range families {
		for _, s := range samples(f.name, st) {
			m.add(f.name, f.typ, f.help, s.labels, s.value, s.time)
		}
	}
}

type sample struct {
	labels string
	value  float64
	time   time.Time
}

func samples(family string, st Stats) []sample {
	var out []sample
	usage := func(labels string, u Usage) {
		if u.Time.IsZero() {
			return
		}
		if strings.HasSuffix(family, "_cpu_usage_seconds_total") {
			out = append(out, sample{labels, float64(u.CPUUsageNanoSeconds) / float64(time.Second), u.Time})
		} else {
			out = append(out, sample{labels, float64(u.MemoryWorkingSetBytes), u.Time})
		}
	}
	switch family {
	case "node_cpu_usage_seconds_total", "node_memory_working_set_bytes":
		usage("", st.Node.Usage)
	case "pod_cpu_usage_seconds_total", "pod_memory_working_set_bytes":
		for _, p := range st.Pods {
			usage(labels("namespace", p.Namespace, "pod", p.Name), p.Usage)
		}
	default:
		for _, p := range st.Pods {
			for _, c := range p.Containers {
				l := labels("container", c.Name, "namespace", p.Namespace, "pod", p.Name)
				if family != "container_start_time_seconds" {
					usage(l, c.Usage)
				} else if c.StartTime.Unix() > 0 {
					out = append(out, sample{l, float64(c.StartTime.UnixNano()) / float64(time.Second), time.Time{}})
				}
			}
		}
	}
	return out
}

// labels formats name/value pairs, given sorted by name as Prometheus writes them.
func labels(kv ...string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i])
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(kv[i+1]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

// promText writes the Prometheus text format (0.0.4).
type promText struct {
	buf  bytes.Buffer
	last string
}

func newPromText() *promText { return &promText{} }

func (m *promText) add(name, typ, help, labels string, value float64, t time.Time) {
	if name != m.last {
		fmt.Fprintf(&m.buf, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		m.last = name
	}
	m.buf.WriteString(name)
	m.buf.WriteString(labels)
	m.buf.WriteByte(' ')
	m.buf.WriteString(strconv.FormatFloat(value, 'g', -1, 64))
	if !t.IsZero() {
		m.buf.WriteByte(' ')
		m.buf.WriteString(strconv.FormatInt(t.UnixMilli(), 10))
	}
	m.buf.WriteByte('\n')
}

func (m *promText) bytes() []byte { return m.buf.Bytes() }
