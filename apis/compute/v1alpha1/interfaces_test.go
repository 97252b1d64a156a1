package v1alpha1

import "github.com/crossplane/crossplane-runtime/v2/pkg/resource"

// The assertions live in a test file because angryjet must load this package
// before the methods they check exist.
var (
	_ resource.ModernManaged = &VirtualMachine{}
	_ resource.ManagedList   = &VirtualMachineList{}
)
