package process

import (
	"errors"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// env is a container's environment: its values and the downward API fields a pod can
// use offline, one value per name; references to ConfigMaps, Secrets and resources are
// refused.
func (r *Runtime) env(p *corev1.Pod, c *corev1.Container) ([]string, error) {
	nodeName := p.Spec.NodeName
	if nodeName == "" {
		nodeName = r.NodeName
	}
	out := []string{"HOSTNAME=" + p.Name, "PATH=" + os.Getenv("PATH")}
	if len(c.EnvFrom) > 0 {
		return nil, errors.New("envFrom needs ConfigMaps or Secrets, which the process runtime cannot read")
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			out = setEnv(out, e.Name, expand(e.Value, out))
			continue
		}
		f := e.ValueFrom.FieldRef
		if f == nil {
			return nil, fmt.Errorf("%s: only fieldRef values are supported by the process runtime", e.Name)
		}
		var v string
		switch path := f.FieldPath; {
		case path == "metadata.name":
			v = p.Name
		case path == "metadata.namespace":
			v = p.Namespace
		case path == "metadata.uid":
			v = string(p.UID)
		case path == "spec.nodeName":
			v = nodeName
		case path == "spec.serviceAccountName":
			v = p.Spec.ServiceAccountName
		case path == "status.hostIP", path == "status.podIP":
			v = r.HostIP
		case strings.HasPrefix(path, "metadata.labels['"):
			v = p.Labels[strings.TrimSuffix(strings.TrimPrefix(path, "metadata.labels['"), "']")]
		case strings.HasPrefix(path, "metadata.annotations['"):
			v = p.Annotations[strings.TrimSuffix(strings.TrimPrefix(path, "metadata.annotations['"), "']")]
		default:
			return nil, fmt.Errorf("%s: fieldRef %s is not supported", e.Name, path)
		}
		out = setEnv(out, e.Name, v)
	}
	return out, nil
}

// setEnv sets name to value in env: in place of the value env has, as the kubelet and
// the container runtime let a later value replace an earlier one (getenv would find the
// first of two), else at the end.
func setEnv(env []string, name, value string) []string {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			env[i] = name + "=" + value
			return env
		}
	}
	return append(env, name+"="+value)
}

// expand replaces $(VAR) with the value of VAR, the last one of that name in env, as
// Kubernetes expands a container's command, args and env values: in one pass (a value
// is not expanded again), $$ making a literal $, and a reference to a variable env does
// not have, or one without its closing parenthesis, left as written.
func expand(s string, env []string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	vars := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 || i == len(s)-1 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i+1:]
		switch {
		case s[0] == '$':
			b.WriteByte('$')
			s = s[1:]
		case s[0] == '(' && strings.Contains(s, ")"):
			name, rest, _ := strings.Cut(s[1:], ")")
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			s = rest
		default:
			b.WriteByte('$')
		}
	}
}
