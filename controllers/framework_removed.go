package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// frameworkRemoved says whether Mesos removed a cluster's framework: a Mesos operator
// tore it down, or its failover timeout passed while no manager was subscribed. Mesos has
// then killed every task of it, reports on none, and refuses each of its subscriptions
// ("Framework has been removed"): what the manager waits for (a task's end, a
// subscription to kill one) never comes. The cluster's Ready condition says so
// (ReasonFrameworkRemoved), written from its driver's refusal. Where a driver runs, it
// must say so too: one that subscribed since (a master that failed over forgets the
// frameworks it removed, and takes one back) runs the framework's tasks again, and one
// just made has not been refused yet. Where none runs yet (the manager just started),
// the condition, the last word heard from Mesos, stands: Mesos killed every task
// launched before the removal, and no task is launched but while subscribed. Any other
// refusal (the framework taken over, a role or principal refused) ends nothing: Mesos
// keeps the framework and its tasks. A cluster made again has a new framework, and a
// Ready condition of its own.
func frameworkRemoved(mc *mesosv1alpha1.MesosCluster, reg *scheduler.Registry) bool {
	ready := meta.FindStatusCondition(mc.Status.Conditions, mesosv1alpha1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != ReasonFrameworkRemoved {
		return false
	}
	d := reg.Driver(mc.Name)
	return d == nil || driverSaysRemoved(d.Status())
}

// driverSaysRemoved says whether a driver's status is that of a framework Mesos removed.
func driverSaysRemoved(s framework.Status) bool {
	return !s.Subscribed && isFrameworkRemoved(s.Refused)
}
