package process

import (
	"encoding/binary"
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// The POSIX ACL xattr's layout (Linux's include/uapi/linux/posix_acl_xattr.h and
// posix_acl.h): a version, then entries of tag, permissions and id, sorted by tag and,
// among named users, by id.
const (
	aclXattr      = "system.posix_acl_access"
	aclVersion    = 2
	aclUserObj    = 0x01
	aclUser       = 0x02
	aclGroupObj   = 0x04
	aclMask       = 0x10
	aclOther      = 0x20
	aclUndefined  = 0xffffffff
	aclPermSearch = 0x1
	aclPermAll    = 0x7
)

// setSearchACL makes dir the owner's (rwx) and lets users, sorted, search it and nothing
// more; false, with the directory 0711, where the filesystem takes no ACLs.
func setSearchACL(dir string, users []uint32) (bool, error) {
	entry := func(b []byte, tag, perm uint16, id uint32) []byte {
		b = binary.LittleEndian.AppendUint16(b, tag)
		b = binary.LittleEndian.AppendUint16(b, perm)
		return binary.LittleEndian.AppendUint32(b, id)
	}
	b := binary.LittleEndian.AppendUint32(nil, aclVersion)
	b = entry(b, aclUserObj, aclPermAll, aclUndefined)
	for _, u := range users {
		b = entry(b, aclUser, aclPermSearch, u)
	}
	b = entry(b, aclGroupObj, 0, aclUndefined)
	b = entry(b, aclMask, aclPermSearch, aclUndefined)
	b = entry(b, aclOther, 0, aclUndefined)
	err := unix.Setxattr(dir, aclXattr, b, 0)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTSUP) {
		return false, os.Chmod(dir, 0o711)
	}
	return err == nil, err
}
