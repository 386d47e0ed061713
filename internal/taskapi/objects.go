package taskapi

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	metatable "k8s.io/apimachinery/pkg/api/meta/table"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/taskstore"
)

// GroupVersion is the served API's group and version: a group of its own, since an
// APIService takes a whole group and version and mesos.k8sm.io/v1alpha1 is the CRDs'.
var GroupVersion = schema.GroupVersion{Group: "tasks.mesos.k8sm.io", Version: "v1alpha1"}

const (
	// Resource is the served resource; Kind its objects' kind.
	Resource = "mesostasks"
	Kind     = "MesosTask"
)

// groupResource names the served resource in the errors it answers.
var groupResource = schema.GroupResource{Group: GroupVersion.Group, Resource: Resource}

// served is mt as served: the served group's apiVersion, and the Store's revision as its
// resourceVersion. A shallow copy: the Store's objects are shared, and read only (and
// hold no managed fields).
func served(mt *mesosv1alpha1.MesosTask, rev uint64) *mesosv1alpha1.MesosTask {
	out := *mt
	out.TypeMeta = metav1.TypeMeta{APIVersion: GroupVersion.String(), Kind: Kind}
	out.ResourceVersion = strconv.FormatUint(rev, 10)
	return &out
}

// selector is what a list or watch selects: a namespace (empty: all), labels and fields.
type selector struct {
	namespace string
	labels    labels.Selector
	fields    fields.Selector
}

// selectable are the fields a field selector may name (taskstore.Fields), sorted.
var selectable = slices.Sorted(maps.Keys(taskstore.Fields(&mesosv1alpha1.MesosTask{})))

// parseSelector reads a request's namespace and selectors; an error names what is wrong.
func parseSelector(namespace, labelSelector, fieldSelector string) (selector, error) {
	sel := selector{namespace: namespace, labels: labels.Everything(), fields: fields.Everything()}
	if labelSelector != "" {
		l, err := labels.Parse(labelSelector)
		if err != nil {
			return sel, fmt.Errorf("unable to parse labelSelector: %w", err)
		}
		sel.labels = l
	}
	if fieldSelector != "" {
		f, err := fields.ParseSelector(fieldSelector)
		if err != nil {
			return sel, fmt.Errorf("unable to parse fieldSelector: %w", err)
		}
		for _, r := range f.Requirements() {
			if !slices.Contains(selectable, r.Field) {
				return sel, fmt.Errorf("%q is not a known field selector: only %s", r.Field, strings.Join(selectable, ", "))
			}
		}
		sel.fields = f
	}
	return sel, nil
}

func (s selector) matches(mt *mesosv1alpha1.MesosTask) bool {
	if s.namespace != "" && mt.Namespace != s.namespace {
		return false
	}
	if !s.labels.Empty() && !s.labels.Matches(labels.Set(mt.Labels)) {
		return false
	}
	return s.fields.Empty() || s.fields.Matches(taskstore.Fields(mt))
}

// columns are the MesosTask's printer columns, as its CRD declares them (a test holds
// the two alike), after the name.
var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Pod Phase", Type: "string"},
	{Name: "Mesos State", Type: "string"},
	{Name: "Agent", Type: "string"},
	{Name: "CPUs", Type: "string"},
	{Name: "Mem", Type: "string"},
	{Name: "Phase", Type: "string", Priority: 1},
	{Name: "Cluster", Type: "string", Priority: 1},
	{Name: "Task ID", Type: "string", Priority: 1},
	{Name: "Reason", Type: "string", Priority: 1},
	{Name: "Age", Type: "date"},
}

// cells are a MesosTask's row after its name, as the CRD's columns print it: an empty
// value is no value (nil), and the age human-readable.
func cells(mt *mesosv1alpha1.MesosTask, age string) []any {
	str := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	quantity := func(q *resource.Quantity) any {
		if q == nil {
			return nil
		}
		return q.String()
	}
	return []any{
		str(string(mt.Status.PodPhase)), str(mt.Status.MesosState), str(mt.Status.Hostname),
		quantity(mt.Spec.Resources.CPUs), quantity(mt.Spec.Resources.Memory),
		str(string(mt.Status.Phase)), str(mt.Spec.ClusterRef), str(mt.Spec.TaskID), str(mt.Status.Reason),
		age,
	}
}

// includeObject is what a Table's rows carry of their object.
type includeObject string

const (
	includeNone     includeObject = "None"
	includeMetadata includeObject = "Metadata"
	includeWhole    includeObject = "Object"
)

// table is the Table of objs (served already), with the column definitions unless
// noHeaders.
func table(objs []*mesosv1alpha1.MesosTask, rv string, include includeObject, noHeaders bool) (*metav1.Table, error) {
	t := &metav1.Table{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "Table"}}
	t.ResourceVersion = rv
	if !noHeaders {
		t.ColumnDefinitions = columns
	}
	t.Rows = make([]metav1.TableRow, 0, len(objs))
	for _, mt := range objs {
		rows, err := metatable.MetaToTableRow(mt, func(obj runtime.Object, m metav1.Object, name, age string) ([]any, error) {
			return append([]any{name}, cells(mt, age)...), nil
		})
		if err != nil {
			return nil, err
		}
		for i := range rows {
			switch include {
			case includeNone:
				rows[i].Object = runtime.RawExtension{}
			case includeMetadata:
				rows[i].Object = runtime.RawExtension{Object: partial(mt)}
			}
		}
		t.Rows = append(t.Rows, rows...)
	}
	return t, nil
}

// partial is mt's metadata alone.
func partial(mt *mesosv1alpha1.MesosTask) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"},
		ObjectMeta: mt.ObjectMeta,
	}
}
