package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// apiRequests reads kube-apiserver's request counters (but for watches), keyed
// "VERB resource[/subresource]".
func apiRequests(ctx context.Context, cfg *rest.Config) (map[string]float64, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		end := strings.LastIndexByte(line, '}')
		if end < 0 {
			continue
		}
		labels := parseLabels(line[len("apiserver_request_total{"):end])
		if labels["verb"] == "WATCH" || labels["verb"] == "CONNECT" {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		if err != nil {
			continue
		}
		key := labels["verb"] + " " + labels["resource"]
		if sub := labels["subresource"]; sub != "" {
			key += "/" + sub
		}
		out[key] += v
	}
	return out, nil
}

// parseLabels splits a Prometheus label set (a="x",b="y") into a map.
func parseLabels(s string) map[string]string {
	m := map[string]string{}
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq < 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			break
		}
		name := strings.TrimLeft(s[:eq], ",")
		rest := s[eq+2:]
		end := strings.IndexByte(rest, '"')
		if end < 0 {
			break
		}
		m[name] = rest[:end]
		s = rest[end+1:]
	}
	return m
}

// diffCounts is after minus before, dropping what did not change.
func diffCounts(before, after map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for k, v := range after {
		if v-before[k] > 0 {
			d[k] = v - before[k]
		}
	}
	return d
}

// printPerPod prints counts per pod, by key, on the rest of a line.
func printPerPod(counts map[string]float64, pods int) {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("  %s %.2f", k, counts[k]/float64(pods))
	}
	fmt.Println()
}

// controlPlaneCPU is the CPU time of this process's kube-apiserver and etcd children.
type controlPlaneCPU struct{ api, etcd time.Duration }

func (c controlPlaneCPU) sub(o controlPlaneCPU) controlPlaneCPU {
	return controlPlaneCPU{c.api - o.api, c.etcd - o.etcd}
}

func (c controlPlaneCPU) total() time.Duration { return c.api + c.etcd }

func (c controlPlaneCPU) String() string {
	return fmt.Sprintf("%.2fs (kube-apiserver %.2fs, etcd %.2fs)", (c.api + c.etcd).Seconds(), c.api.Seconds(), c.etcd.Seconds())
}

// readControlPlaneCPU reads the CPU time kube-apiserver and etcd have used so far.
func readControlPlaneCPU() controlPlaneCPU {
	var total controlPlaneCPU
	self := os.Getpid()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := string(b)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < 0 {
			continue
		}
		comm := s[open+1 : closing]
		fields := strings.Fields(s[closing+2:])
		if len(fields) < 2 || (comm != "kube-apiserver" && comm != "etcd") {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid != self {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		if comm == "etcd" {
			total.etcd += procCPU(pid)
		} else {
			total.api += procCPU(pid)
		}
	}
	return total
}

// pprofURL is where a manager started with --pprof-bind-address serves a CPU profile.
func pprofURL(addr string, d time.Duration) string {
	return fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds()))
}

// freeLoopbackAddr is a loopback address with a port nothing listens on.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// fetchTo saves what a GET of url returns into file.
func fetchTo(url, file string) error {
	resp, err := http.Get(url) //nolint:gosec // a loopback address this program chose
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// apiserverProfile saves a CPU profile of kube-apiserver over d into file.
func apiserverProfile(ctx context.Context, cfg *rest.Config, d time.Duration, file string) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/debug/pprof/profile").
		Param("seconds", strconv.Itoa(int(d.Seconds()))).Timeout(d + time.Minute).DoRaw(ctx)
	if err != nil {
		return err
	}
	return os.WriteFile(file, raw, 0o600)
}

// summarize prints, over the rounds of -runs, the median and range of what each round
// printed, and the ratio each round took between k8sm and its peer of the same round.
func summarize(rounds []round) {
	fmt.Printf("\nover %d rounds: median (lowest–highest)\n", len(rounds))
	line := func(name string, pick func(round) result) {
		var rates, api, proc, rss []float64
		for _, r := range rounds {
			res := pick(r)
			if res.elapsed <= 0 {
				return
			}
			rates = append(rates, res.rate())
			api = append(api, perPod(res.apiCPU.total(), res.pods))
			proc = append(proc, perPod(res.cpu, res.pods))
			rss = append(rss, float64(res.rssKiB)/1024)
		}
		fmt.Printf("  %s: %s pods/s, kube-apiserver+etcd %s ms/pod, its own process %s ms/pod, peak RSS %s MiB\n",
			name, spread(rates, "%.1f"), spread(api, "%.1f"), spread(proc, "%.1f"), spread(rss, "%.0f"))
	}
	line("k8sm", func(r round) result { return r.ours })
	line("kube-scheduler alone", func(r round) result { return r.theirs })
	line("kube-scheduler + a kubelet's writes", func(r round) result { return r.withKubelets })
	line("kube-scheduler + a kubelet's requests", func(r round) result { return r.asKubelets })
	var ratios, realRatios []float64
	for _, r := range rounds {
		peer := r.withKubelets
		if peer.elapsed <= 0 {
			peer = r.theirs
		}
		if peer.elapsed <= 0 || r.ours.elapsed <= 0 {
			return
		}
		ratios = append(ratios, r.ours.rate()/peer.rate())
		if r.asKubelets.elapsed > 0 {
			realRatios = append(realRatios, r.ours.rate()/r.asKubelets.rate())
		}
	}
	fmt.Printf("  ratio, each round's k8sm ÷ its peer (%s): %s\n", rounds[0].peerName(), spread(ratios, "%.2f"))
	if len(realRatios) == len(rounds) {
		fmt.Printf("  ratio, each round's k8sm ÷ kube-scheduler + a kubelet's requests: %s\n", spread(realRatios, "%.2f"))
	}
}

// peerName is the peer a round's ratio is taken against.
func (r round) peerName() string {
	if r.withKubelets.elapsed > 0 {
		return "kube-scheduler + a kubelet's writes"
	}
	return "kube-scheduler alone"
}

// perPod is d per pod, in milliseconds.
func perPod(d time.Duration, pods int) float64 {
	return float64(d.Microseconds()) / 1000 / float64(pods)
}

// spread prints the median of vs and their range.
func spread(vs []float64, format string) string {
	return fmt.Sprintf(format+" ("+format+"–"+format+")", median(vs), slices.Min(vs), slices.Max(vs))
}

// median is the median of vs (of the middle two, their mean).
func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}
