// Package gcp places database VMs on Google Compute Engine, spread over zones.
package gcp

import (
	"errors"
	"fmt"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
	"github.com/quorumdb/quorum/functions/xdatabase/input/v1alpha1"
	"github.com/quorumdb/quorum/functions/xdatabase/platform"
)

func init() { platform.Register("gcp", place) }

func place(vm *computev1alpha1.VirtualMachineParameters, in *v1alpha1.Input, n platform.Node) error {
	g := in.GCP
	if g == nil || g.Image == "" || len(g.Zones) == 0 {
		return errors.New("spec.platform is gcp but the Composition's function input lacks gcp.image or gcp.zones")
	}
	if n.Size.InstanceType == "" {
		return fmt.Errorf("the catalog has no GCP machine type (instanceType) for this size: add catalog.sizes.gcp entries to the function input")
	}
	zone := g.Zones[0]
	if n.AntiAffinity {
		zone = g.Zones[n.Index%len(g.Zones)]
	}
	vm.GCP = &computev1alpha1.GCPPlacement{Zone: zone, MachineType: n.Size.InstanceType, Image: g.Image, Labels: n.Labels}
	return nil
}
