// Package disk prepares a node's data disk over SSH, the way a DBA would
// by hand, for every engine: the disk is found by its platform's stable
// path (a UUID, a LUN, a device name: never a device letter), formatted
// once (XFS, only when it holds no signature and no data), mounted by UUID
// at the node's directory with noatime and recorded in /etc/fstab (so it
// comes back after a reboot), and its filesystem grown online when the disk
// grows. A disk that already holds a filesystem other than the one this
// package made, or data it cannot identify, is refused, never formatted.
//
// A whole-disk filesystem, without a partition table: growing the disk is
// then one xfs_growfs, with no partition to move first (growpart). XFS, not
// ext4: it grows online with CAP_SYS_ADMIN alone (ext4 also needs
// CAP_SYS_RESOURCE, which some hosts withhold), and it is what RHEL and
// most PostgreSQL deployment guides choose for data volumes.
package disk

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/quorumdb/quorum/internal/engine/host"
)

// Label marks the filesystems this package makes: a disk holding an ext4
// filesystem with another label is someone else's and is refused.
const Label = "quorum-data"

// Step is the name of the step in a role's log.
const Step = "prepare data disk"

// ExitRefused is the exit code of a refusal (wrong disk, missing disk, data
// in the way): the message says what to do.
const ExitRefused = 3

// Script is the shell that prepares device and mounts it at mountPoint.
// It prints one line: "<device> <uuid> <bytes of the filesystem>".
func Script(device, mountPoint string) string {
	return fmt.Sprintf(`set -eu
dev=%[1]s
mnt=%[2]s
refuse() { echo "$*" >&2; exit %[4]d; }
[ -e "$dev" ] || refuse "data disk $dev not found on this host: the VM has no such disk attached (yet)"
real=$(readlink -f "$dev")
[ -b "$real" ] || refuse "data disk $dev is $real, not a block device"
%[5]s
if ! command -v mkfs.xfs >/dev/null; then
  [ -z "${QUORUM_SHARED_HOST:-}" ] || refuse "xfsprogs is not installed, and this host shares its binaries with others (local datacenter): install it on the machine itself"
  if command -v apt-get >/dev/null; then DEBIAN_FRONTEND=noninteractive apt-get install -y -q xfsprogs >/dev/null; else dnf install -y -q xfsprogs >/dev/null; fi
fi
if src=$(findmnt -n -o SOURCE --mountpoint "$mnt"); then
  [ "$(readlink -f "$src")" = "$real" ] || refuse "$mnt is mounted from $src, not from the data disk $dev ($real): unmount it"
else
  mkdir -p "$mnt"
  [ -z "$(ls -A "$mnt")" ] || refuse "$mnt on the OS disk is not empty: the data disk would hide what is there; move it away first"
  fstype=$(blkid -p -o value -s TYPE "$real" 2>/dev/null || true)
  if [ -z "$fstype" ]; then
    # Nothing blkid knows (filesystem, partition table, LVM, RAID): format
    # only if the start of the disk is zeros, as a new disk's is.
    [ -z "$(wipefs --noheadings "$real" 2>/dev/null)" ] || refuse "data disk $dev holds a signature ($(wipefs --noheadings "$real" | head -1)): refusing to format it"
    [ "$(head -c 4194304 "$real" | tr -d '\000' | wc -c)" -eq 0 ] || refuse "data disk $dev holds data but no filesystem: refusing to format it"
    mkfs.xfs -q -L %[3]s "$real"
    fstype=xfs
  fi
  [ "$fstype" = xfs ] || refuse "data disk $dev holds a $fstype filesystem, not one this node made: refusing to format or mount it"
  [ "$(blkid -p -o value -s LABEL "$real" 2>/dev/null || true)" = %[3]s ] || refuse "data disk $dev holds an XFS filesystem labelled '$(blkid -p -o value -s LABEL "$real" 2>/dev/null || true)', not %[3]s: refusing to mount someone else's filesystem"
  uuid=$(blkid -p -o value -s UUID "$real")
  # By UUID in fstab: the mount comes back after a reboot whatever the
  # disk's device name; nofail so a missing disk does not stop the boot
  # (the node then refuses to start on the OS disk).
  line="UUID=$uuid $mnt xfs defaults,noatime,nofail 0 0"
  touch /etc/fstab
  { grep -v "[[:space:]]$mnt[[:space:]]" /etc/fstab || true; echo "$line"; } > /etc/fstab.quorum
  if cmp -s /etc/fstab /etc/fstab.quorum; then rm -f /etc/fstab.quorum; else cat /etc/fstab.quorum > /etc/fstab; rm -f /etc/fstab.quorum; fi
  mount "$mnt"
fi
uuid=$(blkid -p -o value -s UUID "$real")
# Online growth: the disk grew under a mounted filesystem.
if [ "$(blockdev --getsize64 "$real")" -gt "$(( $(fs_bytes) + 1048576 ))" ]; then
  out=$(xfs_growfs "$mnt" 2>&1) || refuse "cannot grow the filesystem on $dev: $(echo "$out" | tail -1)"
fi
echo "$real $uuid $(fs_bytes)"
`, host.Quote(device), host.Quote(mountPoint), Label, ExitRefused, fsBytes)
}

// fsBytes is a shell function printing the size of the XFS filesystem
// mounted at $mnt.
const fsBytes = `fs_bytes() { xfs_info "$mnt" | sed -n 's/^data *= *bsize=\([0-9]*\) *blocks=\([0-9]*\).*/\1 \2/p' | { read -r b n; echo $((b * n)); }; }`

// Check is a shell fragment for a role's drift check: it prints
// disk-unmounted when the data disk is not mounted at mountPoint, disk-grown
// when the disk is larger than its filesystem, else disk-ok.
func Check(device, mountPoint string) string {
	return fmt.Sprintf(`( dev=%s; mnt=%s; %s
real=$(readlink -f "$dev" 2>/dev/null); src=$(findmnt -n -o SOURCE --mountpoint "$mnt" 2>/dev/null || true)
if [ -z "$src" ] || [ "$(readlink -f "$src")" != "$real" ]; then echo disk-unmounted
elif [ "$(blockdev --getsize64 "$real")" -gt "$(( $(fs_bytes) + 1048576 ))" ]; then echo disk-grown
else echo disk-ok; fi )`, host.Quote(device), host.Quote(mountPoint), fsBytes)
}

// Drift reads Check's word among a drift check's output: a reason to
// apply the node again, or "" (also when the node has no data disk).
func Drift(device string, words []string) string {
	switch {
	case device == "":
		return ""
	case slices.Contains(words, "disk-grown"):
		return "the data disk " + device + " grew: its filesystem is to grow"
	case !slices.Contains(words, "disk-ok"):
		return "the data disk " + device + " is not mounted at the node's directory"
	}
	return ""
}

// Prepare runs Script on the host: a node whose data disk cannot be used
// stops here, before anything is written to its directory on the OS disk.
func Prepare(ctx context.Context, h host.Host, device, mountPoint string) error {
	if device == "" {
		return nil
	}
	if !strings.HasPrefix(device, "/dev/") {
		return fmt.Errorf("data disk %q: give its path under /dev (for example /dev/disk/by-id/...)", device)
	}
	_, err := h.Run(ctx, Step, Script(device, mountPoint))
	return err
}
