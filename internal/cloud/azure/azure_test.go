package azure

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
	"github.com/quorumdb/quorum/internal/cloud"
	"github.com/quorumdb/quorum/internal/cloud/identity"
)

func machine(size string, disk int32) cloud.Machine {
	return cloud.Machine{
		Name:         "team-a-orders-0",
		UserData:     "#cloud-config\n",
		SSHPublicKey: "ssh-ed25519 AAAA",
		Owner:        identity.Owner("team-a", "orders-0"),
		VirtualMachineParameters: computev1alpha1.VirtualMachineParameters{
			CPUs: 2, MemoryMiB: 16384, OSDiskGiB: 30,
			DataDisks:  []computev1alpha1.Disk{{Name: "data", SizeGiB: disk}},
			Network:    computev1alpha1.NetworkInterface{Network: "/subscriptions/sub-1/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/db", IPAddress: "10.20.0.5"},
			PowerState: computev1alpha1.PowerOn,
			Azure:      &computev1alpha1.AzurePlacement{ResourceGroup: "rg-db", Location: "westeurope", VMSize: size, Image: "Debian:debian-12:12-gen2:latest", Zone: "2"},
		},
	}
}

func TestLifecycle(t *testing.T) {
	a := newARM()
	c, err := a.client()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m := machine("Standard_E2s_v5", 50)

	if _, err := c.Get(ctx, m); !errors.Is(err, cloud.ErrNotFound) {
		t.Fatalf("Get before create: want ErrNotFound, got %v", err)
	}
	if err := c.Create(ctx, m); err != nil {
		t.Fatalf("Create: %v", err)
	}
	// Throttled twice, then answered: the SDK's retry policy absorbs it.
	a.throttle, a.calls = 2, nil
	o, err := c.Get(ctx, m)
	if err != nil {
		t.Fatalf("Get after 429s: %v", err)
	}
	if diff := cmp.Diff([]string{"429 GET", "429 GET", "GET vm team-a-orders-0"}, a.calls); diff != "" {
		t.Errorf("throttled calls retried: -want, +got:\n%s", diff)
	}
	want := &cloud.Observed{ID: "/subscriptions/sub-1/resourceGroups/rg-db/providers/Microsoft.Compute/virtualMachines/team-a-orders-0",
		IPAddress: "10.20.0.5", PowerState: "On", CPUs: 2, MemoryMiB: 16384, Size: "Standard_E2s_v5",
		DataDisks: []computev1alpha1.AttachedDisk{{Disk: computev1alpha1.Disk{Name: "data", SizeGiB: 50}, DevicePath: "/dev/disk/azure/scsi1/lun0"}}, Owner: m.Owner}
	if diff := cmp.Diff(want, o); diff != "" {
		t.Errorf("after create: -want, +got:\n%s", diff)
	}
	vm := a.vms[m.Name]
	if *vm.Zones[0] != "2" || *vm.Properties.OSProfile.CustomData == "" || *vm.Properties.NetworkProfile.NetworkInterfaces[0].ID != *a.nics["team-a-orders-0-nic"].ID {
		t.Error("VM not built as asked (zone, custom data, NIC)")
	}

	if err := c.Update(ctx, machine("Standard_E4s_v5", 80), o); err != nil {
		t.Fatalf("Update: %v", err)
	}
	o, _ = c.Get(ctx, m)
	if o.Size != "Standard_E4s_v5" || o.DataDisks[0].SizeGiB != 80 {
		t.Errorf("after update: %+v", o)
	}
	if err := c.Update(ctx, machine("Standard_E4s_v5", 10), o); !errors.Is(err, cloud.ErrDiskShrink) {
		t.Errorf("shrink: want ErrDiskShrink, got %v", err)
	}

	a.calls = nil
	if err := c.Delete(ctx, m); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if diff := cmp.Diff([]string{"DELETE vm team-a-orders-0", "DELETE nic team-a-orders-0-nic"}, a.calls); diff != "" {
		t.Errorf("delete removes the VM then its NIC: -want, +got:\n%s", diff)
	}
	if len(a.nics) != 0 || len(a.vms) != 0 {
		t.Errorf("left behind: %d VMs, %d NICs", len(a.vms), len(a.nics))
	}
	if _, err := c.Get(ctx, m); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("Get after delete: want ErrNotFound (404), got %v", err)
	}
	if err := c.Delete(ctx, m); err != nil {
		t.Errorf("second delete: want nil, got %v", err)
	}
}

func TestPermanentErrorIsClear(t *testing.T) {
	a := newARM()
	c, _ := a.client()
	m := machine("Standard_E2s_v5", 50)
	m.Azure.Image = "not-an-urn"
	err := c.Create(context.Background(), m)
	if err == nil || !strings.Contains(err.Error(), `forProvider.azure.image "not-an-urn" is neither an image ID nor a publisher:offer:sku:version URN`) {
		t.Errorf("want a clear error naming the field, got %v", err)
	}
	if len(a.nics) != 0 {
		t.Error("a NIC was created for a VM that could not be")
	}
}
