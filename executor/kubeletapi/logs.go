package kubeletapi

import (
	"fmt"
	"net/http"
	"net/url"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// containerLogs answers /containerLogs/{namespace}/{pod}/{container}, as the kubelet's
// getContainerLogs does.
func (h *Handler) containerLogs(w http.ResponseWriter, r *http.Request, namespace, pod, container string) {
	if !allowMethods(w, r, http.MethodGet) {
		return
	}
	opts, code, msg := parseLogOptions(r.URL.Query())
	if opts == nil {
		writeText(w, code, msg)
		return
	}
	p, found := h.findPod(namespace, pod, container)
	if p == nil {
		writeText(w, http.StatusNotFound, fmt.Sprintf("pod %q does not exist", pod))
		return
	}
	if !found {
		writeText(w, http.StatusNotFound, fmt.Sprintf("container %q not found in pod %q", container, pod))
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeText(w, http.StatusInternalServerError, fmt.Sprintf("unable to convert %T into http.Flusher, cannot show logs", w))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fw := &flushWriter{w: w, f: flusher}
	err := h.provider.ContainerLogs(r.Context(), namespace, pod, container, opts, fw)
	switch {
	case err == nil || r.Context().Err() != nil:
	case !fw.wrote:
		writeError(w, err, http.StatusBadRequest)
	default:
		// The log has begun: an error would be read as part of it.
		logError(h.log, err, "Cannot read a container log", "namespace", namespace, "pod", pod, "container", container)
	}
}

// flushWriter sends each write at once, as the kubelet's flushwriter does: a followed
// log is read as it is written.
type flushWriter struct {
	w     http.ResponseWriter
	f     http.Flusher
	wrote bool
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.wrote = true
	n, err := f.w.Write(p)
	f.f.Flush()
	return n, err
}

// parseLogOptions reads the query as the kubelet does: the legacy "tail" parameter,
// then the v1 PodLogOptions decoded with the legacy parameter codec, Stream defaulted
// to All (PodLogsQuerySplitStreams), and validated. nil options come with the status
// and the body to answer.
func parseLogOptions(query url.Values) (*corev1.PodLogOptions, int, string) {
	if tail := query.Get("tail"); len(tail) > 0 {
		query["tailLines"] = []string{tail}
		// "all" is the same as omitting tail.
		if tail == "all" {
			delete(query, "tailLines")
		}
	}
	opts := &corev1.PodLogOptions{}
	if err := decodeLogOptions(query, opts); err != nil {
		return nil, http.StatusBadRequest, `{"message": "Unable to decode query."}`
	}
	if opts.Stream == nil {
		opts.Stream = ptr.To(corev1.LogStreamAll)
	}
	if errs := validateLogOptions(opts); len(errs) > 0 {
		return nil, http.StatusUnprocessableEntity, `{"message": "Invalid request."}`
	}
	return opts, 0, ""
}

// decodeLogOptions is the conversion from url.Values to v1.PodLogOptions that the
// legacy parameter codec runs (generated in k8s.io/kubernetes/pkg/apis/core/v1): each
// field from the first value of its parameter, with apimachinery's converters.
func decodeLogOptions(in url.Values, out *corev1.PodLogOptions) error {
	if len(in) == 0 {
		return nil // The codec decodes nothing from no parameters.
	}
	str := func(name string, dst *string) error {
		if v, ok := in[name]; ok && len(v) > 0 {
			return runtime.Convert_Slice_string_To_string(&v, dst, nil)
		}
		return nil
	}
	boolean := func(name string, dst *bool) error {
		if v, ok := in[name]; ok && len(v) > 0 {
			return runtime.Convert_Slice_string_To_bool(&v, dst, nil)
		}
		return nil
	}
	int64p := func(name string, dst **int64) error {
		if v, ok := in[name]; ok && len(v) > 0 {
			return runtime.Convert_Slice_string_To_Pointer_int64(&v, dst, nil)
		}
		return nil
	}
	var sinceTime error
	if v, ok := in["sinceTime"]; ok && len(v) > 0 {
		sinceTime = metav1.Convert_Slice_string_To_Pointer_v1_Time(&v, &out.SinceTime, nil)
	}
	if v, ok := in["stream"]; ok && len(v) > 0 {
		out.Stream = ptr.To(v[0])
	}
	for _, err := range []error{
		str("container", &out.Container), boolean("follow", &out.Follow),
		boolean("previous", &out.Previous), int64p("sinceSeconds", &out.SinceSeconds),
		sinceTime, boolean("timestamps", &out.Timestamps), int64p("tailLines", &out.TailLines),
		int64p("limitBytes", &out.LimitBytes),
		boolean("insecureSkipTLSVerifyBackend", &out.InsecureSkipTLSVerifyBackend),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// validateLogOptions is the kubelet's ValidatePodLogOptions
// (k8s.io/kubernetes/pkg/apis/core/v1/validation).
func validateLogOptions(opts *corev1.PodLogOptions) field.ErrorList {
	var errs field.ErrorList
	if opts.TailLines != nil && *opts.TailLines < 0 {
		errs = append(errs, field.Invalid(field.NewPath("tailLines"), *opts.TailLines, "must be greater than or equal to 0"))
	}
	if opts.LimitBytes != nil && *opts.LimitBytes < 1 {
		errs = append(errs, field.Invalid(field.NewPath("limitBytes"), *opts.LimitBytes, "must be greater than 0"))
	}
	switch {
	case opts.SinceSeconds != nil && opts.SinceTime != nil:
		errs = append(errs, field.Forbidden(field.NewPath(""), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
	case opts.SinceSeconds != nil && *opts.SinceSeconds < 1:
		errs = append(errs, field.Invalid(field.NewPath("sinceSeconds"), *opts.SinceSeconds, "must be greater than 0"))
	}
	if opts.Stream != nil {
		switch *opts.Stream {
		case corev1.LogStreamAll, corev1.LogStreamStdout, corev1.LogStreamStderr:
		default:
			errs = append(errs, field.NotSupported(field.NewPath("stream"), *opts.Stream,
				[]string{corev1.LogStreamAll, corev1.LogStreamStdout, corev1.LogStreamStderr}))
		}
		if *opts.Stream != corev1.LogStreamAll && opts.TailLines != nil {
			errs = append(errs, field.Forbidden(field.NewPath(""), "`tailLines` and specific `stream` are mutually exclusive for now"))
		}
	}
	return errs
}
