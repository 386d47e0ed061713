package main

import "sigs.k8s.io/controller-runtime/pkg/metrics/filters"

// authnAuthzFilter protects the metrics endpoint with the apiserver's TokenReview and
// SubjectAccessReview, so only callers allowed to GET /metrics read it.
var authnAuthzFilter = filters.WithAuthenticationAndAuthorization
