// Package azure places database VMs on Azure, spread over zones.
package azure

import (
	"errors"
	"fmt"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
	"github.com/quorumdb/quorum/functions/xdatabase/input/v1alpha1"
	"github.com/quorumdb/quorum/functions/xdatabase/platform"
)

func init() { platform.Register("azure", place) }

func place(vm *computev1alpha1.VirtualMachineParameters, in *v1alpha1.Input, n platform.Node) error {
	a := in.Azure
	if a == nil || a.ResourceGroup == "" || a.Location == "" || a.Image == "" {
		return errors.New("spec.platform is azure but the Composition's function input lacks azure.resourceGroup, azure.location or azure.image")
	}
	if n.Size.InstanceType == "" {
		return fmt.Errorf("the catalog has no Azure VM size (instanceType) for this size: add catalog.sizes.azure entries to the function input")
	}
	p := &computev1alpha1.AzurePlacement{ResourceGroup: a.ResourceGroup, Location: a.Location, VMSize: n.Size.InstanceType, Image: a.Image, Tags: n.Labels}
	if n.AntiAffinity && len(a.Zones) > 0 {
		p.Zone = a.Zones[n.Index%len(a.Zones)]
	}
	vm.Azure = p
	return nil
}
