// Package v1alpha1 contains the database managed resources: DatabaseNode (an
// engine installed and clustered on a host over SSH), User, Database and
// Backup.
// +kubebuilder:object:generate=true
// +groupName=db.m.quorum.dev
// +versionName=v1alpha1
package v1alpha1
