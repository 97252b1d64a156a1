package v1alpha1

import (
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AddressLeaseSpec is one address held by one VirtualMachine.
type AddressLeaseSpec struct {
	// Network is the platform network the address belongs to, as the
	// VirtualMachine names it (vSphere port group, Azure subnet ID, GCP
	// subnetwork).
	Network string `json:"network"`
	// Platform holding the network: "vsphere:<vCenter URL>",
	// "azure:<subscription>" or "gcp:<project>". Two vCenters may both have
	// a "VM Network"; two ProviderConfigs of one vCenter share it.
	Platform string `json:"platform"`
	// Address held.
	Address string `json:"address"`
	// Holder is the VirtualMachine holding the address.
	Holder AddressHolder `json:"holder"`
}

// AddressHolder names a VirtualMachine by namespace, name and UID: a
// VirtualMachine deleted and created again under the same name is another
// holder.
type AddressHolder struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
}

// An AddressLease records that a VirtualMachine holds an address on a
// network. Its name is derived from the network and the address, so the API
// server refuses a second lease of the same address however many
// VirtualMachines claim it at once: addresses are unique by construction.
// The provider creates a lease before a VM gets its address and deletes it
// once the platform says the VM is gone. It is the contract an external IPAM
// (NetBox, Infoblox) would take over, in the spirit of Cluster API's
// IPAddressClaim and IPAddress.
// +kubebuilder:object:root=true
// +kubebuilder:printcolumn:name="ADDRESS",type="string",JSONPath=".spec.address"
// +kubebuilder:printcolumn:name="NETWORK",type="string",JSONPath=".spec.network"
// +kubebuilder:printcolumn:name="NAMESPACE",type="string",JSONPath=".spec.holder.namespace"
// +kubebuilder:printcolumn:name="HOLDER",type="string",JSONPath=".spec.holder.name"
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:resource:scope=Cluster,categories={crossplane,quorum}
type AddressLease struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="an AddressLease is immutable: delete it to release the address"
	Spec AddressLeaseSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// AddressLeaseList contains a list of AddressLease.
type AddressLeaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AddressLease `json:"items"`
}

// AddressLease kind metadata.
var (
	AddressLeaseKind             = reflect.TypeOf(AddressLease{}).Name()
	AddressLeaseGroupVersionKind = SchemeGroupVersion.WithKind(AddressLeaseKind)
)

func init() {
	SchemeBuilder.Register(&AddressLease{}, &AddressLeaseList{})
}
