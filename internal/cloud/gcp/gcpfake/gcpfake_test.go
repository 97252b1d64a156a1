package gcpfake_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
	"github.com/quorumdb/quorum/apis/v1alpha1"
	"github.com/quorumdb/quorum/internal/cloud"
	"github.com/quorumdb/quorum/internal/cloud/cloudtest"
	"github.com/quorumdb/quorum/internal/cloud/fakeapi"
	"github.com/quorumdb/quorum/internal/cloud/gcp"
	"github.com/quorumdb/quorum/internal/cloud/gcp/gcpfake"
	"github.com/quorumdb/quorum/internal/cloud/identity"
)

const subnetwork = "regions/europe-west1/subnetworks/db"

func TestMain(m *testing.M) { cloudtest.Main(m) }

func serve(t *testing.T) (*gcpfake.Server, string) {
	t.Helper()
	f, err := gcpfake.New("proj", "quorum@proj.iam.gserviceaccount.com", map[string]netip.Prefix{subnetwork: netip.MustParsePrefix("10.10.0.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	return f, cloudtest.Serve(t, f)
}

// dial signs in with a key file whose token_uri is the fake's, as the
// provider does with a ProviderConfig's Secret.
func dial(t *testing.T, f *gcpfake.Server, url, project string) *gcp.Client {
	t.Helper()
	key, err := f.KeyFile(url)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gcp.Dial(context.Background(), &v1alpha1.GCPConfig{Project: project, Endpoint: url + "/compute/v1/"}, key)
	if err != nil {
		t.Fatal(err)
	}
	c.Poll = time.Millisecond
	return c
}

func machine(name, addr, typ string, disk int32) cloud.Machine {
	return cloud.Machine{
		Name:     name,
		Owner:    identity.Owner("team-a", name),
		UserData: "#cloud-config\nhostname: " + name + "\n",
		VirtualMachineParameters: computev1alpha1.VirtualMachineParameters{
			CPUs: 2, MemoryMiB: 8192, OSDiskGiB: 20,
			DataDisks:  []computev1alpha1.Disk{{Name: "data", SizeGiB: disk}},
			Network:    computev1alpha1.NetworkInterface{Network: subnetwork, IPAddress: addr},
			PowerState: computev1alpha1.PowerOn,
			GCP:        &computev1alpha1.GCPPlacement{Zone: "europe-west1-b", MachineType: typ, Image: "projects/debian-cloud/global/images/family/debian-12", Labels: map[string]string{"quorum.dev/database": "orders"}},
		},
	}
}

// TestLifecycle runs the provider's GCP client, signed in with a service
// account's JWT bearer grant, through insert, observe, resize, power and
// delete.
func TestLifecycle(t *testing.T) {
	f, url := serve(t)
	c := dial(t, f, url, "proj")
	ctx := context.Background()
	m := machine("orders-0", "10.10.0.5", "n2-highmem-2", 50)

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
	want := &cloud.Observed{ID: "1001", IPAddress: "10.10.0.5", PowerState: "On", CPUs: 2, MemoryMiB: 8192, Size: "n2-highmem-2", DataDisks: []computev1alpha1.AttachedDisk{{Disk: computev1alpha1.Disk{Name: "data", SizeGiB: 50}, DevicePath: "/dev/disk/by-id/google-data"}}, Owner: m.Owner}
	if diff := cmp.Diff(want, o); diff != "" {
		t.Errorf("after insert: -want, +got:\n%s", diff)
	}
	in := f.Instance("europe-west1-b", m.Name)
	if in.Labels["quorum_dev_database"] != "orders" || in.MachineType != "zones/europe-west1-b/machineTypes/n2-highmem-2" {
		t.Errorf("instance not built as asked: labels %v machineType %s", in.Labels, in.MachineType)
	}
	if diff := cmp.Diff([]gcpfake.VM{{Name: "orders-0", Zone: "europe-west1-b", Address: "10.10.0.5", Running: true, UserData: m.UserData, Disks: []fakeapi.Disk{{Path: "/dev/disk/by-id/google-data", SizeGiB: 50}}}}, f.VMs()); diff != "" {
		t.Errorf("the fake's VMs: -want, +got:\n%s", diff)
	}

	// A new machine type: stop, setMachineType, start; a bigger disk: resize.
	before := len(f.Calls())
	m2 := machine("orders-0", "10.10.0.5", "n2-highmem-4", 80)
	if err := c.Update(ctx, m2, o); err != nil {
		t.Fatalf("Update: %v", err)
	}
	got := []string{}
	for _, call := range f.Calls()[before:] {
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
	if err := c.Update(ctx, machine("orders-0", "10.10.0.5", "n2-highmem-4", 10), o); !errors.Is(err, cloud.ErrDiskShrink) {
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

// TestRefusals checks the fake refuses what Compute Engine refuses.
func TestRefusals(t *testing.T) {
	f, url := serve(t)
	ctx := context.Background()
	c := dial(t, f, url, "proj")
	if err := c.Create(ctx, machine("orders-0", "10.10.0.5", "n2-highmem-2", 50)); err != nil {
		t.Fatal(err)
	}
	badLabel := machine("orders-5", "10.10.0.10", "n2-highmem-2", 50)
	badLabel.GCP.Labels = map[string]string{"team": "Orders/1"}
	long := strings.Repeat("n", 64)
	longDisk := strings.Repeat("d", 60)
	otherNet := machine("orders-3", "10.10.0.8", "n2-highmem-2", 50)
	otherNet.Network.Network = "regions/europe-west1/subnetworks/other"
	cases := map[string]struct {
		c    *gcp.Client
		m    cloud.Machine
		want string
	}{
		"NameTaken":       {c: c, m: machine("orders-0", "10.10.0.6", "n2-highmem-2", 50), want: "already exists"},
		"AddressTaken":    {c: c, m: machine("orders-1", "10.10.0.5", "n2-highmem-2", 50), want: "already being used"},
		"AddressOutside":  {c: c, m: machine("orders-2", "10.20.0.5", "n2-highmem-2", 50), want: "outside the subnetwork CIDR range"},
		"UnknownNetwork":  {c: c, m: otherNet, want: "cannot be found"},
		"GatewayReserved": {c: c, m: machine("orders-7", "10.10.0.1", "n2-highmem-2", 50), want: "Requested internal IP is reserved"},
		"LastTwoReserved": {c: c, m: machine("orders-8", "10.10.0.254", "n2-highmem-2", 50), want: "Requested internal IP is reserved"},
		"NameTooLong":     {c: c, m: machine(long, "10.10.0.11", "n2-highmem-2", 50), want: "Invalid value for field 'resource.name': '" + long + "'. Must be a match of regex"},
		"NameWithDot":     {c: c, m: machine("orders.6", "10.10.0.12", "n2-highmem-2", 50), want: "Invalid value for field 'resource.name': 'orders.6'"},
		"DiskNameTooLong": {c: c, m: machine(longDisk, "10.10.0.13", "n2-highmem-2", 50),
			want: "Invalid value for field 'resource.disks[0].initializeParams.diskName': '" + longDisk + "-boot'"},
		"LabelValue":   {c: c, m: badLabel, want: "Label value 'Orders/1' violates format constraints"},
		"OtherProject": {c: dial(t, f, url, "someone-else"), m: machine("orders-4", "10.10.0.9", "n2-highmem-2", 50), want: "projects/someone-else' was not found"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := tc.c.Create(ctx, tc.m)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Create: want an error with %q, got %v", tc.want, err)
			}
		})
	}
	// A key the fake did not issue is refused at the token endpoint.
	other, _ := gcpfake.New("proj", "quorum@proj.iam.gserviceaccount.com", nil)
	_, err := dial(t, other, url, "proj").Get(ctx, machine("orders-0", "10.10.0.5", "n2-highmem-2", 50))
	if err == nil || !strings.Contains(err.Error(), "Invalid JWT Signature") {
		t.Errorf("foreign key: want the token endpoint's invalid_grant, got %v", err)
	}
}
