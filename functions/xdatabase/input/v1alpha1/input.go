// Package v1alpha1 contains the input type of the XDatabase composition
// function: what a platform team sets in its Composition to adapt the
// function to its datacenter without rebuilding it.
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

	// AddressPool the database VMs take their static addresses from.
	AddressPool AddressPool `json:"addressPool"`

	// VSphere placement defaults for VMs on vSphere.
	// +optional
	VSphere *VSphereDefaults `json:"vsphere,omitempty"`
}

// AddressPool is a range of addresses reserved for database VMs.
type AddressPool struct {
	// CIDR of the subnet, for example 10.77.0.0/24.
	CIDR string `json:"cidr"`
	// First and Last bound the addresses handed out, inclusive.
	First string `json:"first"`
	Last  string `json:"last"`
	// Gateway of the subnet.
	// +optional
	Gateway string `json:"gateway,omitempty"`
	// Network is the port group (vSphere), subnet ID (Azure) or subnetwork (GCP).
	Network string `json:"network"`
}

// VSphereDefaults says where database VMs are cloned on vSphere.
type VSphereDefaults struct {
	Template     string `json:"template"`
	Datacenter   string `json:"datacenter,omitempty"`
	Cluster      string `json:"cluster,omitempty"`
	ResourcePool string `json:"resourcePool,omitempty"`
	Datastore    string `json:"datastore,omitempty"`
	Folder       string `json:"folder,omitempty"`
}
