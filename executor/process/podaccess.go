package process

import (
	"os"
	"slices"
)

// podUsers are the users the pod's containers run as (those whose settings resolved):
// its exec probes, hooks and exec sessions too, which run as their container.
func podUsers(inits, mains []resolved) []uint32 {
	var users []uint32
	for _, r := range append(slices.Clip(inits), mains...) {
		if r.err == nil && !slices.Contains(users, r.UID) {
			users = append(users, r.UID)
		}
	}
	slices.Sort(users)
	return users
}

// closePodDir makes the pod's directory in the sandbox (its containers' rootfs and
// volumes) reachable by the pod's own users and by the executor alone. A kubelet keeps
// /var/lib/kubelet/pods 0750 and shows each container only its own volumes, through a
// mount namespace; here the containers start in their rootfs, from which `..` leads up
// to every pod's directory. The directory is the executor's, mode 0700, with an access
// ACL that lets each other user of the pod pass through (search only: not list, not
// write): a user the pod does not run as, another pod's, is refused at its door. It
// says false where the filesystem takes no ACLs and another user of the pod needs
// through: the directory is left 0711 then (every user passes, none lists).
func closePodDir(dir string, users []uint32) (bool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	self := uint32(os.Geteuid())
	var others []uint32
	for _, u := range users {
		if u != self && u != 0 { // root passes anyway
			others = append(others, u)
		}
	}
	if len(others) == 0 {
		return true, os.Chmod(dir, 0o700)
	}
	return setSearchACL(dir, others)
}
