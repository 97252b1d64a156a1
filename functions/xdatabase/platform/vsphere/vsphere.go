// Package vsphere places database VMs on VMware vSphere by cloning a template.
package vsphere

import (
	"errors"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
	"github.com/quorumdb/quorum/functions/xdatabase/input/v1alpha1"
	"github.com/quorumdb/quorum/functions/xdatabase/platform"
)

func init() { platform.Register("vsphere", place) }

func place(vm *computev1alpha1.VirtualMachineParameters, in *v1alpha1.Input, _ platform.Node) error {
	v := in.VSphere
	if v == nil || v.Template == "" {
		return errors.New("spec.platform is vsphere but the Composition's function input has no vsphere.template: add the template to clone (and datacenter, cluster, datastore) to the input")
	}
	vm.VSphere = &computev1alpha1.VSpherePlacement{
		Template: v.Template, Datacenter: v.Datacenter, Cluster: v.Cluster,
		ResourcePool: v.ResourcePool, Datastore: v.Datastore, Folder: v.Folder,
	}
	return nil
}
