package kubeletapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var (
	sampled = time.Date(2026, 1, 2, 15, 4, 5, 123e6, time.UTC)
	started = time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
)

func testStats() Stats {
	return Stats{
		Node: NodeStats{StartTime: started, Usage: Usage{Time: sampled, CPUUsageNanoSeconds: 12_500_000_000, MemoryWorkingSetBytes: 1 << 30}},
		Pods: []PodStats{{
			Namespace: "ns", Name: "web", UID: "uid-1", StartTime: started,
			Usage: Usage{Time: sampled, CPUUsageNanoSeconds: 3_000_000_000, MemoryWorkingSetBytes: 3 << 20},
			Containers: []ContainerStats{
				{Name: "app", StartTime: started, Usage: Usage{Time: sampled, CPUUsageNanoSeconds: 2_000_000_000, MemoryWorkingSetBytes: 2 << 20}},
				{Name: "side", StartTime: started, Usage: Usage{Time: sampled, CPUUsageNanoSeconds: 1_000_000_000, MemoryWorkingSetBytes: 1 << 20}},
				// Not sampled yet: left out, as the kubelet leaves out what it lacks.
				{Name: "new"},
			},
		}},
	}
}

// TestResourceMetrics reads /metrics/resource as Prometheus text, with what
// metrics-server reads: the names, the container/pod/namespace labels, seconds of CPU,
// bytes of memory, and the sample times in milliseconds.
func TestResourceMetrics(t *testing.T) {
	s := startServer(t)
	admin := s.clientCA.client(t, "admin")
	s.provider.stats = testStats()
	resp, err := s.client(&admin).Get(s.url + "/metrics/resource")
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	body := readBody(t, resp)
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("not Prometheus text: %v\n%s", err, body)
	}
	ms := sampled.UnixMilli()
	for _, tc := range []struct {
		family string
		typ    dto.MetricType
		labels string
		value  float64
		time   int64
	}{
		{"node_cpu_usage_seconds_total", dto.MetricType_COUNTER, "", 12.5, ms},
		{"node_memory_working_set_bytes", dto.MetricType_GAUGE, "", 1 << 30, ms},
		{"pod_cpu_usage_seconds_total", dto.MetricType_COUNTER, "namespace=ns,pod=web", 3, ms},
		{"pod_memory_working_set_bytes", dto.MetricType_GAUGE, "namespace=ns,pod=web", 3 << 20, ms},
		{"container_cpu_usage_seconds_total", dto.MetricType_COUNTER, "container=app,namespace=ns,pod=web", 2, ms},
		{"container_cpu_usage_seconds_total", dto.MetricType_COUNTER, "container=side,namespace=ns,pod=web", 1, ms},
		{"container_memory_working_set_bytes", dto.MetricType_GAUGE, "container=app,namespace=ns,pod=web", 2 << 20, ms},
		{"container_start_time_seconds", dto.MetricType_GAUGE, "container=app,namespace=ns,pod=web", float64(started.Unix()), 0},
		{"scrape_error", dto.MetricType_GAUGE, "", 0, 0},
		{"resource_scrape_error", dto.MetricType_GAUGE, "", 0, 0},
	} {
		f := families[tc.family]
		if f == nil || f.GetType() != tc.typ {
			t.Errorf("%s: family %v, want of type %v", tc.family, f, tc.typ)
			continue
		}
		m := findMetric(f, tc.labels)
		if m == nil {
			t.Errorf("%s{%s}: missing", tc.family, tc.labels)
			continue
		}
		value := m.GetGauge().GetValue()
		if tc.typ == dto.MetricType_COUNTER {
			value = m.GetCounter().GetValue()
		}
		if value != tc.value || m.GetTimestampMs() != tc.time {
			t.Errorf("%s{%s} = %v @%d, want %v @%d", tc.family, tc.labels, value, m.GetTimestampMs(), tc.value, tc.time)
		}
	}
	if n := len(families["container_cpu_usage_seconds_total"].GetMetric()); n != 2 {
		t.Errorf("%d container CPU samples, want 2 (the container not sampled left out)", n)
	}
	if !strings.Contains(body, "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds\n") {
		t.Errorf("the kubelet's help text missing:\n%s", body)
	}
}

func findMetric(f *dto.MetricFamily, labels string) *dto.Metric {
	for _, m := range f.GetMetric() {
		var kv []string
		for _, l := range m.GetLabel() {
			kv = append(kv, l.GetName()+"="+l.GetValue())
		}
		if strings.Join(kv, ",") == labels {
			return m
		}
	}
	return nil
}

func TestResourceMetricsError(t *testing.T) {
	s := startServer(t)
	admin := s.clientCA.client(t, "admin")
	s.provider.stats, s.provider.statsErr = testStats(), errors.New("no cgroup")
	code, body := s.do(t, s.client(&admin), http.MethodGet, "/metrics/resource", "")
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if code != 200 || err != nil {
		t.Fatalf("%d, %v", code, err)
	}
	if len(families) != 2 || families["scrape_error"].GetMetric()[0].GetGauge().GetValue() != 1 ||
		families["resource_scrape_error"].GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Errorf("want only the scrape errors, at 1:\n%s", body)
	}
}

func TestLabelEscaping(t *testing.T) {
	if got, want := labels("a", `x"y\z`+"\n"), `{a="x\"y\\z\n"}`; got != want {
		t.Errorf("labels = %s, want %s", got, want)
	}
}

func TestSummary(t *testing.T) {
	s := startServer(t)
	admin := s.clientCA.client(t, "admin")
	s.provider.stats = testStats()
	code, body := s.do(t, s.client(&admin), http.MethodGet, "/stats/summary", "")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	_ = json.Unmarshal([]byte(`{
		"node": {"nodeName": "agent-1", "startTime": "2026-01-02T15:00:00Z",
			"cpu": {"time": "2026-01-02T15:04:05Z", "usageCoreNanoSeconds": 12500000000},
			"memory": {"time": "2026-01-02T15:04:05Z", "workingSetBytes": 1073741824}},
		"pods": [{"podRef": {"name": "web", "namespace": "ns", "uid": "uid-1"}, "startTime": "2026-01-02T15:00:00Z",
			"cpu": {"time": "2026-01-02T15:04:05Z", "usageCoreNanoSeconds": 3000000000},
			"memory": {"time": "2026-01-02T15:04:05Z", "workingSetBytes": 3145728},
			"containers": [
				{"name": "app", "startTime": "2026-01-02T15:00:00Z",
					"cpu": {"time": "2026-01-02T15:04:05Z", "usageCoreNanoSeconds": 2000000000},
					"memory": {"time": "2026-01-02T15:04:05Z", "workingSetBytes": 2097152}},
				{"name": "side", "startTime": "2026-01-02T15:00:00Z",
					"cpu": {"time": "2026-01-02T15:04:05Z", "usageCoreNanoSeconds": 1000000000},
					"memory": {"time": "2026-01-02T15:04:05Z", "workingSetBytes": 1048576}},
				{"name": "new", "startTime": null}]}]}`), &want)
	if g, w := mustJSON(got), mustJSON(want); g != w {
		t.Errorf("summary\n%s\nwant\n%s", g, w)
	}
	s.provider.statsErr = errors.New("no cgroup")
	if code, body := s.do(t, s.client(&admin), http.MethodGet, "/stats/summary", ""); code != 500 || body != "Internal Error: no cgroup" {
		t.Errorf("with an error: %d %q", code, body)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
