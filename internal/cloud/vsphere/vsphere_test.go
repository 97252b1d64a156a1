package vsphere

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
	"github.com/quorumdb/quorum/internal/cloud"
	"github.com/quorumdb/quorum/internal/cloud/identity"
)

func machine(name string, cpus, mem, disk int32) cloud.Machine {
	return cloud.Machine{
		Name:     name,
		UserData: "#cloud-config\n",
		Owner:    identity.Owner("team-a", name),
		VirtualMachineParameters: computev1alpha1.VirtualMachineParameters{
			CPUs: cpus, MemoryMiB: mem, OSDiskGiB: 20,
			DataDisks:  []computev1alpha1.Disk{{Name: "data", SizeGiB: disk}},
			Network:    computev1alpha1.NetworkInterface{Network: "VM Network", IPAddress: "10.77.0.20", PrefixLength: 24, Gateway: "10.77.0.1"},
			PowerState: computev1alpha1.PowerOn,
			VSphere:    &computev1alpha1.VSpherePlacement{Template: "DC0_H0_VM0", Datacenter: "DC0", Datastore: "LocalDS_0"},
		},
	}
}

// TestLifecycle drives one VM through create, observe, resize, disk growth,
// a refused shrink and delete against govmomi's vCenter simulator.
func TestLifecycle(t *testing.T) {
	simulator.Test(func(ctx context.Context, vc *vim25.Client) {
		c := New(vc, "DC0")
		m := machine("team-a-orders-0", 2, 4096, 20)

		if _, err := c.Get(ctx, m); !errors.Is(err, cloud.ErrNotFound) {
			t.Fatalf("Get before create: want ErrNotFound, got %v", err)
		}
		if err := c.Create(ctx, m); err != nil {
			t.Fatalf("Create: %v", err)
		}
		o, err := c.Get(ctx, m)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		// The data disk is found by its UUID, which the simulator makes up.
		dev := ""
		if len(o.DataDisks) > 0 {
			dev = o.DataDisks[0].DevicePath
		}
		if !regexp.MustCompile(`^/dev/disk/by-id/wwn-0x[0-9a-f]{32}$`).MatchString(dev) {
			t.Errorf("data disk device path %q, want /dev/disk/by-id/wwn-0x and its UUID", dev)
		}
		want := &cloud.Observed{ID: o.ID, IPAddress: "10.77.0.20", PowerState: "On", CPUs: 2, MemoryMiB: 4096,
			DataDisks: []computev1alpha1.AttachedDisk{{Disk: computev1alpha1.Disk{Name: "disk0", SizeGiB: 20}, DevicePath: dev}}, Owner: m.Owner}
		if diff := cmp.Diff(want, o); diff != "" {
			t.Errorf("after create: -want, +got:\n%s", diff)
		}
		if o.ID == "" {
			t.Error("no managed object reference reported")
		}

		// Grow CPU, memory and the data disk.
		m2 := machine(m.Name, 4, 8192, 40)
		if err := c.Update(ctx, m2, o); err != nil {
			t.Fatalf("Update (grow): %v", err)
		}
		o, _ = c.Get(ctx, m)
		if diff := cmp.Diff([]any{int32(4), int32(8192), int32(40), "On"}, []any{o.CPUs, o.MemoryMiB, o.DataDisks[0].SizeGiB, o.PowerState}); diff != "" {
			t.Errorf("after grow: -want, +got:\n%s", diff)
		}

		// Shrinking CPU and memory power-cycles the VM and succeeds.
		m3 := machine(m.Name, 2, 4096, 40)
		if err := c.Update(ctx, m3, o); err != nil {
			t.Fatalf("Update (shrink cpu): %v", err)
		}
		o, _ = c.Get(ctx, m)
		if diff := cmp.Diff([]any{int32(2), int32(4096), "On"}, []any{o.CPUs, o.MemoryMiB, o.PowerState}); diff != "" {
			t.Errorf("after cpu shrink: -want, +got:\n%s", diff)
		}

		// A disk never shrinks.
		if err := c.Update(ctx, machine(m.Name, 2, 4096, 10), o); !errors.Is(err, cloud.ErrDiskShrink) {
			t.Errorf("Update (shrink disk): want ErrDiskShrink, got %v", err)
		}

		// Power off on request.
		off := machine(m.Name, 2, 4096, 40)
		off.PowerState = computev1alpha1.PowerOff
		if err := c.Update(ctx, off, o); err != nil {
			t.Fatalf("Update (power off): %v", err)
		}
		if o, _ = c.Get(ctx, m); o.PowerState != "Off" {
			t.Errorf("power: want Off, got %s", o.PowerState)
		}

		if err := c.Delete(ctx, m); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := c.Get(ctx, m); !errors.Is(err, cloud.ErrNotFound) {
			t.Errorf("Get after delete: want ErrNotFound, got %v", err)
		}
		if err := c.Delete(ctx, m); err != nil {
			t.Errorf("Delete of a deleted VM: want nil, got %v", err)
		}
	})
}

func TestCreateErrors(t *testing.T) {
	simulator.Test(func(ctx context.Context, vc *vim25.Client) {
		c := New(vc, "DC0")
		m := machine("x", 2, 4096, 20)
		m.VSphere.Template = "no-such-template"
		if err := c.Create(ctx, m); err == nil || !strings.Contains(err.Error(), `cannot find template "no-such-template"`) {
			t.Errorf("want a clear error naming the template, got %v", err)
		}
		m = machine("y", 2, 4096, 20)
		m.VSphere = nil
		if err := c.Create(ctx, m); err == nil || !strings.Contains(err.Error(), "forProvider.vsphere is required") {
			t.Errorf("want an error naming forProvider.vsphere, got %v", err)
		}
	})
}
