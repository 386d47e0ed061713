package mesossim

// The comparison behind transcript_test.go: a value recorded from Mesos 1.12, with
// placeholders for what changes from run to run, against what the sim answered.

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// placeholder matches a recorder's placeholder: <framework-id>, <offer-id-2>, <uuid>...
var placeholder = regexp.MustCompile(`<[a-z]+(?:-[a-z]+)*(?:-[0-9]+)?>`)

// bindable placeholders stand for one value throughout a transcript (ids): the first
// occurrence binds it, every later one must be the same. The others (<uuid>,
// <timestamp>, <ip>, ports, pids) match any value of any type, as the recorder
// replaced values of any type.
func bindable(p string) bool {
	for _, prefix := range []string{"<framework-id>", "<master-id>", "<agent-id-", "<offer-id-", "<container-id-", "<agent-hostname>", "<hostname>"} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// bindings are the values the sim gave the bindable placeholders.
type bindings map[string]string

func (b bindings) clone() bindings {
	c := make(bindings, len(b))
	for k, v := range b {
		c[k] = v
	}
	return c
}

// unordered names the arrays whose order Mesos does not define: an offer's resources
// come in the order its allocator's arithmetic leaves them (ports first in the
// recordings), which no scheduler may rely on (docs/mesos-mapping.md).
var unordered = map[string]bool{"resources": true}

// diff lists the differences between a recorded value and the sim's (both decoded with
// json.Decoder.UseNumber), binding placeholders in b as it goes.
func diff(path string, want, got any, b bindings) []string {
	switch w := want.(type) {
	case string:
		return diffString(path, w, got, b)
	case json.Number:
		g, ok := got.(json.Number)
		wf, _ := w.Float64()
		if gf, err := g.Float64(); !ok || err != nil || gf != wf {
			return []string{fmt.Sprintf("%s: %v, want %v", path, got, w)}
		}
	case map[string]any:
		return diffObject(path, w, got, b)
	case []any:
		return diffArray(path, w, got, b)
	default:
		if want != got {
			return []string{fmt.Sprintf("%s: %v, want %v", path, got, want)}
		}
	}
	return nil
}

func diffObject(path string, want map[string]any, got any, b bindings) []string {
	g, ok := got.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("%s: %T %v, want an object", path, got, got)}
	}
	var out []string
	for _, k := range sortedKeys(want) {
		if _, present := g[k]; !present {
			out = append(out, fmt.Sprintf("%s.%s: missing", path, k))
			continue
		}
		out = append(out, diff(path+"."+k, want[k], g[k], b)...)
	}
	for _, k := range sortedKeys(g) {
		if _, expected := want[k]; !expected {
			out = append(out, fmt.Sprintf("%s.%s: not in Mesos's answer (%v)", path, k, g[k]))
		}
	}
	return out
}

func diffArray(path string, want []any, got any, b bindings) []string {
	g, ok := got.([]any)
	if !ok || len(g) != len(want) {
		return []string{fmt.Sprintf("%s: %v, want %d elements %v", path, got, len(want), want)}
	}
	last := path[strings.LastIndex(path, ".")+1:]
	if !unordered[last] {
		var out []string
		for i := range want {
			out = append(out, diff(fmt.Sprintf("%s[%d]", path, i), want[i], g[i], b)...)
		}
		return out
	}
	used := make([]bool, len(g))
	for i, w := range want {
		found := false
		for j := range g {
			trial := b.clone()
			if !used[j] && len(diff(path, w, g[j], trial)) == 0 {
				used[j], found = true, true
				for k, v := range trial {
					b[k] = v
				}
				break
			}
		}
		if !found {
			return []string{fmt.Sprintf("%s[%d]: no element like %v in %v", path, i, w, g)}
		}
	}
	return nil
}

