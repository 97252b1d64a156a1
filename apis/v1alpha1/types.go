package v1alpha1

import (
	xpv2 "github.com/crossplane/crossplane/apis/v2/core/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ProviderCredentials says where the backend's credentials come from. The
// credential is a JSON document whose shape depends on the backend:
// vSphere {"username","password"}; Azure {"clientId","clientSecret",
// "tenantId","subscriptionId"}; GCP a service-account key file.
type ProviderCredentials struct {
	// Source of the credentials.
	// +kubebuilder:validation:Enum=None;Secret;Environment;Filesystem
	Source xpv2.CredentialsSource `json:"source"`

	xpv2.CommonCredentialSelectors `json:",inline"`
}

// VSphereConfig points the provider at a vCenter.
type VSphereConfig struct {
	// URL of the vCenter SDK endpoint, for example https://vcenter.example.com/sdk.
	// +kubebuilder:validation:Pattern=`^https?://`
	URL string `json:"url"`

	// Thumbprint is the SHA-1 or SHA-256 fingerprint of the vCenter's TLS
	// certificate. The connection is refused when the certificate does not match.
	// +optional
	Thumbprint string `json:"thumbprint,omitempty"`

	// Datacenter used when a VirtualMachine does not name one.
	// +optional
	Datacenter string `json:"datacenter,omitempty"`
}

// AzureConfig points the provider at an Azure subscription.
type AzureConfig struct {
	// SubscriptionID in which virtual machines are created.
	SubscriptionID string `json:"subscriptionID"`

	// Endpoint overrides the Azure Resource Manager endpoint (sovereign
	// clouds, Azure Stack, tests), for example https://management.usgovcloudapi.net.
	// +optional
	// +kubebuilder:validation:Pattern=`^https://`
	Endpoint string `json:"endpoint,omitempty"`

	// ActiveDirectoryEndpoint overrides the Microsoft Entra ID authority the
	// service principal signs in to, for example
	// https://login.microsoftonline.us/ for Azure Government. Defaults to
	// Azure public cloud's.
	// +optional
	// +kubebuilder:validation:Pattern=`^https://`
	ActiveDirectoryEndpoint string `json:"activeDirectoryEndpoint,omitempty"`
}

// GCPConfig points the provider at a Google Cloud project.
type GCPConfig struct {
	// Project in which instances are created.
	Project string `json:"project"`

	// Endpoint overrides the Compute Engine API endpoint (tests, private service connect).
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
}

// A ProviderConfigSpec selects exactly one backend and its credentials.
// +kubebuilder:validation:XValidation:rule="[has(self.vsphere), has(self.azure), has(self.gcp)].filter(x, x).size() <= 1",message="set at most one of spec.vsphere, spec.azure or spec.gcp: a ProviderConfig drives a single backend"
type ProviderConfigSpec struct {
	// Credentials used to reach the backend.
	Credentials ProviderCredentials `json:"credentials"`

	// VSphere backend.
	// +optional
	VSphere *VSphereConfig `json:"vsphere,omitempty"`

	// Azure backend.
	// +optional
	Azure *AzureConfig `json:"azure,omitempty"`

	// GCP backend.
	// +optional
	GCP *GCPConfig `json:"gcp,omitempty"`
}

// A ProviderConfigStatus reflects the observed state of a ProviderConfig.
type ProviderConfigStatus struct {
	xpv2.ProviderConfigStatus `json:",inline"`
}

// +kubebuilder:object:root=true

// A ProviderConfig configures how the provider reaches a backend, for managed
// resources in its own namespace.
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:printcolumn:name="SECRET-NAME",type="string",JSONPath=".spec.credentials.secretRef.name",priority=1
// +kubebuilder:resource:scope=Namespaced,categories={crossplane,provider,quorum}
type ProviderConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ProviderConfigSpec   `json:"spec"`
	Status ProviderConfigStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ProviderConfigList contains a list of ProviderConfig.
type ProviderConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ProviderConfig `json:"items"`
}

// +kubebuilder:object:root=true

// A ClusterProviderConfig configures how the provider reaches a backend, for
// managed resources in any namespace.
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:printcolumn:name="SECRET-NAME",type="string",JSONPath=".spec.credentials.secretRef.name",priority=1
// +kubebuilder:resource:scope=Cluster,categories={crossplane,provider,quorum}
type ClusterProviderConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ProviderConfigSpec   `json:"spec"`
	Status ProviderConfigStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ClusterProviderConfigList contains a list of ClusterProviderConfig.
type ClusterProviderConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterProviderConfig `json:"items"`
}

// +kubebuilder:object:root=true

// A ProviderConfigUsage records that a managed resource uses a ProviderConfig.
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:printcolumn:name="CONFIG-NAME",type="string",JSONPath=".providerConfigRef.name"
// +kubebuilder:printcolumn:name="RESOURCE-KIND",type="string",JSONPath=".resourceRef.kind"
// +kubebuilder:printcolumn:name="RESOURCE-NAME",type="string",JSONPath=".resourceRef.name"
// +kubebuilder:resource:scope=Namespaced,categories={crossplane,provider,quorum}
type ProviderConfigUsage struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	xpv2.TypedProviderConfigUsage `json:",inline"`
}

// +kubebuilder:object:root=true

// ProviderConfigUsageList contains a list of ProviderConfigUsage.
type ProviderConfigUsageList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ProviderConfigUsage `json:"items"`
}

// +kubebuilder:object:root=true

// A ClusterProviderConfigUsage records that a managed resource uses a
// ClusterProviderConfig.
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:printcolumn:name="CONFIG-NAME",type="string",JSONPath=".providerConfigRef.name"
// +kubebuilder:printcolumn:name="RESOURCE-KIND",type="string",JSONPath=".resourceRef.kind"
// +kubebuilder:printcolumn:name="RESOURCE-NAME",type="string",JSONPath=".resourceRef.name"
// +kubebuilder:resource:scope=Cluster,categories={crossplane,provider,quorum}
type ClusterProviderConfigUsage struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	xpv2.TypedProviderConfigUsage `json:",inline"`
}

// +kubebuilder:object:root=true

// ClusterProviderConfigUsageList contains a list of ClusterProviderConfigUsage.
type ClusterProviderConfigUsageList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterProviderConfigUsage `json:"items"`
}
