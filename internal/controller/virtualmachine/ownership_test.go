package virtualmachine

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"
	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/managed"
	"github.com/google/go-cmp/cmp"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
	"github.com/quorumdb/quorum/apis/v1alpha1"
	"github.com/quorumdb/quorum/internal/cloud"
	"github.com/quorumdb/quorum/internal/cloud/azure"
	"github.com/quorumdb/quorum/internal/cloud/azure/azurefake"
	"github.com/quorumdb/quorum/internal/cloud/cloudtest"
	"github.com/quorumdb/quorum/internal/cloud/gcp"
	"github.com/quorumdb/quorum/internal/cloud/gcp/gcpfake"
	"github.com/quorumdb/quorum/internal/cloud/identity"
	"github.com/quorumdb/quorum/internal/cloud/vsphere"
	"github.com/quorumdb/quorum/internal/lease"
)

func TestMain(m *testing.M) { cloudtest.Main(m) }

const (
	azureSubnet = "/subscriptions/sub-1/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/db"
	gcpSubnet   = "regions/europe-west1/subnetworks/db"
)

// backend is one platform under test: its client and the placement of a
// VM on it at an address.
type backend struct {
	cloud cloud.Cloud
	place func(p *computev1alpha1.VirtualMachineParameters, addr string)
}

