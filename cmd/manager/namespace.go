package main

import (
	"os"
	"strings"
)

const (
	// serviceAccountNamespaceFile is where Kubernetes mounts the namespace of a pod's
	// service account: the manager's own namespace when it runs in a cluster.
	serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
	// defaultNamespace is the manager's namespace outside a cluster: the one
	// config/default installs it into.
	defaultNamespace = "k8sm-system"
)

// managerNamespace is the namespace the manager reads Secrets from (its RBAC allows
// nothing else): --namespace when given, else its service account's namespace when it
// runs in a cluster (config/default's k8sm-system, or the namespace OLM installs it in),
// else k8sm-system.
func managerNamespace(flagValue, saFile string) string {
	if flagValue != "" {
		return flagValue
	}
	if b, err := os.ReadFile(saFile); err == nil {
		if ns := strings.TrimSpace(string(b)); ns != "" {
			return ns
		}
	}
	return defaultNamespace
}

// leaseNamespace is the namespace of the leader election Lease: --leader-election-namespace
// when given, else the manager's own (managerNamespace), where its leader election Role
// is. controller-runtime would take the service account's alone, and outside a cluster
// fail without the flag ("not running in-cluster").
func leaseNamespace(o options, saFile string) string {
	if o.leaderElectionNS != "" {
		return o.leaderElectionNS
	}
	return managerNamespace(o.namespace, saFile)
}
