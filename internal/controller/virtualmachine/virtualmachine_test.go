package virtualmachine

import (
	"context"
	"crypto/tls"
	"net/url"
	"strings"
	"testing"

	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"
	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/managed"
	xpv2 "github.com/crossplane/crossplane/apis/v2/core/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
	"github.com/quorumdb/quorum/apis/v1alpha1"
	"github.com/quorumdb/quorum/internal/cloud/vsphere"
	"github.com/quorumdb/quorum/internal/lease"
)

func newVM() *computev1alpha1.VirtualMachine {
	vm := &computev1alpha1.VirtualMachine{
		// The reconciler adds its finalizer before a lease is taken.
		ObjectMeta: metav1.ObjectMeta{Name: "orders-0", Namespace: "team-a", UID: "uid-1", Finalizers: []string{managed.FinalizerName}},
		Spec: computev1alpha1.VirtualMachineSpec{ForProvider: computev1alpha1.VirtualMachineParameters{
			CPUs: 2, MemoryMiB: 4096, OSDiskGiB: 20,
			DataDisks:  []computev1alpha1.Disk{{Name: "data", SizeGiB: 20}},
			Network:    computev1alpha1.NetworkInterface{Network: "VM Network", IPAddress: "10.77.0.21", PrefixLength: 24},
			PowerState: computev1alpha1.PowerOn,
			VSphere:    &computev1alpha1.VSpherePlacement{Template: "DC0_H0_VM0", Datacenter: "DC0"},
		}},
	}
	_ = externalName{}.Initialize(context.Background(), vm)
	return vm
}

func kube(t *testing.T) *fake.ClientBuilder {
	t.Helper()
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := dbv1alpha1.SchemeBuilder.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.SchemeBuilder.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := computev1alpha1.SchemeBuilder.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(s)
}

// TestCrashAfterCreate: the provider dies right after the platform accepted
// the create call, before anything was recorded. The next process observes
// the VM by its deterministic name and does not create a second one.
func TestCrashAfterCreate(t *testing.T) {
	simulator.Test(func(ctx context.Context, vc *vim25.Client) {
		k := kube(t).Build()
		vm := newVM()
		if got := meta.GetExternalName(vm); got != "q6-team-a-orders-0" {
			t.Fatalf("external name: want q6-team-a-orders-0, got %q", got)
		}
		first := &external{kube: k, cloud: vsphere.New(vc, "DC0"), leases: lease.Leaser{Kube: k}, platform: "vsphere:sim"}
		if _, err := first.Create(ctx, vm); err != nil {
			t.Fatalf("Create: %v", err)
		}
		// A new process: new client, same Kubernetes state, no memory.
		second := &external{kube: k, cloud: vsphere.New(vc, "DC0"), leases: lease.Leaser{Kube: k}, platform: "vsphere:sim"}
		obs, err := second.Observe(ctx, newVM())
		if err != nil {
			t.Fatalf("Observe: %v", err)
		}
		if !obs.ResourceExists || !obs.ResourceUpToDate {
			t.Fatalf("Observe after crash: want exists and up to date, got %+v", obs)
		}
		vms, err := find.NewFinder(vc).VirtualMachineList(ctx, "*q6-team-a-orders-0*")
		if err != nil {
			t.Fatal(err)
		}
		if len(vms) != 1 {
			t.Errorf("VMs named q6-team-a-orders-0: want exactly 1, got %d", len(vms))
		}
	})
}

