// Package v1alpha1 contains the input type of the XDatabase composition
// function: what a platform team sets in its Composition to adapt the
// function to its datacenter and clouds without rebuilding it.
// +kubebuilder:object:generate=true
// +groupName=xdatabase.fn.quorum.dev
// +versionName=v1alpha1
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Input configures the XDatabase function.
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=crossplane
type Input struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// AddressPool the database VMs take their static addresses from, on
	// every platform whose section does not name its own.
	// +optional
	AddressPool AddressPool `json:"addressPool,omitempty"`

	// Catalog overrides or extends the built-in catalog of tiers, sizes and
	// versions. Entries given here replace the built-in entry of the same
	// name; new names add offerings.
	// +optional
	Catalog Catalog `json:"catalog,omitempty"`

	// VSphere placement of database VMs on vSphere.
	// +optional
	VSphere *VSphereDefaults `json:"vsphere,omitempty"`
	// Azure placement of database VMs on Azure.
	// +optional
	Azure *AzureDefaults `json:"azure,omitempty"`
	// GCP placement of database VMs on Google Cloud.
	// +optional
	GCP *GCPDefaults `json:"gcp,omitempty"`

	// BackupRepository where nodes archive WAL and write backups, per
	// platform name: an object store every node reaches. A database with
	// backups on a platform without one is refused; type filesystem (a
	// directory on each node) is only for single hosts.
	// +optional
	BackupRepository map[string]BackupRepository `json:"backupRepository,omitempty"`

	// ProviderConfigName the composed resources use on every platform whose
	// section does not name its own; "default" if empty.
	// +optional
	ProviderConfigName string `json:"providerConfigName,omitempty"`
}

// PlatformCommon is what each platform's section may set for itself: each
// cloud has its own ProviderConfig (credentials, endpoint) and its own
// subnet, so one Composition can serve them all.
type PlatformCommon struct {
	// ProviderConfigName (a ClusterProviderConfig) this platform's managed
	// resources use; the top-level providerConfigName if empty.
	// +optional
	ProviderConfigName string `json:"providerConfigName,omitempty"`
	// AddressPool this platform's VMs take their addresses from; the
	// top-level addressPool if empty.
	// +optional
	AddressPool *AddressPool `json:"addressPool,omitempty"`
}

// Platform returns what applies on the named platform: its section's
// ProviderConfig and address pool, else the top-level ones.
func (in *Input) Platform(name string) (providerConfig string, pool AddressPool) {
	var c *PlatformCommon
	switch {
	case name == "vsphere" && in.VSphere != nil:
		c = &in.VSphere.PlatformCommon
	case name == "azure" && in.Azure != nil:
		c = &in.Azure.PlatformCommon
	case name == "gcp" && in.GCP != nil:
		c = &in.GCP.PlatformCommon
	}
	providerConfig, pool = in.ProviderConfigName, in.AddressPool
	if c != nil && c.ProviderConfigName != "" {
		providerConfig = c.ProviderConfigName
	}
	if c != nil && c.AddressPool != nil {
		pool = *c.AddressPool
	}
	if providerConfig == "" {
		providerConfig = "default"
	}
	return providerConfig, pool
}

// AddressPool is the network database VMs are placed on and, when First
// and Last are set, the range the provider leases their addresses from
// (one AddressLease per address, so no two VMs share one). Azure and GCP
// assign addresses themselves when First and Last are left out; vSphere
// needs them.
type AddressPool struct {
	// CIDR of the subnet, for example 10.77.0.0/24.
	CIDR string `json:"cidr"`
	// First and Last bound the addresses handed out, inclusive.
	// +optional
	First string `json:"first,omitempty"`
	// +optional
	Last string `json:"last,omitempty"`
	// Gateway of the subnet.
	// +optional
	Gateway string `json:"gateway,omitempty"`
	// Network is the port group (vSphere), subnet ID (Azure) or subnetwork (GCP).
	Network string `json:"network"`
}

// Catalog is what the platform offers.
type Catalog struct {
	// Tiers by name (dev, standard, ha, critical, ...).
	// +optional
	Tiers map[string]Tier `json:"tiers,omitempty"`
	// Sizes by platform, then by size name.
	// +optional
	Sizes map[string]map[string]Size `json:"sizes,omitempty"`
	// Versions offered per engine.
	// +optional
	Versions map[string][]string `json:"versions,omitempty"`
}

// Tier is a topology and a promise.
type Tier struct {
	// Nodes in the cluster.
	// +kubebuilder:validation:Minimum=1
	Nodes int `json:"nodes"`
	// Replication between nodes: none, async or sync (zero loss of
	// acknowledged commits).
	// +kubebuilder:validation:Enum=none;async;sync
	Replication string `json:"replication"`
	// Backups scheduled for the database.
	Backups bool `json:"backups"`
	// AntiAffinity keeps nodes on different hosts or zones.
	AntiAffinity bool `json:"antiAffinity"`
	// Engines offering this tier; empty means all.
	// +optional
	Engines []string `json:"engines,omitempty"`
}

// Size is a VM shape on one platform.
type Size struct {
	CPUs      int32 `json:"cpus"`
	MemoryMiB int32 `json:"memoryMiB"`
	// InstanceType is the Azure VM size or GCP machine type.
	// +optional
	InstanceType string `json:"instanceType,omitempty"`
	// OSDiskGiB of the boot disk.
	// +optional
	OSDiskGiB int32 `json:"osDiskGiB,omitempty"`
}

// VSphereDefaults says where database VMs are cloned on vSphere.
type VSphereDefaults struct {
	PlatformCommon `json:",inline"`

	Template     string `json:"template"`
	Datacenter   string `json:"datacenter,omitempty"`
	Cluster      string `json:"cluster,omitempty"`
	ResourcePool string `json:"resourcePool,omitempty"`
	Datastore    string `json:"datastore,omitempty"`
	Folder       string `json:"folder,omitempty"`
}

// AzureDefaults says where database VMs live on Azure.
type AzureDefaults struct {
	PlatformCommon `json:",inline"`

	ResourceGroup string `json:"resourceGroup"`
	Location      string `json:"location"`
	Image         string `json:"image"`
	// Zones nodes are spread over when the tier asks for anti-affinity.
	// +optional
	Zones []string `json:"zones,omitempty"`
}

// GCPDefaults says where database VMs live on Google Cloud.
type GCPDefaults struct {
	PlatformCommon `json:",inline"`

	Image string `json:"image"`
	// Zones nodes are spread over, in order.
	Zones []string `json:"zones"`
}

// BackupRepository is where a platform's backups go.
type BackupRepository struct {
	Type     string `json:"type"`
	Path     string `json:"path"`
	Bucket   string `json:"bucket,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	Region   string `json:"region,omitempty"`
	// CredentialsSecretName names the Secret with the store's credentials:
	// in CredentialsSecretNamespace when set (the provider's namespace,
	// out of app teams' reach: the provider accepts no other), else in each
	// app namespace.
	CredentialsSecretName string `json:"credentialsSecretName,omitempty"`
	// CredentialsSecretNamespace is the provider's namespace, or empty.
	CredentialsSecretNamespace string `json:"credentialsSecretNamespace,omitempty"`
}
