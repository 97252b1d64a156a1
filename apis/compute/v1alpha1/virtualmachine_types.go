package v1alpha1

import (
	xpv2 "github.com/crossplane/crossplane/apis/v2/core/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PowerState of a virtual machine.
// +kubebuilder:validation:Enum=On;Off
type PowerState string

// Power states.
const (
	PowerOn  PowerState = "On"
	PowerOff PowerState = "Off"
)

// A Disk attached to the virtual machine. Disks can grow, never shrink.
type Disk struct {
	// Name of the disk, unique within the VM.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$`
	Name string `json:"name"`

	// SizeGiB is the disk's capacity.
	// +kubebuilder:validation:Minimum=1
	SizeGiB int32 `json:"sizeGiB"`
}

// An AttachedDisk is a data disk as its platform reports it.
type AttachedDisk struct {
	Disk `json:",inline"`
	// DevicePath is where the guest finds the disk under a name its
	// platform keeps stable across reboots and re-attachments (vSphere: the
	// disk's UUID as /dev/disk/by-id/wwn-0x...; Azure: its LUN as
	// /dev/disk/azure/scsi1/lun<N>; GCP: its device name as
	// /dev/disk/by-id/google-<name>), never a device letter.
	DevicePath string `json:"devicePath,omitempty"`
}

// NetworkInterface connects the VM to a network with a static address.
type NetworkInterface struct {
	// Network is the vSphere port group, the Azure subnet ID or the GCP
	// subnetwork self-link.
	Network string `json:"network"`

	// IPAddress assigned statically to the VM. Left empty, the provider
	// takes one from addressRange, or (Azure, GCP) the cloud assigns one;
	// either way it is written here once known. Every address on a network
	// is held through an AddressLease, so no two VMs get the same one.
	// +optional
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="ipAddress must be an IPv4 or IPv6 address such as 10.0.0.10"
	IPAddress string `json:"ipAddress,omitempty"`

	// AddressRange the provider takes the VM's address from when ipAddress
	// is empty: the first address of the range no lease holds.
	// +optional
	AddressRange *AddressRange `json:"addressRange,omitempty"`

	// PrefixLength of the subnet, for example 24.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=128
	PrefixLength int32 `json:"prefixLength,omitempty"`

	// Gateway of the subnet.
	// +optional
	Gateway string `json:"gateway,omitempty"`
}

// An AddressRange is a block of a network's addresses the provider hands
// out, first to last inclusive.
// +kubebuilder:validation:XValidation:rule="ip(self.first).family() == ip(self.last).family()",message="addressRange.first and addressRange.last must be of one IP family"
type AddressRange struct {
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="addressRange.first must be an IP address such as 10.0.0.16"
	First string `json:"first"`
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="addressRange.last must be an IP address such as 10.0.0.250"
	Last string `json:"last"`
}

// VSpherePlacement says where in vCenter the VM is cloned.
type VSpherePlacement struct {
	// Template VM or template name to clone.
	Template string `json:"template"`
	// +optional
	Datacenter string `json:"datacenter,omitempty"`
	// +optional
	Cluster string `json:"cluster,omitempty"`
	// +optional
	ResourcePool string `json:"resourcePool,omitempty"`
	// +optional
	Datastore string `json:"datastore,omitempty"`
	// +optional
	Folder string `json:"folder,omitempty"`
}

// AzurePlacement says where in Azure the VM lives.
type AzurePlacement struct {
	ResourceGroup string `json:"resourceGroup"`
	Location      string `json:"location"`
	// VMSize such as Standard_D4s_v5.
	VMSize string `json:"vmSize"`
	// Image URN publisher:offer:sku:version.
	Image string `json:"image"`
	// +optional
	Zone string `json:"zone,omitempty"`
	// +optional
	Tags map[string]string `json:"tags,omitempty"`
}

// GCPPlacement says where in Google Cloud the instance lives.
type GCPPlacement struct {
	Zone string `json:"zone"`
	// MachineType such as n2-standard-4.
	MachineType string `json:"machineType"`
	// Image self-link or family URL.
	Image string `json:"image"`
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
}

// VirtualMachineParameters are the desired properties of a VM. The provider
// generates an SSH host key and a login key for the guest and injects them
// through guest customization (vSphere) or custom data (Azure, GCP); the
// login key and address are published as the VM's connection details. Exactly one of
// vsphere, azure or gcp is set, matching the backend of the ProviderConfig.
// +kubebuilder:validation:XValidation:rule="[has(self.vsphere), has(self.azure), has(self.gcp)].filter(x, x).size() == 1",message="set exactly one of forProvider.vsphere, forProvider.azure or forProvider.gcp"
type VirtualMachineParameters struct {
	// CPUs of the VM. On Azure and GCP the size or machine type decides and
	// this is informational.
	// +kubebuilder:validation:Minimum=1
	CPUs int32 `json:"cpus"`

	// MemoryMiB of the VM.
	// +kubebuilder:validation:Minimum=512
	MemoryMiB int32 `json:"memoryMiB"`

	// OSDiskGiB is the size of the boot disk.
	// +kubebuilder:validation:Minimum=1
	OSDiskGiB int32 `json:"osDiskGiB"`

	// DataDisks attached to the VM.
	// +optional
	// +listType=map
	// +listMapKey=name
	DataDisks []Disk `json:"dataDisks,omitempty"`

	// Network interface with its static address.
	Network NetworkInterface `json:"network"`

	// PowerState wanted for the VM.
	// +optional
	// +kubebuilder:default=On
	PowerState PowerState `json:"powerState,omitempty"`

	// +optional
	VSphere *VSpherePlacement `json:"vsphere,omitempty"`
	// +optional
	Azure *AzurePlacement `json:"azure,omitempty"`
	// +optional
	GCP *GCPPlacement `json:"gcp,omitempty"`
}

// VirtualMachineObservation is the observed state of a VM.
type VirtualMachineObservation struct {
	// Platform the VM runs on: vsphere, azure or gcp.
	Platform string `json:"platform,omitempty"`
	// ID of the VM on its platform (vSphere managed object reference, Azure
	// resource ID, GCP instance ID).
	ID string `json:"id,omitempty"`
	// IPAddress reported by the platform.
	IPAddress string `json:"ipAddress,omitempty"`
	// PowerState reported by the platform.
	PowerState string `json:"powerState,omitempty"`
	// CPUs reported by the platform.
	CPUs int32 `json:"cpus,omitempty"`
	// MemoryMiB reported by the platform.
	MemoryMiB int32 `json:"memoryMiB,omitempty"`
	// Size is the platform's name for the shape, where it has one.
	Size string `json:"size,omitempty"`
	// SSHHostKey is the public host key the provider generated and injected
	// into the guest, in authorized_keys format. Database nodes pin it.
	SSHHostKey string `json:"sshHostKey,omitempty"`
	// DataDisks as attached, with their actual sizes and device paths.
	DataDisks []AttachedDisk `json:"dataDisks,omitempty"`
}

// A VirtualMachineSpec defines the desired state of a VirtualMachine.
type VirtualMachineSpec struct {
	xpv2.ManagedResourceSpec `json:",inline"`
	ForProvider              VirtualMachineParameters `json:"forProvider"`
}

// A VirtualMachineStatus represents the observed state of a VirtualMachine.
type VirtualMachineStatus struct {
	xpv2.ManagedResourceStatus `json:",inline"`
	AtProvider                 VirtualMachineObservation `json:"atProvider,omitempty"`
}

// +kubebuilder:object:root=true

// A VirtualMachine is a VM on vSphere, Azure or GCP that hosts a database node.
// +kubebuilder:printcolumn:name="READY",type="string",JSONPath=".status.conditions[?(@.type=='Ready')].status"
// +kubebuilder:printcolumn:name="SYNCED",type="string",JSONPath=".status.conditions[?(@.type=='Synced')].status"
// +kubebuilder:printcolumn:name="PLATFORM",type="string",JSONPath=".status.atProvider.platform"
// +kubebuilder:printcolumn:name="IP",type="string",JSONPath=".status.atProvider.ipAddress"
// +kubebuilder:printcolumn:name="POWER",type="string",JSONPath=".status.atProvider.powerState"
// +kubebuilder:printcolumn:name="CPUS",type="integer",JSONPath=".spec.forProvider.cpus"
// +kubebuilder:printcolumn:name="MEMORY-MIB",type="integer",JSONPath=".spec.forProvider.memoryMiB"
// +kubebuilder:printcolumn:name="SIZE",type="string",JSONPath=".status.atProvider.size",priority=1
// +kubebuilder:printcolumn:name="EXTERNAL-NAME",type="string",JSONPath=".metadata.annotations.crossplane\\.io/external-name",priority=1
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories={crossplane,managed,quorum},shortName=qvm
type VirtualMachine struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   VirtualMachineSpec   `json:"spec"`
	Status VirtualMachineStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// VirtualMachineList contains a list of VirtualMachine.
type VirtualMachineList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualMachine `json:"items"`
}
