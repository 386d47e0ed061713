// Package taskapi serves the manager's MesosTasks, read-only, as the aggregated API
// tasks.mesos.k8sm.io/v1alpha1: kube-apiserver proxies the group's requests to the
// manager (an APIService), which answers them from what it holds in memory
// (internal/taskstore), with no request to the API server but a SubjectAccessReview
// now and then.
//
// What it serves is what a client of a built-in resource expects of get, list and
// watch: discovery (legacy and aggregated), the objects as JSON, as a Table with the
// MesosTask's printer columns (kubectl get), as PartialObjectMetadata (metadata
// clients), label and field selectors, watches from a list's resourceVersion with
// bookmarks and initial events, and errors as Status objects. Resource versions are the
// Store's revisions (taskstore.Store.Follow), not the API server's. Anything else
// (create, update, patch, delete) is 405: the manager alone writes MesosTasks.
//
// Requests come through kube-apiserver's front proxy: its client certificate, verified
// against the request-header CA kube-apiserver publishes in
// kube-system/extension-apiserver-authentication, says the X-Remote-* headers name the
// user (FrontProxy). Each resource request is authorized by a SubjectAccessReview,
// answers cached for a few seconds (newAuthorizer).
package taskapi
