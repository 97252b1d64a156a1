package v1alpha1

import "github.com/crossplane/crossplane-runtime/v2/pkg/resource"

// The assertions live in a test file because angryjet must load this package
// before the methods they check exist.
var (
	_ resource.ModernManaged = &DatabaseNode{}
	_ resource.ModernManaged = &User{}
	_ resource.ModernManaged = &Database{}
	_ resource.ModernManaged = &Backup{}
	_ resource.ManagedList   = &DatabaseNodeList{}
	_ resource.ManagedList   = &UserList{}
	_ resource.ManagedList   = &DatabaseList{}
	_ resource.ManagedList   = &BackupList{}
)
