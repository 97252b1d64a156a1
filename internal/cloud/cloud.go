// Package cloud is what the VirtualMachine controller needs from a platform.
// Each platform implements Cloud in its own folder (vsphere, azure, gcp);
// the controller knows nothing else about them.
package cloud

import (
	"context"
	"errors"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
)

// ErrNotFound is returned by Get when no VM has the name.
var ErrNotFound = errors.New("virtual machine not found")

// Machine is a VM as the controller wants it.
type Machine struct {
	// Name of the VM on the platform; it is also how a VM created before a
	// crash is found again, so it must be unique and deterministic.
	Name string
	// Owner is the ownership mark (identity.Owner) written with the VM as
	// the tag, label or extraConfig identity.OwnerKey, and compared before
	// the VM is treated as this resource's.
	Owner string
	// UserData is a cloud-init document injecting the guest's SSH host key
	// and login key.
	UserData string
	// SSHPublicKey is the login key, for platforms that insist on one in
	// the VM definition itself (Azure).
	SSHPublicKey string
	computev1alpha1.VirtualMachineParameters
}

// Observed is a VM as the platform reports it.
type Observed struct {
	ID        string
	IPAddress string
	// PowerState is On or Off.
	PowerState string
	CPUs       int32
	MemoryMiB  int32
	Size       string
	DataDisks  []computev1alpha1.AttachedDisk
	// Owner is the ownership mark the VM carries (identity.Read), "" if
	// none: a VM someone else made.
	Owner string
}

// Cloud creates, observes, updates and deletes VMs on one platform.
type Cloud interface {
	// Get returns the VM named m.Name where m places it, or ErrNotFound.
	Get(ctx context.Context, m Machine) (*Observed, error)
	// Create creates the VM and everything it needs (NIC, disks) and powers
	// it on. Calling it for a VM that exists is an error.
	Create(ctx context.Context, m Machine) error
	// Update brings an existing VM to the wanted shape: CPU, memory, size,
	// disks (grow only) and power state.
	Update(ctx context.Context, m Machine, cur *Observed) error
	// Delete removes the VM and what was created for it, nothing else. A VM
	// already gone is not an error. Callers check the ownership mark with
	// Get first.
	Delete(ctx context.Context, m Machine) error
}

// ErrDiskShrink is returned when a disk would have to shrink.
var ErrDiskShrink = errors.New("disks can only grow: restore the previous size")

// UpToDate reports whether the observed VM matches the wanted one. Disks
// larger than asked are up to date: they cannot shrink.
func UpToDate(m Machine, o *Observed, sizeName string) bool {
	if o.CPUs != m.CPUs || o.MemoryMiB != m.MemoryMiB {
		if sizeName == "" {
			return false
		}
	}
	if sizeName != "" && o.Size != sizeName {
		return false
	}
	if string(m.PowerState) != "" && o.PowerState != string(m.PowerState) {
		return false
	}
	// Disks match by position: not every platform names them.
	if len(o.DataDisks) < len(m.DataDisks) {
		return false
	}
	for i, d := range m.DataDisks {
		if o.DataDisks[i].SizeGiB < d.SizeGiB {
			return false
		}
	}
	return true
}
