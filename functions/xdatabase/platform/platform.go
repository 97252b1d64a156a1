// Package platform places database VMs on a platform. Each platform lives in
// its own folder and registers itself; adding one is a new folder plus
// catalog rows.
package platform

import (
	"sort"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
	"github.com/quorumdb/quorum/functions/xdatabase/input/v1alpha1"
)

// Node is what a platform needs to place one VM.
type Node struct {
	// Index of the node in its cluster, from 0.
	Index int
	// Size from the catalog.
	Size v1alpha1.Size
	// AntiAffinity asks for nodes on separate failure domains.
	AntiAffinity bool
	// Labels to tag the VM with.
	Labels map[string]string
}

// Placer fills the platform-specific part of a VM.
type Placer func(vm *computev1alpha1.VirtualMachineParameters, in *v1alpha1.Input, n Node) error

var registry = map[string]Placer{}

// Register adds a platform. Called from each platform package's init.
func Register(name string, p Placer) { registry[name] = p }

// Get returns a registered platform.
func Get(name string) (Placer, bool) {
	p, ok := registry[name]
	return p, ok
}

// Names lists registered platforms, sorted.
func Names() []string {
	n := make([]string, 0, len(registry))
	for k := range registry {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}
