// Package kubeletapi serves the kubelet's HTTP API for the pods of one executor, so that
// the API server's `kubectl logs`, `exec`, `attach`, `port-forward` and metrics-server's
// scrapes (`kubectl top`) reach the pods the executor runs on its agent Node.
//
// Handler serves the kubelet's paths (/pods, /containerLogs, /exec, /attach,
// /portForward, /run, /healthz, /stats/summary, /metrics/resource) behind a Provider,
// which the executor's runtimes implement. Every request is authenticated (a client
// certificate of the configured CA, or a bearer token a TokenReviewer accepts) and
// authorized (nodes/<subresource> of the Node, asked of an Authorizer), with the
// kubelet's attributes, messages and caching. Server serves the Handler over TLS only.
//
// Exec, attach and port-forward use the kubelet's streaming code: the CRI streaming
// server's SPDY and WebSocket protocols (k8s.io/cri-streaming), and the kubelet's
// translation of WebSocket v5 (v5.channel.k8s.io) and of SPDY tunneled in WebSocket
// (k8s.io/apiserver/pkg/util/proxy), to an in-process SPDY endpoint as the kubelet
// translates to its runtime's.
package kubeletapi