func backends(t *testing.T, vc *vim25.Client) map[string]backend {
	t.Helper()
	az := azurefake.New("tenant-1", "app-1", "s3cret", "sub-1", map[string]netip.Prefix{azureSubnet: netip.MustParsePrefix("10.20.0.0/24")})
	azURL := cloudtest.Serve(t, az)
	creds, _ := json.Marshal(azure.Credentials{ClientID: "app-1", ClientSecret: "s3cret", TenantID: "tenant-1"})
	azc, err := azure.Dial(&v1alpha1.AzureConfig{SubscriptionID: "sub-1", Endpoint: azURL, ActiveDirectoryEndpoint: azURL}, creds)
	if err != nil {
		t.Fatal(err)
	}
	azc.Poll = time.Millisecond
	gf, err := gcpfake.New("proj", "quorum@proj.iam.gserviceaccount.com", map[string]netip.Prefix{gcpSubnet: netip.MustParsePrefix("10.10.0.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	gURL := cloudtest.Serve(t, gf)
	key, err := gf.KeyFile(gURL)
	if err != nil {
		t.Fatal(err)
	}
	gc, err := gcp.Dial(context.Background(), &v1alpha1.GCPConfig{Project: "proj", Endpoint: gURL + "/compute/v1/"}, key)
	if err != nil {
		t.Fatal(err)
	}
	gc.Poll = time.Millisecond
	return map[string]backend{
		"vsphere": {cloud: vsphere.New(vc, "DC0"), place: func(p *computev1alpha1.VirtualMachineParameters, addr string) {
			p.Network = computev1alpha1.NetworkInterface{Network: "VM Network", IPAddress: "10.77.0." + addr, PrefixLength: 24}
			p.VSphere = &computev1alpha1.VSpherePlacement{Template: "DC0_H0_VM0", Datacenter: "DC0"}
		}},
		"azure": {cloud: azc, place: func(p *computev1alpha1.VirtualMachineParameters, addr string) {
			p.Network = computev1alpha1.NetworkInterface{Network: azureSubnet, IPAddress: "10.20.0." + addr}
			p.Azure = &computev1alpha1.AzurePlacement{ResourceGroup: "rg-db", Location: "westeurope", VMSize: "Standard_E2s_v5", Image: "Debian:debian-12:12-gen2:latest"}
		}},
		"gcp": {cloud: gc, place: func(p *computev1alpha1.VirtualMachineParameters, addr string) {
			p.Network = computev1alpha1.NetworkInterface{Network: gcpSubnet, IPAddress: "10.10.0." + addr}
			p.GCP = &computev1alpha1.GCPPlacement{Zone: "europe-west1-b", MachineType: "n2-highmem-2", Image: "projects/debian-cloud/global/images/family/debian-12"}
		}},
	}
}

// TestForeignVMs: on every backend, a VirtualMachine pointed (by a
// hand-set external name) at another tenant's VM, or at a VM made outside
// Quorum, neither adopts, changes nor deletes it; deleting that resource
// leaves the VM alone.
func TestForeignVMs(t *testing.T) {
	simulator.Test(func(ctx context.Context, vc *vim25.Client) {
		for name, b := range backends(t, vc) {
			t.Run(name, func(t *testing.T) {
				k := kube(t).Build()
				e := &external{kube: k, cloud: b.cloud, leases: lease.Leaser{Kube: k}, platform: name}
				mk := func(ns, n, addr string) *computev1alpha1.VirtualMachine {
					vm := &computev1alpha1.VirtualMachine{
						ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: ns, UID: types.UID("uid-" + ns + "-" + n), Finalizers: []string{managed.FinalizerName}},
						Spec: computev1alpha1.VirtualMachineSpec{ForProvider: computev1alpha1.VirtualMachineParameters{
							CPUs: 2, MemoryMiB: 4096, OSDiskGiB: 20, DataDisks: []computev1alpha1.Disk{{Name: "data", SizeGiB: 20}}, PowerState: computev1alpha1.PowerOn,
						}},
					}
					b.place(&vm.Spec.ForProvider, addr)
					if err := (externalName{}).Initialize(ctx, vm); err != nil {
						t.Fatal(err)
					}
					return vm
				}
				victim := mk("team-a", "orders-0", "21")
				if got := meta.GetExternalName(victim); got != "q6-team-a-orders-0" {
					t.Fatalf("external name: want q6-team-a-orders-0, got %s", got)
				}
				if _, err := e.Create(ctx, victim); err != nil {
					t.Fatalf("Create: %v", err)
				}
				// Made outside Quorum: no mark at all.
				outside := cloud.Machine{Name: "hand-made", VirtualMachineParameters: mk("ops", "hand-made", "30").Spec.ForProvider}
				if err := b.cloud.Create(ctx, outside); err != nil {
					t.Fatalf("create a VM outside Quorum: %v", err)
				}

				cases := map[string]struct {
					target, want string
				}{
					"AnotherTenants": {target: "q6-team-a-orders-0", want: "mark " + identity.Owner("team-a", "orders-0") + " is another resource's"},
					"MadeOutside":    {target: "hand-made", want: "it has no quorum-owner mark"},
				}
				for cname, tc := range cases {
					t.Run(cname, func(t *testing.T) {
						// Read as the owner asked for it: Azure and GCP report
						// CPUs from the spec, their size from the VM.
						probe := cloud.Machine{Name: tc.target, VirtualMachineParameters: victim.Spec.ForProvider}
						before, err := b.cloud.Get(ctx, probe)
						if err != nil {
							t.Fatal(err)
						}
						attacker := mk("team-b", "grab", "22")
						attacker.Spec.ForProvider.CPUs = 1
						switch {
						case attacker.Spec.ForProvider.Azure != nil:
							attacker.Spec.ForProvider.Azure.VMSize = "Standard_E4s_v5"
						case attacker.Spec.ForProvider.GCP != nil:
							attacker.Spec.ForProvider.GCP.MachineType = "n2-highmem-4"
						}
						meta.SetExternalName(attacker, tc.target)
						if _, err := e.Observe(ctx, attacker); err == nil || !strings.Contains(err.Error(), tc.want) {
							t.Errorf("Observe: want an error with %q, got %v", tc.want, err)
						}
						if _, err := e.Update(ctx, attacker); err == nil || !strings.Contains(err.Error(), tc.want) {
							t.Errorf("Update: want an error with %q, got %v", tc.want, err)
						}
						if _, err := e.Delete(ctx, attacker); err == nil || !strings.Contains(err.Error(), tc.want) {
							t.Errorf("Delete: want an error with %q, got %v", tc.want, err)
						}
						// Deleting the attacker's resource: nothing of its own
						// exists, so its finalizer may go; the VM stays.
						now := metav1.Now()
						attacker.SetDeletionTimestamp(&now)
						if obs, err := e.Observe(ctx, attacker); err != nil || obs.ResourceExists {
							t.Errorf("Observe while deleting: want not exists, got %+v, %v", obs, err)
						}
						after, err := b.cloud.Get(ctx, probe)
						if err != nil {
							t.Fatalf("the target VM is gone: %v", err)
						}
						if diff := cmp.Diff(before, after); diff != "" {
							t.Errorf("the target VM changed: -before, +after:\n%s", diff)
						}
					})
				}
				// The victim still owns and observes its VM.
				if obs, err := e.Observe(ctx, victim); err != nil || !obs.ResourceExists {
					t.Errorf("victim Observe: %+v, %v", obs, err)
				}
				if _, err := e.Delete(ctx, victim); err != nil {
					t.Fatalf("victim Delete: %v", err)
				}
				if _, err := b.cloud.Get(ctx, cloud.Machine{Name: "q6-team-a-orders-0", VirtualMachineParameters: victim.Spec.ForProvider}); !errors.Is(err, cloud.ErrNotFound) {
					t.Errorf("victim's VM after its Delete: %v", err)
				}
			})
		}
	})
}

func TestExternalNameRefusesWhatThePlatformCannotHold(t *testing.T) {
	vm := newVM()
	vm.Name, vm.Namespace = "orders-0", strings.Repeat("n", 60)
	meta.SetExternalName(vm, "")
	vm.Spec.ForProvider.VSphere, vm.Spec.ForProvider.GCP = nil, &computev1alpha1.GCPPlacement{Zone: "z"}
	err := externalName{}.Initialize(context.Background(), vm)
	if err == nil || !strings.Contains(err.Error(), "over the 58 gcp allows") {
		t.Fatalf("want a refusal naming GCP's limit, got %v", err)
	}
	if meta.GetExternalName(vm) != "" {
		t.Error("an external name was set anyway")
	}
}

// TestAddresses: a VM with a range gets the first free address through a
// lease, written to its spec before anything is created; a second VM gets
// the next; the address is free again once the platform says the VM is
// gone. With neither address nor range, Azure and GCP assign one outside
// their reserved addresses.
func TestAddresses(t *testing.T) {
	simulator.Test(func(ctx context.Context, vc *vim25.Client) {
		bs := backends(t, vc)
		k := kube(t).Build()
		mk := func(b backend, ns, n string) *computev1alpha1.VirtualMachine {
			vm := &computev1alpha1.VirtualMachine{
				ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: ns, UID: types.UID("uid-" + ns + "-" + n)},
				Spec: computev1alpha1.VirtualMachineSpec{ForProvider: computev1alpha1.VirtualMachineParameters{
					CPUs: 2, MemoryMiB: 4096, OSDiskGiB: 20, DataDisks: []computev1alpha1.Disk{{Name: "data", SizeGiB: 20}}, PowerState: computev1alpha1.PowerOn,
				}},
			}
			b.place(&vm.Spec.ForProvider, "0")
			vm.Spec.ForProvider.Network.IPAddress = ""
			if err := (externalName{}).Initialize(ctx, vm); err != nil {
				t.Fatal(err)
			}
			// Stored without the reconciler's finalizer: the lease must not
			// come first.
			if err := k.Create(ctx, vm); err != nil {
				t.Fatal(err)
			}
			return vm
		}
		leases := func() []string {
			l := &v1alpha1.AddressLeaseList{}
			if err := k.List(ctx, l); err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, le := range l.Items {
				out = append(out, le.Spec.Address+" "+le.Spec.Holder.Namespace+"/"+le.Spec.Holder.Name)
			}
			slices.Sort(out)
			return out
		}

		e := &external{kube: k, cloud: bs["vsphere"].cloud, leases: lease.Leaser{Kube: k}, platform: "vsphere:sim"}
		var vms []*computev1alpha1.VirtualMachine
		for _, ns := range []string{"team-a", "team-b"} {
			vm := mk(bs["vsphere"], ns, "db-0")
			vm.Spec.ForProvider.Network.AddressRange = &computev1alpha1.AddressRange{First: "10.77.0.40", Last: "10.77.0.41"}
			obs, err := e.Observe(ctx, vm)
			if err != nil || obs.ResourceExists || !obs.ResourceLateInitialized {
				t.Fatalf("Observe %s: want not exists and late-initialized, got %+v, %v", ns, obs, err)
			}
			stored := &computev1alpha1.VirtualMachine{}
			if err := k.Get(ctx, client.ObjectKeyFromObject(vm), stored); err != nil || !meta.FinalizerExists(stored, managed.FinalizerName) {
				t.Fatalf("the finalizer was not stored before the lease was taken: %v", err)
			}
			if _, err := e.Create(ctx, vm); err != nil {
				t.Fatal(err)
			}
			vms = append(vms, vm)
		}
		if diff := cmp.Diff([]string{"10.77.0.40", "10.77.0.41"}, []string{vms[0].Spec.ForProvider.Network.IPAddress, vms[1].Spec.ForProvider.Network.IPAddress}); diff != "" {
			t.Errorf("addresses in spec: -want, +got:\n%s", diff)
		}
		third := mk(bs["vsphere"], "team-c", "db-0")
		third.Spec.ForProvider.Network.AddressRange = &computev1alpha1.AddressRange{First: "10.77.0.40", Last: "10.77.0.41"}
		if _, err := e.Observe(ctx, third); err == nil || !strings.Contains(err.Error(), "address range exhausted") {
			t.Errorf("a third VM on a range of two: want the range exhausted, got %v", err)
		}
		// A VM naming another's address is refused before it exists.
		thief := mk(bs["vsphere"], "team-c", "db-1")
		thief.Spec.ForProvider.Network.IPAddress = "10.77.0.40"
		if _, err := e.Observe(ctx, thief); err == nil || !strings.Contains(err.Error(), "10.77.0.40 on network VM Network is held by VirtualMachine team-a/db-0") {
			t.Errorf("a VM naming a held address: %v", err)
		}
		// Deleted: the lease stays until the platform says the VM is gone.
		if _, err := e.Delete(ctx, vms[0]); err != nil {
			t.Fatal(err)
		}
		now := metav1.Now()
		vms[0].SetDeletionTimestamp(&now)
		if obs, err := e.Observe(ctx, vms[0]); err != nil || obs.ResourceExists {
			t.Fatalf("Observe after delete: %+v, %v", obs, err)
		}
		if diff := cmp.Diff([]string{"10.77.0.41 team-b/db-0"}, leases()); diff != "" {
			t.Errorf("leases after the delete: -want, +got:\n%s", diff)
		}

		for name, want := range map[string]string{"azure": "10.20.0.4", "gcp": "10.10.0.2"} {
			t.Run(name, func(t *testing.T) {
				e := &external{kube: k, cloud: bs[name].cloud, leases: lease.Leaser{Kube: k}, platform: name}
				vm := mk(bs[name], "team-a", "cloud-"+name)
				if obs, err := e.Observe(ctx, vm); err != nil || obs.ResourceExists || obs.ResourceLateInitialized {
					t.Fatalf("Observe: %+v, %v", obs, err)
				}
				if _, err := e.Create(ctx, vm); err != nil {
					t.Fatal(err)
				}
				if _, err := e.Observe(ctx, vm); err != nil {
					t.Fatal(err)
				}
				if got := vm.Status.AtProvider.IPAddress; got != want {
					t.Errorf("address the cloud assigned: want %s (the first not reserved), got %s", want, got)
				}
			})
		}
	})
}
