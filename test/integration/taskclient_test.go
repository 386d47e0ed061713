package integration

import (
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/taskclient"
)

var _ = Describe("Creating a MesosTask without reading back the API server's copy", func() {
	BeforeEach(func() { skipInMemory("the MesosTasks in memory are not created through the API server") })

	It("fills in the metadata the API server set, stores what was sent, and keeps the API's errors", func() {
		ns := newNamespace()
		httpClient, err := rest.HTTPClientFor(testEnv.Config)
		Expect(err).NotTo(HaveOccurred())
		// What each create asked for and got back.
		var creates []string
		base := httpClient.Transport
		httpClient.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
			res, err := base.RoundTrip(r)
			if err == nil && r.Method == http.MethodPost {
				creates = append(creates, r.Header.Get("Accept")+" -> "+res.Header.Get("Content-Type"))
			}
			return res, err
		})
		c, err := taskclient.Wrap(k8sClient, testEnv.Config, httpClient)
		Expect(err).NotTo(HaveOccurred())

		// A pod no cluster takes, for the MesosTask to be of: the MesosTask controller
		// leaves such a task alone but for its finalizer.
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"},
			Spec: corev1.PodSpec{SchedulerName: "nobody", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		now := metav1.Now()
		cpus := resource.MustParse("250m")
		mt := &mesosv1alpha1.MesosTask{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p", Labels: map[string]string{"k": "v"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "p", UID: pod.UID, Controller: ptr.To(true)}}},
			Spec: mesosv1alpha1.MesosTaskSpec{ClusterRef: "none", PodUID: string(pod.UID), TaskID: "k8sm." + string(pod.UID),
				Resources: mesosv1alpha1.TaskResources{CPUs: &cpus}},
			Status: mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, MesosState: "TASK_RUNNING", AgentID: "a1",
				Hostname: "agent-1", StartedAt: &now, Conditions: []metav1.Condition{{Type: mesosv1alpha1.TaskConditionScheduled,
					Status: metav1.ConditionTrue, Reason: "Launched", Message: "Launched on agent agent-1", LastTransitionTime: now}}},
		}
		sent := mt.DeepCopy()
		Expect(c.Create(ctx, mt)).To(Succeed())
		Expect(creates).To(HaveLen(1))
		Expect(creates[0]).To(HavePrefix("application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"))
		Expect(creates[0]).To(HaveSuffix("-> application/vnd.kubernetes.protobuf"), "the metadata alone, as protobuf")
		Expect(mt.UID).NotTo(BeEmpty())
		Expect(mt.ResourceVersion).NotTo(BeEmpty())
		Expect(mt.CreationTimestamp.IsZero()).To(BeFalse())
		Expect(mt.Generation).To(Equal(int64(1)))
		Expect(mt.Labels).To(Equal(sent.Labels))
		Expect(mt.Spec).To(Equal(sent.Spec), "the object keeps what was sent")
		Expect(mt.Status).To(Equal(sent.Status))

		stored := &mesosv1alpha1.MesosTask{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(mt), stored)).To(Succeed())
		Expect(stored.UID).To(Equal(mt.UID))
		Expect(equality.Semantic.DeepEqual(stored.Spec, sent.Spec)).To(BeTrue(), "stored spec %+v, sent %+v", stored.Spec, sent.Spec)
		Expect(stored.Status.Phase).To(Equal(sent.Status.Phase))
		Expect(stored.Status.Hostname).To(Equal(sent.Status.Hostname))
		Expect(stored.Status.Conditions).To(HaveLen(1))
		Expect(stored.Status.Conditions[0].Message).To(Equal(sent.Status.Conditions[0].Message))

		again := sent.DeepCopy()
		err = c.Create(ctx, again)
		Expect(apierrors.IsAlreadyExists(err)).To(BeTrue(), "want AlreadyExists, got %v", err)
		invalid := sent.DeepCopy()
		invalid.Name, invalid.Spec.TaskID = "q", ""
		err = c.Create(ctx, invalid)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)

		// Anything else goes to the client wrapped, which reads the answer back.
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cm"}, Data: map[string]string{"a": "b"}}
		Expect(c.Create(ctx, cm)).To(Succeed())
		Expect(cm.UID).NotTo(BeEmpty())
	})
})

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