// diffString compares a recorded string, which may be or hold placeholders.
func diffString(path, want string, got any, b bindings) []string {
	if got == nil {
		return []string{fmt.Sprintf("%s: null, want %q", path, want)}
	}
	if placeholder.FindString(want) == want {
		if !bindable(want) {
			return nil // any value, of any type
		}
		g := scalarString(got)
		if v, ok := b[want]; ok && v != g {
			return []string{fmt.Sprintf("%s: %s is %q here, %q before", path, want, g, v)}
		}
		b[want] = g
		return nil
	}
	g, ok := got.(string)
	if !ok {
		return []string{fmt.Sprintf("%s: %v, want %q", path, got, want)}
	}
	if !strings.Contains(want, "<") {
		if g != want {
			return []string{fmt.Sprintf("%s: %q, want %q", path, g, want)}
		}
		return nil
	}
	return matchTemplate(path, want, g, b)
}

// matchTemplate matches a string with placeholders inside (e.g. a message naming the
// framework id) against the sim's.
func matchTemplate(path, want, got string, b bindings) []string {
	var re strings.Builder
	var groups []string
	re.WriteString("^")
	rest := want
	for {
		loc := placeholder.FindStringIndex(rest)
		if loc == nil {
			re.WriteString(regexp.QuoteMeta(rest))
			break
		}
		re.WriteString(regexp.QuoteMeta(rest[:loc[0]]))
		p := rest[loc[0]:loc[1]]
		if v, ok := b[p]; ok {
			re.WriteString(regexp.QuoteMeta(v))
		} else {
			re.WriteString("(.+?)")
			groups = append(groups, p)
		}
		rest = rest[loc[1]:]
	}
	re.WriteString("$")
	m := regexp.MustCompile(re.String()).FindStringSubmatch(got)
	if m == nil {
		return []string{fmt.Sprintf("%s: %q, want %q", path, got, want)}
	}
	for i, p := range groups {
		if bindable(p) {
			b[p] = m[i+1]
		}
	}
	return nil
}

func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	data, _ := json.Marshal(v)
	return string(data)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// substitute fills a recorded request with the values the sim gave its placeholders.
func substitute(v any, lookup func(string) string) any {
	switch x := v.(type) {
	case string:
		return placeholder.ReplaceAllStringFunc(x, lookup)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = substitute(e, lookup)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = substitute(e, lookup)
		}
		return out
	}
	return v
}

func decodeJSON(t testing.TB, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %q: %v", data, err)
	}
	return v
}

// TestTranscriptDiff: the comparison itself finds what differs — a compare that cannot
// fail would let every transcript spec pass.
func TestTranscriptDiff(t *testing.T) {
	for _, tc := range []struct {
		name, want, got string
		diffs           int
	}{
		{"same", `{"a":1,"b":"x"}`, `{"b":"x","a":1.0}`, 0},
		{"missing field", `{"a":1,"b":"x"}`, `{"a":1}`, 1},
		{"extra field", `{"a":1}`, `{"a":1,"c":true}`, 1},
		{"other value", `{"state":"TASK_LOST"}`, `{"state":"TASK_GONE"}`, 1},
		{"other number", `{"v":4.0}`, `{"v":3.9}`, 1},
		{"free placeholder takes any type", `{"t":"<timestamp>"}`, `{"t":1.5}`, 0},
		{"bound placeholder must repeat", `{"a":"<offer-id-1>","b":"<offer-id-1>"}`, `{"a":"o1","b":"o2"}`, 1},
		{"placeholder in a message", `{"a":"<framework-id>","m":"framework ID <framework-id>"}`, `{"a":"f1","m":"framework ID f2"}`, 1},
		{"unordered resources", `{"resources":[{"name":"cpus"},{"name":"mem"}]}`, `{"resources":[{"name":"mem"},{"name":"cpus"}]}`, 0},
		{"ordered elsewhere", `{"capabilities":[{"type":"A"},{"type":"B"}]}`, `{"capabilities":[{"type":"B"},{"type":"A"}]}`, 2},
		{"array length", `{"offers":[1]}`, `{"offers":[1,1]}`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := diff("$", decodeJSON(t, []byte(tc.want)), decodeJSON(t, []byte(tc.got)), bindings{})
			if len(got) != tc.diffs {
				t.Fatalf("diffs %q, want %d", got, tc.diffs)
			}
		})
	}
}
