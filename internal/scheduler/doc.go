// Package scheduler is the framework scheduler of one MesosCluster: the heart of k8sm
// between the Kubernetes API and Mesos. Each file holds one job:
//
//   - scheduler.go: the Scheduler, its options and the framework callbacks (offers,
//     updates, subscription) that hand work to its loops;
//   - queue.go: the queue of pending tasks in kube-scheduler's order, with SUPPRESS
//     while it is empty and REVIVE when work arrives;
//   - offers.go: the offer loop: placement, then one ACCEPT per offer, declines, and
//     the Unschedulable explanations;
//   - launch.go: the launch record, written (or bound) before a task is sent, and what
//     an ACCEPT that failed leaves;
//   - updates.go: the update workers, one per shard of task ids so that a task's order
//     holds, that persist each update before acknowledging it;
//   - persist.go: the writes of an update to the MesosTask and the Pod;
//   - taskids.go: the task ids Mesos may still hold, whose launch again waits until
//     Mesos lets go of them;
//   - reconcile.go: explicit and implicit reconciliation with Mesos after each
//     subscription and every ReconcileInterval;
//   - registry.go: the per-cluster Registry of drivers and schedulers that the
//     reconcilers share.
//
// What a launch or an update means for MesosTask and Pod status is decided by the pure
// podtask package; this package reads and writes the API objects and speaks to Mesos.
package scheduler
