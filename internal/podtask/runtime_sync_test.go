package podtask_test

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/executor"
	"github.com/k8sm/k8sm/executor/kubelet"
	"github.com/k8sm/k8sm/executor/process"
	"github.com/k8sm/k8sm/internal/podtask"
)

// runtimeCase is a pod that asks one thing of a runtime.
type runtimeCase struct {
	name string
	pod  *corev1.Pod
}

// runtimeCases are pods that each ask one thing of the runtime: a volume of every
// source the API has, an env value of every source (each downward API field an env value
// may name), envFrom of each, in a container and an init container, a container without
// a command, probes of each kind, a container's own restartPolicy (each against each of
// the pod's) and restartPolicyRules, imagePullSecrets. The sources are read off the API
// types, so that a source Kubernetes adds is asked about too.
func runtimeCases() []runtimeCase {
	base := func() *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u-1"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"true"}}}}}
	}
	var cases []runtimeCase
	add := func(name string, change func(p *corev1.Pod)) {
		p := base()
		change(p)
		cases = append(cases, runtimeCase{name, p})
	}
	add("nothing asked", func(*corev1.Pod) {})
	eachSource(reflect.TypeFor[corev1.VolumeSource](), func(name string, set func(any)) {
		add("a "+name+" volume", func(p *corev1.Pod) {
			v := corev1.Volume{Name: "v"}
			set(&v.VolumeSource)
			p.Spec.Volumes = []corev1.Volume{v}
		})
	})
	add("the service account token volume", func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{{Name: "kube-api-access-x2k9", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}}}
	})
	add("a projected volume named like the token's", func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{{Name: "kube-api-access-x2k9", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ConfigMap: &corev1.ConfigMapProjection{}}}}}}}
	})
	for _, init := range []bool{false, true} {
		ctr := func(p *corev1.Pod) *corev1.Container {
			if init {
				p.Spec.InitContainers = []corev1.Container{{Name: "i", Image: "busybox", Command: []string{"true"}}}
				return &p.Spec.InitContainers[0]
			}
			return &p.Spec.Containers[0]
		}
		where := map[bool]string{false: "", true: " in an init container"}[init]
		eachSource(reflect.TypeFor[corev1.EnvVarSource](), func(name string, set func(any)) {
			if name == "fieldRef" {
				return
			}
			add("env from "+name+where, func(p *corev1.Pod) {
				src := &corev1.EnvVarSource{}
				set(src)
				ctr(p).Env = []corev1.EnvVar{{Name: "V", ValueFrom: src}}
			})
		})
		for _, path := range []string{"metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels['app']",
			"metadata.annotations['a']", "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs",
			"status.podIP", "status.podIPs"} {
			add("env from fieldRef "+path+where, func(p *corev1.Pod) {
				ctr(p).Env = []corev1.EnvVar{{Name: "V", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}}
			})
		}
		eachSource(reflect.TypeFor[corev1.EnvFromSource](), func(name string, set func(any)) {
			add("envFrom "+name+where, func(p *corev1.Pod) {
				src := corev1.EnvFromSource{}
				set(&src)
				ctr(p).EnvFrom = []corev1.EnvFromSource{src}
			})
		})
		add("a plain env value"+where, func(p *corev1.Pod) { ctr(p).Env = []corev1.EnvVar{{Name: "V", Value: "x"}} })
		add("no command"+where, func(p *corev1.Pod) { ctr(p).Command = nil })
		add("args without a command"+where, func(p *corev1.Pod) { c := ctr(p); c.Command, c.Args = nil, []string{"true"} })
		for _, podPolicy := range []corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever} {
			for _, own := range []corev1.ContainerRestartPolicy{corev1.ContainerRestartPolicyAlways,
				corev1.ContainerRestartPolicyOnFailure, corev1.ContainerRestartPolicyNever} {
				add("restartPolicy "+string(own)+" in a pod of restartPolicy "+string(podPolicy)+where, func(p *corev1.Pod) {
					p.Spec.RestartPolicy = podPolicy
					ctr(p).RestartPolicy = &own
				})
				add("restartPolicyRules with restartPolicy "+string(own)+" in a pod of restartPolicy "+string(podPolicy)+where, func(p *corev1.Pod) {
					p.Spec.RestartPolicy = podPolicy
					c := ctr(p)
					c.RestartPolicy = &own
					c.RestartPolicyRules = []corev1.ContainerRestartRule{{Action: corev1.ContainerRestartRuleActionRestart,
						ExitCodes: &corev1.ContainerRestartRuleOnExitCodes{Operator: corev1.ContainerRestartRuleOnExitCodesOpIn, Values: []int32{42}}}}
				})
			}
		}
		eachSource(reflect.TypeFor[corev1.ProbeHandler](), func(name string, set func(any)) {
			add("a "+name+" readiness probe"+where, func(p *corev1.Pod) {
				probe := &corev1.Probe{}
				set(&probe.ProbeHandler)
				ctr(p).ReadinessProbe = probe
			})
		})
	}
	add("imagePullSecrets", func(p *corev1.Pod) { p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "registry"}} })
	return cases
}

