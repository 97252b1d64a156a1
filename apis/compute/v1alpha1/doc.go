// Package v1alpha1 contains the VirtualMachine managed resource: one VM on
// vSphere, Azure or GCP, the backend being chosen by its ProviderConfig.
// +kubebuilder:object:generate=true
// +groupName=compute.m.quorum.dev
// +versionName=v1alpha1
package v1alpha1
