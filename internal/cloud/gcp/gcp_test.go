package gcp

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
	"github.com/quorumdb/quorum/internal/cloud"
)

func machine(typ string, disk int32) cloud.Machine {
	return cloud.Machine{
		Name:     "team-a-orders-0",
		UserData: "#cloud-config\n",
		VirtualMachineParameters: computev1alpha1.VirtualMachineParameters{
			CPUs: 2, MemoryMiB: 8192, OSDiskGiB: 20,
			DataDisks:  []computev1alpha1.Disk{{Name: "data", SizeGiB: disk}},
			Network:    computev1alpha1.NetworkInterface{Network: "regions/europe-west1/subnetworks/db", IPAddress: "10.10.0.5"},
			PowerState: computev1alpha1.PowerOn,
			GCP:        &computev1alpha1.GCPPlacement{Zone: "europe-west1-b", MachineType: typ, Image: "projects/debian-cloud/global/images/family/debian-12", Labels: map[string]string{"quorum.dev/database": "orders"}},
		},
	}
}

func TestLifecycle(t *testing.T) {
	f, srv := newFake(t)
	ctx := context.Background()
	c, err := New(ctx, "proj", option.WithEndpoint(srv.URL+"/compute/v1/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	c.Poll = time.Millisecond
	m := machine("n2-highmem-2", 50)

	if _, err := c.Get(ctx, m); !errors.Is(err, cloud.ErrNotFound) {
		t.Fatalf("Get before insert: want ErrNotFound, got %v", err)
	}
	if err := c.Create(ctx, m); err != nil {
		t.Fatalf("Create: %v", err)
	}
	o, err := c.Get(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	want := &cloud.Observed{ID: "1000", IPAddress: "10.10.0.5", PowerState: "On", CPUs: 2, MemoryMiB: 8192, Size: "n2-highmem-2", DataDisks: []computev1alpha1.Disk{{Name: "data", SizeGiB: 50}}}
	if diff := cmp.Diff(want, o); diff != "" {
		t.Errorf("after insert: -want, +got:\n%s", diff)
	}
	in := f.instances[m.Name]
	if in.Labels["quorum_dev_database"] != "orders" || *in.Metadata.Items[0].Value != "#cloud-config\n" || in.MachineType != "zones/europe-west1-b/machineTypes/n2-highmem-2" {
		t.Errorf("instance not built as asked: labels %v machineType %s", in.Labels, in.MachineType)
	}

	// A new machine type: stop, setMachineType, start; a bigger disk: resize.
	f.calls = nil
	m2 := machine("n2-highmem-4", 80)
	if err := c.Update(ctx, m2, o); err != nil {
		t.Fatalf("Update: %v", err)
	}
	got := []string{}
	for _, call := range f.calls {
		if call != "GET operations" {
			got = append(got, call)
		}
	}
	if diff := cmp.Diff([]string{"POST disks resize", "POST instances stop", "POST instances setMachineType", "POST instances start"}, got); diff != "" {
		t.Errorf("update calls: -want, +got:\n%s", diff)
	}
	o, _ = c.Get(ctx, m2)
	if o.Size != "n2-highmem-4" || o.PowerState != "On" || o.DataDisks[0].SizeGiB != 80 {
		t.Errorf("after update: %+v", o)
	}
	if err := c.Update(ctx, machine("n2-highmem-4", 10), o); !errors.Is(err, cloud.ErrDiskShrink) {
		t.Errorf("shrink: want ErrDiskShrink, got %v", err)
	}

	if err := c.Delete(ctx, m); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := c.Get(ctx, m); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("after delete: want ErrNotFound, got %v", err)
	}
	if err := c.Delete(ctx, m); err != nil {
		t.Errorf("second delete: want nil, got %v", err)
	}
}
