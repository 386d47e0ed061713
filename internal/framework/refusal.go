package framework

import "strings"

// Reasons of Mesos's refusals that a person has to act on, besides
// ReasonSubscribeRefused for the others: the cluster's Subscribed condition and the
// disconnects' metric both show them (RefusalReason).
const (
	// ReasonFrameworkRemoved: Mesos removed the framework and killed its tasks (IsRemoved).
	ReasonFrameworkRemoved = "FrameworkRemoved"
	// ReasonFrameworkTakenOver: another scheduler subscribed as the framework (IsFailedOver).
	ReasonFrameworkTakenOver = "FrameworkTakenOver"
	// ReasonPrincipalChangeRefused: the framework subscribed with another principal than
	// it registered with, which a framework may never change (IsPrincipalChangeRefused).
	ReasonPrincipalChangeRefused = "PrincipalChangeRefused"
)

// removedMessage is Mesos's ERROR to a SUBSCRIBE with the id of a framework it removed
// (Master::validateFramework), in every version with the HTTP scheduler API.
const removedMessage = "Framework has been removed"

// IsRemoved says whether Mesos's ERROR message says that it removed the framework (its
// failover timeout passed, or it was torn down): unlike other refusals, which refuse one
// stream, Mesos says so again to every subscription of the framework, and it has killed
// every task of it. Only Mesos's own words count: a refusal that merely holds a word
// such as "removed" (a role's name, an authorizer's failure) may pass, and must not be
// taken for the end of every task.
func IsRemoved(msg string) bool { return strings.TrimSpace(msg) == removedMessage }

// IsFailedOver says whether Mesos's ERROR message says that another scheduler subscribed
// as the framework: Mesos ends the older subscription with "Framework failed over".
func IsFailedOver(msg string) bool { return strings.Contains(strings.ToLower(msg), "failed over") }

// IsPrincipalChangeRefused says whether Mesos's ERROR message refuses a framework that
// subscribes again with another principal than it registered with (validation.cpp,
// framework::validateUpdate).
func IsPrincipalChangeRefused(msg string) bool {
	return strings.Contains(msg, "Changing framework's principal is not allowed")
}

// RefusalReason is the reason of Mesos's ERROR message msg: one of the refusals above,
// else ReasonSubscribeRefused.
func RefusalReason(msg string) string {
	switch {
	case IsRemoved(msg):
		return ReasonFrameworkRemoved
	case IsPrincipalChangeRefused(msg):
		return ReasonPrincipalChangeRefused
	case IsFailedOver(msg):
		return ReasonFrameworkTakenOver
	}
	return ReasonSubscribeRefused
}
