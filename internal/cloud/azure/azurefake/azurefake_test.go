package azurefake_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
	"github.com/quorumdb/quorum/apis/v1alpha1"
	"github.com/quorumdb/quorum/internal/cloud"
	"github.com/quorumdb/quorum/internal/cloud/azure"
	"github.com/quorumdb/quorum/internal/cloud/azure/azurefake"
	"github.com/quorumdb/quorum/internal/cloud/cloudtest"
	"github.com/quorumdb/quorum/internal/cloud/fakeapi"
	"github.com/quorumdb/quorum/internal/cloud/identity"
)

const subnet = "/subscriptions/sub-1/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/db"

func TestMain(m *testing.M) { cloudtest.Main(m) }

func serve(t *testing.T) (*azurefake.Server, string) {
	t.Helper()
	f := azurefake.New("tenant-1", "app-1", "s3cret", "sub-1", map[string]netip.Prefix{subnet: netip.MustParsePrefix("10.20.0.0/24")})
	return f, cloudtest.Serve(t, f)
}

func dial(t *testing.T, url, secret string) *azure.Client {
	t.Helper()
	creds, _ := json.Marshal(azure.Credentials{ClientID: "app-1", ClientSecret: secret, TenantID: "tenant-1"})
	c, err := azure.Dial(&v1alpha1.AzureConfig{SubscriptionID: "sub-1", Endpoint: url, ActiveDirectoryEndpoint: url}, creds)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func machine(name, addr, size string, disk int32) cloud.Machine {
	return cloud.Machine{
		Name: name, UserData: "#cloud-config\nhostname: " + name + "\n", SSHPublicKey: "ssh-ed25519 AAAA",
		Owner: identity.Owner("team-a", name),
		VirtualMachineParameters: computev1alpha1.VirtualMachineParameters{
			CPUs: 2, MemoryMiB: 16384, OSDiskGiB: 30,
			DataDisks:  []computev1alpha1.Disk{{Name: "data", SizeGiB: disk}},
			Network:    computev1alpha1.NetworkInterface{Network: subnet, IPAddress: addr},
			PowerState: computev1alpha1.PowerOn,
			Azure:      &computev1alpha1.AzurePlacement{ResourceGroup: "rg-db", Location: "westeurope", VMSize: size, Image: "Debian:debian-12:12-gen2:latest", Zone: "2"},
		},
	}
}

// TestLifecycle runs the provider's Azure client, signed in through Entra
// ID's token endpoint, through create, observe, resize, power and delete.
func TestLifecycle(t *testing.T) {
	f, url := serve(t)
	c := dial(t, url, "s3cret")
	ctx := context.Background()
	m := machine("orders-0", "10.20.0.5", "Standard_E2s_v5", 50)

	if _, err := c.Get(ctx, m); !errors.Is(err, cloud.ErrNotFound) {
		t.Fatalf("Get before create: want ErrNotFound, got %v", err)
	}
	if err := c.Create(ctx, m); err != nil {
		t.Fatalf("Create: %v", err)
	}
	o, err := c.Get(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	want := &cloud.Observed{ID: "/subscriptions/sub-1/resourceGroups/rg-db/providers/Microsoft.Compute/virtualMachines/orders-0",
		IPAddress: "10.20.0.5", PowerState: "On", CPUs: 2, MemoryMiB: 16384, Size: "Standard_E2s_v5",
		DataDisks: []computev1alpha1.AttachedDisk{{Disk: computev1alpha1.Disk{Name: "data", SizeGiB: 50}, DevicePath: "/dev/disk/azure/scsi1/lun0"}}, Owner: m.Owner}
	if diff := cmp.Diff(want, o); diff != "" {
		t.Errorf("after create: -want, +got:\n%s", diff)
	}
	// NIC then VM, each a long-running operation polled to its end.
	if diff := cmp.Diff([]string{"GET virtualMachines", "PUT networkInterfaces", "GET operation", "GET networkInterfaces", "PUT virtualMachines", "GET operation", "GET virtualMachines"}, f.Calls()[:7]); diff != "" {
		t.Errorf("create's ARM calls: -want, +got:\n%s", diff)
	}
	if diff := cmp.Diff([]azurefake.VM{{Name: "orders-0", Address: "10.20.0.5", Running: true, CustomData: m.UserData, Disks: []fakeapi.Disk{{Path: "/dev/disk/azure/scsi1/lun0", SizeGiB: 50}}}}, f.VMs()); diff != "" {
		t.Errorf("the fake's VMs (custom data as sent): -want, +got:\n%s", diff)
	}

	if err := c.Update(ctx, machine("orders-0", "10.20.0.5", "Standard_E4s_v5", 80), o); err != nil {
		t.Fatalf("Update: %v", err)
	}
	o, _ = c.Get(ctx, m)
	if o.Size != "Standard_E4s_v5" || o.DataDisks[0].SizeGiB != 80 {
		t.Errorf("after update: %+v", o)
	}
	if err := c.Update(ctx, machine("orders-0", "10.20.0.5", "Standard_E4s_v5", 10), o); !errors.Is(err, cloud.ErrDiskShrink) {
		t.Errorf("shrink: want ErrDiskShrink, got %v", err)
	}
	off := machine("orders-0", "10.20.0.5", "Standard_E4s_v5", 80)
	off.PowerState = computev1alpha1.PowerOff
	if err := c.Update(ctx, off, o); err != nil {
		t.Fatalf("power off: %v", err)
	}
	if o, _ = c.Get(ctx, m); o.PowerState != "Off" {
		t.Errorf("after power off: %s", o.PowerState)
	}

	if err := c.Delete(ctx, m); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if len(f.VMs()) != 0 || len(f.NICs()) != 0 {
		t.Errorf("after delete: VMs %v, NICs %v", f.VMs(), f.NICs())
	}
	if err := c.Delete(ctx, m); err != nil {
		t.Errorf("Delete of a VM already gone: %v", err)
	}
}

// TestRefusals checks the fake refuses what Azure refuses, and that the
// client's errors carry Azure's code without request details.
func TestRefusals(t *testing.T) {
	f, url := serve(t)
	ctx := context.Background()
	c := dial(t, url, "s3cret")
	if err := c.Create(ctx, machine("orders-0", "10.20.0.5", "Standard_E2s_v5", 50)); err != nil {
		t.Fatal(err)
	}
	noSize := machine("orders-3", "10.20.0.8", "", 50)
	wrongSub := machine("orders-4", "10.20.0.9", "Standard_E2s_v5", 50)
	wrongSub.Network.Network = strings.Replace(subnet, "sub-1", "sub-2", 1)
	slashTag := machine("orders-5", "10.20.0.10", "Standard_E2s_v5", 50)
	slashTag.Azure.Tags = map[string]string{"quorum.dev/database": "orders"}
	long := strings.Repeat("n", 65)
	cases := map[string]struct {
		m    cloud.Machine
		want string
	}{
		"AddressTaken":      {m: machine("orders-1", "10.20.0.5", "Standard_E2s_v5", 50), want: "PrivateIPAddressInUse (HTTP 400)"},
		"AddressOutside":    {m: machine("orders-2", "10.30.0.5", "Standard_E2s_v5", 50), want: "PrivateIPAddressNotInSubnet (HTTP 400)"},
		"NoSize":            {m: noSize, want: "InvalidParameter (HTTP 400)"},
		"UnknownSubnet":     {m: wrongSub, want: "InvalidResourceReference (HTTP 400)"},
		"TagWithSlash":      {m: slashTag, want: "InvalidTagNameCharacters (HTTP 400)"},
		"AddressReserved":   {m: machine("orders-6", "10.20.0.3", "Standard_E2s_v5", 50), want: "PrivateIPAddressInReservedRange (HTTP 400)"},
		"BroadcastReserved": {m: machine("orders-7", "10.20.0.255", "Standard_E2s_v5", 50), want: "PrivateIPAddressInReservedRange (HTTP 400)"},
		"NameTooLong":       {m: machine(long, "10.20.0.11", "Standard_E2s_v5", 50), want: "InvalidResourceName (HTTP 400)"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := c.Create(ctx, tc.m)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Create: want an error with %q, got %v", tc.want, err)
			}
		})
	}
	// The NICs of the VMs refused for their size and name stay (as on Azure) and is
	// removed by the client's Delete.
	for _, m := range []cloud.Machine{noSize, machine(long, "10.20.0.11", "Standard_E2s_v5", 50), machine("orders-6", "", "", 0), machine("orders-7", "", "", 0)} {
		if err := c.Delete(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"orders-0-nic"}, f.NICs()); diff != "" {
		t.Errorf("NICs left: -want, +got:\n%s", diff)
	}

	bad := dial(t, url, "wrong")
	_, err := bad.Get(ctx, machine("orders-0", "10.20.0.5", "Standard_E2s_v5", 50))
	if err == nil || strings.Contains(err.Error(), "wrong") || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Errorf("wrong secret: want Entra ID's invalid_client error without the secret, got %v", err)
	}
}
