// Package v1alpha1 contains the provider's configuration types: the namespaced
// ProviderConfig, the ClusterProviderConfig and their usage trackers.
// +kubebuilder:object:generate=true
// +groupName=quorum.dev
// +versionName=v1alpha1
package v1alpha1