// TestObserve checks what a created VM reports: its address, power, shape,
// the pinned host key and the connection details a DatabaseNode logs in with.
func TestObserve(t *testing.T) {
	simulator.Test(func(ctx context.Context, vc *vim25.Client) {
		k := kube(t).Build()
		e := &external{kube: k, cloud: vsphere.New(vc, "DC0"), leases: lease.Leaser{Kube: k}, platform: "vsphere:sim"}
		vm := newVM()
		obs, err := e.Observe(ctx, vm)
		if err != nil || obs.ResourceExists {
			t.Fatalf("Observe before create: want not exists, got %+v, %v", obs, err)
		}
		if _, err := e.Create(ctx, vm); err != nil {
			t.Fatal(err)
		}
		obs, err = e.Observe(ctx, vm)
		if err != nil {
			t.Fatal(err)
		}
		ap := vm.Status.AtProvider
		if diff := cmp.Diff([]any{"10.77.0.21", "On", int32(2), int32(4096)}, []any{ap.IPAddress, ap.PowerState, ap.CPUs, ap.MemoryMiB}); diff != "" {
			t.Errorf("atProvider: -want, +got:\n%s", diff)
		}
		if !strings.HasPrefix(ap.SSHHostKey, "ssh-ed25519 ") {
			t.Errorf("sshHostKey: want an ed25519 public key, got %q", ap.SSHHostKey)
		}
		if c := vm.GetCondition(xpv2.TypeReady); c.Status != corev1.ConditionTrue {
			t.Errorf("Ready: want True, got %+v", c)
		}
		if string(obs.ConnectionDetails["host"]) != "10.77.0.21" || string(obs.ConnectionDetails["hostKey"]) != ap.SSHHostKey ||
			!strings.Contains(string(obs.ConnectionDetails["privateKey"]), "OPENSSH PRIVATE KEY") {
			t.Errorf("connection details incomplete: host=%q hostKey=%q", obs.ConnectionDetails["host"], obs.ConnectionDetails["hostKey"])
		}
		// The keys survive: observing again returns the same host key.
		again := newVM()
		if _, err := e.Observe(ctx, again); err != nil || again.Status.AtProvider.SSHHostKey != ap.SSHHostKey {
			t.Errorf("host key changed between observations")
		}
		// A spec change makes it out of date.
		vm.Spec.ForProvider.CPUs = 4
		if obs, _ := e.Observe(ctx, vm); obs.ResourceUpToDate {
			t.Error("want out of date after a CPU change")
		}
		if _, err := e.Update(ctx, vm); err != nil {
			t.Fatalf("Update: %v", err)
		}
		if obs, _ := e.Observe(ctx, vm); !obs.ResourceUpToDate {
			t.Error("want up to date after Update")
		}
		// A database node on the VM stops first: deletion waits for it.
		dn := &dbv1alpha1.DatabaseNode{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "orders-0"},
			Spec: dbv1alpha1.DatabaseNodeSpec{ForProvider: dbv1alpha1.DatabaseNodeParameters{Host: "10.77.0.21"}}}
		if err := e.kube.Create(ctx, dn); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Delete(ctx, vm); err == nil || !strings.Contains(err.Error(), "waiting for DatabaseNode orders-0 on this VM to stop its services first") {
			t.Fatalf("Delete with a node on the VM: %v", err)
		}
		if obs, _ := e.Observe(ctx, vm); !obs.ResourceExists {
			t.Fatal("the VM went before its database node")
		}
		if err := e.kube.Delete(ctx, dn); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Delete(ctx, vm); err != nil {
			t.Fatal(err)
		}
		if obs, _ := e.Observe(ctx, vm); obs.ResourceExists {
			t.Error("want gone after Delete")
		}
	})
}

// TestDialErrors: bad configuration is a clear error that never quotes the
// credentials.
func TestDialErrors(t *testing.T) {
	const secret = "hunter2-very-secret"
	// A simulator that checks passwords.
	model := simulator.VPX()
	if err := model.Create(); err != nil {
		t.Fatal(err)
	}
	model.Service.TLS = new(tls.Config)
	model.Service.Listen = &url.URL{User: url.UserPassword("user", "right-password")}
	simulator.Test(func(ctx context.Context, vc *vim25.Client) {
		u := vc.URL()
		conn, err := tls.Dial("tcp", u.Host, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // Reading the simulator's certificate to pin it.
		if err != nil {
			t.Fatal(err)
		}
		thumb := soap.ThumbprintSHA1(conn.ConnectionState().PeerCertificates[0])
		_ = conn.Close()
		cases := map[string]struct {
			spec  v1alpha1.ProviderConfigSpec
			creds string
			want  string
		}{
			"NoBackend":      {spec: v1alpha1.ProviderConfigSpec{}, creds: `{}`, want: "sets none of spec.vsphere, spec.azure or spec.gcp"},
			"VSphereNotJSON": {spec: v1alpha1.ProviderConfigSpec{VSphere: &v1alpha1.VSphereConfig{URL: "https://" + u.Host + "/sdk"}}, creds: secret, want: `vSphere credentials must be JSON {"username": ..., "password": ...}`},
			"VSphereWrongPassword": {
				spec:  v1alpha1.ProviderConfigSpec{VSphere: &v1alpha1.VSphereConfig{URL: "https://" + u.Host + "/sdk", Thumbprint: thumb}},
				creds: `{"username": "nobody", "password": "` + secret + `"}`,
				want:  "cannot log in to vCenter at " + u.Host + " as nobody",
			},
			"VSphereWrongThumbprint": {
				spec:  v1alpha1.ProviderConfigSpec{VSphere: &v1alpha1.VSphereConfig{URL: "https://" + u.Host + "/sdk", Thumbprint: "00:11:22"}},
				creds: `{"username": "user", "password": "pass"}`,
				want:  "cannot reach vCenter at " + u.Host,
			},
			"AzureIncomplete": {spec: v1alpha1.ProviderConfigSpec{Azure: &v1alpha1.AzureConfig{SubscriptionID: "s"}}, creds: `{"clientId": "a", "clientSecret": "` + secret + `"}`, want: `azure credentials must be JSON {"clientId", "clientSecret", "tenantId"}`},
		}
		for name, tc := range cases {
			t.Run(name, func(t *testing.T) {
				_, err := Dial(ctx, tc.spec, []byte(tc.creds))
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("want error containing %q, got %v", tc.want, err)
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks the secret: %v", err)
				}
			})
		}
	}, model)
}