// eachSource calls f with each pointer field of a struct type (a volume's or env
// value's possible sources), by its JSON name, and a function that sets it to an empty
// value in a *T.
func eachSource(t reflect.Type, f func(name string, set func(any))) {
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Type.Kind() != reflect.Pointer || sf.Anonymous {
			continue
		}
		f(jsonName(sf), func(dst any) {
			reflect.ValueOf(dst).Elem().Field(i).Set(reflect.New(sf.Type.Elem()))
		})
	}
}

func jsonName(sf reflect.StructField) string {
	tag := sf.Tag.Get("json")
	for i := range len(tag) {
		if tag[i] == ',' {
			return tag[:i]
		}
	}
	return tag
}

// The manager refuses before queueing exactly the pods the executor would refuse on the
// agent, runtime by runtime: one it let through would be launched to fail, in a loop
// under a Deployment; one it refused that the executor runs would wait for nothing.
func TestCheckRuntimeRefusesWhatTheExecutorRefuses(t *testing.T) {
	for _, rt := range []struct {
		runtime  mesosv1alpha1.ExecutorRuntime
		executor func(*corev1.Pod) error
	}{
		{mesosv1alpha1.RuntimeProcess, func(p *corev1.Pod) error { return process.CheckPod(p) }},
		{mesosv1alpha1.RuntimeKubelet, func(p *corev1.Pod) error { _, err := kubelet.Manifest(p); return err }},
	} {
		supports := map[mesosv1alpha1.ExecutorRuntime]func(*corev1.Volume) bool{
			mesosv1alpha1.RuntimeProcess: (&process.Runtime{}).Supports, mesosv1alpha1.RuntimeKubelet: kubelet.Supported}[rt.runtime]
		for _, tc := range runtimeCases() {
			t.Run(string(rt.runtime)+"/"+tc.name, func(t *testing.T) {
				data, err := podtask.PodData(tc.pod, podtask.Security{Runtime: rt.runtime})
				if err != nil {
					t.Fatal(err)
				}
				pod, executorErr := executor.DecodePod(data, supports)
				if executorErr == nil {
					executorErr = rt.executor(pod)
				}
				managerErr := podtask.CheckRuntime(tc.pod, rt.runtime)
				if tc.name == "imagePullSecrets" && rt.runtime == mesosv1alpha1.RuntimeKubelet {
					// The manager refuses a pod's own, and lets through those of its
					// ServiceAccount, which the task leaves out: the executor never sees any.
					if managerErr == nil || executorErr != nil {
						t.Fatalf("the manager says %v, the executor %v; want the manager to refuse, and the task to have none", managerErr, executorErr)
					}
					return
				}
				if (managerErr == nil) != (executorErr == nil) {
					t.Fatalf("the manager says %v, the executor %v", managerErr, executorErr)
				}
			})
		}
	}
}
