// Package virtualmachine reconciles VirtualMachine managed resources on the
// platform their ProviderConfig names: vSphere, Azure or GCP.
package virtualmachine

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"
	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/managed"
	"github.com/crossplane/crossplane-runtime/v2/pkg/resource"
	xpv2 "github.com/crossplane/crossplane/apis/v2/core/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
	"github.com/quorumdb/quorum/apis/v1alpha1"
	"github.com/quorumdb/quorum/internal/cloud"
	"github.com/quorumdb/quorum/internal/cloud/identity"
	"github.com/quorumdb/quorum/internal/controller/mrsetup"
	"github.com/quorumdb/quorum/internal/guestkeys"
	"github.com/quorumdb/quorum/internal/lease"
)

const (
	errTrackUsage = "cannot track ProviderConfig usage"
	errGetPC      = "cannot get ProviderConfig"
	errGetCreds   = "cannot read the ProviderConfig's credentials"
	errConnect    = "cannot connect to the platform"
	errKeys       = "cannot prepare the guest's SSH keys"
	errGet        = "cannot observe the virtual machine"
	errCreate     = "cannot create the virtual machine"
	errUpdate     = "cannot update the virtual machine"
	errDelete     = "cannot delete the virtual machine"
)

// A Dialer builds a Cloud for one ProviderConfig spec and its credentials.
type Dialer func(ctx context.Context, spec v1alpha1.ProviderConfigSpec, creds []byte) (cloud.Cloud, error)

// Setup adds the VirtualMachine controller. dial builds platform clients.
func Setup(mgr ctrl.Manager, o controller.Options, dial Dialer) error {
	c := &connector{kube: mgr.GetClient(), usage: resource.NewProviderConfigUsageTracker(mgr.GetClient(), &v1alpha1.ProviderConfigUsage{}), dial: cached(dial)}
	// A VM waiting for its database nodes to stop is reconciled as soon as
	// the last of them is gone rather than after its error backoff.
	vmsOn := func(ctx context.Context, dn *dbv1alpha1.DatabaseNode) []reconcile.Request {
		l := &computev1alpha1.VirtualMachineList{}
		if err := mgr.GetClient().List(ctx, l, client.InNamespace(dn.Namespace)); err != nil {
			return nil
		}
		var out []reconcile.Request
		for _, vm := range l.Items {
			if vm.DeletionTimestamp != nil && (vm.Status.AtProvider.IPAddress == dn.Spec.ForProvider.Host || vm.Spec.ForProvider.Network.IPAddress == dn.Spec.ForProvider.Host) {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: vm.Namespace, Name: vm.Name}})
			}
		}
		return out
	}
	nodeGone := mrsetup.WhenDeleted(&dbv1alpha1.DatabaseNode{}, func(ctx context.Context, o client.Object) []reconcile.Request {
		dn, ok := o.(*dbv1alpha1.DatabaseNode)
		if !ok {
			return nil
		}
		return vmsOn(ctx, dn)
	}, confirmDeleteAfter)
	return mrsetup.SetupWatching(mgr, o, computev1alpha1.VirtualMachineGroupVersionKind, &computev1alpha1.VirtualMachine{}, &computev1alpha1.VirtualMachineList{}, c,
		[]mrsetup.Watch{nodeGone}, managed.WithInitializers(externalName{}))
}

// confirmDeleteAfter is when a VM released by its last database node is
// looked at again to confirm it is gone.
const confirmDeleteAfter = 3 * time.Second

// externalName names the VM on its platform identity.Name(namespace, name):
// distinct for distinct namespaces and names, and known before the create
// call so a VM created just before a crash is found again instead of
// created twice. A name the platform cannot hold is refused here, naming
// what to shorten. A name set by hand is kept: the ownership mark, not
// the name, decides whether a VM is this resource's.
type externalName struct{}

func (externalName) Initialize(_ context.Context, mg resource.Managed) error {
	// A resource being deleted without a name never made a VM: naming it
	// now could only fail its deletion.
	if meta.GetExternalName(mg) != "" || meta.WasDeleted(mg) {
		return nil
	}
	vm, ok := mg.(*computev1alpha1.VirtualMachine)
	if !ok {
		return fmt.Errorf("not a VirtualMachine: %T", mg)
	}
	name, err := identity.For(platformOf(vm.Spec.ForProvider), vm.Namespace, vm.Name)
	if err != nil {
		return err
	}
	meta.SetExternalName(mg, name)
	return nil
}

// cached reuses platform clients across reconciles of VMs sharing a
// ProviderConfig: a vCenter login per reconcile would not scale.
func cached(dial Dialer) Dialer {
	var mu sync.Mutex
	clients := map[string]cloud.Cloud{}
	return func(ctx context.Context, spec v1alpha1.ProviderConfigSpec, creds []byte) (cloud.Cloud, error) {
		h := sha256.New()
		_, _ = fmt.Fprintf(h, "%+v", spec)
		_, _ = h.Write(creds)
		key := hex.EncodeToString(h.Sum(nil))
		mu.Lock()
		defer mu.Unlock()
		if c, ok := clients[key]; ok {
			return c, nil
		}
		c, err := dial(ctx, spec, creds)
		if err != nil {
			return nil, err
		}
		clients[key] = c
		return c, nil
	}
}

type connector struct {
	kube  client.Client
	usage *resource.ProviderConfigUsageTracker
	dial  Dialer
}

func (c *connector) Connect(ctx context.Context, vm *computev1alpha1.VirtualMachine) (managed.TypedExternalClient[*computev1alpha1.VirtualMachine], error) {
	// A VM being deleted needs no new usage record, and none can be created
	// while its namespace terminates.
	if err := c.usage.Track(ctx, vm); err != nil && !meta.WasDeleted(vm) {
		return nil, fmt.Errorf("%s: %w", errTrackUsage, err)
	}
	spec, err := ProviderConfigSpec(ctx, c.kube, vm.GetNamespace(), vm.GetProviderConfigReference())
	if err != nil {
		return nil, err
	}
	creds, err := resource.CommonCredentialExtractor(ctx, spec.Credentials.Source, c.kube, spec.Credentials.CommonCredentialSelectors)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", errGetCreds, err)
	}
	cl, err := c.dial(ctx, spec, creds)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", errConnect, err)
	}
	return &external{kube: c.kube, cloud: cl, leases: lease.Leaser{Kube: c.kube}, platform: PlatformID(spec)}, nil
}

// PlatformID names the platform a ProviderConfig drives, so that leases
// of its networks' addresses are shared by every ProviderConfig of that
// platform and by no other.
func PlatformID(spec v1alpha1.ProviderConfigSpec) string {
	switch {
	case spec.VSphere != nil:
		return "vsphere:" + spec.VSphere.URL
	case spec.Azure != nil:
		return "azure:" + spec.Azure.SubscriptionID
	case spec.GCP != nil:
		return "gcp:" + spec.GCP.Project
	}
	return ""
}

// ProviderConfigSpec reads the namespaced or cluster config a managed
// resource refers to.
func ProviderConfigSpec(ctx context.Context, kube client.Client, namespace string, ref *xpv2.ProviderConfigReference) (v1alpha1.ProviderConfigSpec, error) {
	if ref == nil {
		return v1alpha1.ProviderConfigSpec{}, errors.New("spec.providerConfigRef is required")
	}
	switch ref.Kind {
	case v1alpha1.ProviderConfigKind:
		pc := &v1alpha1.ProviderConfig{}
		if err := kube.Get(ctx, types.NamespacedName{Namespace: namespace, Name: ref.Name}, pc); err != nil {
			return v1alpha1.ProviderConfigSpec{}, fmt.Errorf("%s %s: %w", errGetPC, ref.Name, err)
		}
		return pc.Spec, NamespacedCredentials(namespace, pc.Name, pc.Spec.Credentials)
	case v1alpha1.ClusterProviderConfigKind, "":
		pc := &v1alpha1.ClusterProviderConfig{}
		if err := kube.Get(ctx, types.NamespacedName{Name: ref.Name}, pc); err != nil {
			return v1alpha1.ProviderConfigSpec{}, fmt.Errorf("%s %s: %w", errGetPC, ref.Name, err)
		}
		return pc.Spec, nil
	}
	return v1alpha1.ProviderConfigSpec{}, fmt.Errorf("spec.providerConfigRef.kind %q is not supported: use ProviderConfig or ClusterProviderConfig", ref.Kind)
}

// NamespacedCredentials refuses credentials a namespaced ProviderConfig may
// not use: only a Secret in its own namespace (not another tenant's, not
// the provider's environment or files). Admission refuses the same
// (compositions/admission/provider-credentials.yaml); this holds when the
// policy is not installed.
func NamespacedCredentials(namespace, name string, c v1alpha1.ProviderCredentials) error {
	if c.Source != xpv2.CredentialsSourceSecret {
		return fmt.Errorf("ProviderConfig %s/%s: spec.credentials.source %s is not allowed in a namespaced ProviderConfig: use Secret, or a ClusterProviderConfig for platform credentials", namespace, name, c.Source)
	}
	if c.SecretRef != nil && c.SecretRef.Namespace != namespace {
		return fmt.Errorf("ProviderConfig %s/%s: spec.credentials.secretRef.namespace %s is not allowed: a namespaced ProviderConfig reads Secrets in its own namespace only; use a ClusterProviderConfig for platform credentials", namespace, name, c.SecretRef.Namespace)
	}
	return nil
}

type external struct {
	kube     client.Client
	cloud    cloud.Cloud
	leases   lease.Leaser
	platform string
}

func holder(vm *computev1alpha1.VirtualMachine) v1alpha1.AddressHolder {
	return v1alpha1.AddressHolder{Namespace: vm.Namespace, Name: vm.Name, UID: string(vm.UID)}
}

// address makes sure the VM holds its address before anything is created
// with it: a lease on the address set in the spec, or one taken from the
// spec's range and written to the spec (reporting true: the caller
// persists it before the create). With neither, the platform assigns one
// (Azure, GCP), unique there.
func (e *external) address(ctx context.Context, vm *computev1alpha1.VirtualMachine) (bool, error) {
	n := vm.Spec.ForProvider.Network
	net := lease.Network{Platform: e.platform, Name: n.Network}
	if (n.IPAddress != "" || n.AddressRange != nil) && !meta.FinalizerExists(vm, managed.FinalizerName) {
		// The finalizer first: a resource deleted before its finalizer
		// exists goes without an Observe, and would leave its lease behind.
		if err := resource.NewAPIFinalizer(e.kube, managed.FinalizerName).AddFinalizer(ctx, vm); err != nil {
			return false, fmt.Errorf("cannot add the finalizer that releases the VM's address: %w", err)
		}
	}
	switch {
	case n.IPAddress != "":
		a, err := netip.ParseAddr(n.IPAddress)
		if err != nil {
			return false, fmt.Errorf("spec.forProvider.network.ipAddress %q is not an address: %w", n.IPAddress, err)
		}
		return false, e.leases.Hold(ctx, net, a, holder(vm))
	case n.AddressRange != nil:
		first, err1 := netip.ParseAddr(n.AddressRange.First)
		last, err2 := netip.ParseAddr(n.AddressRange.Last)
		if err := errors.Join(err1, err2); err != nil {
			return false, fmt.Errorf("spec.forProvider.network.addressRange: %w", err)
		}
		a, err := e.leases.Take(ctx, net, first, last, holder(vm))
		if err != nil {
			return false, err
		}
		vm.Spec.ForProvider.Network.IPAddress = a.String()
		return true, nil
	case vm.Spec.ForProvider.VSphere != nil:
		return false, errors.New("spec.forProvider.network: a vSphere VM needs ipAddress or addressRange: vSphere assigns no address itself")
	}
	return false, nil
}

func (e *external) machine(ctx context.Context, vm *computev1alpha1.VirtualMachine) (cloud.Machine, guestkeys.Keys, error) {
	owner := metav1.OwnerReference{APIVersion: computev1alpha1.SchemeGroupVersion.String(), Kind: computev1alpha1.VirtualMachineKind, Name: vm.Name, UID: vm.UID}
	keys, err := guestkeys.Ensure(ctx, e.kube, vm.Namespace, vm.Name+"-guest-keys", owner)
	if err != nil {
		return cloud.Machine{}, keys, fmt.Errorf("%s: %w", errKeys, err)
	}
	name := meta.GetExternalName(vm)
	return cloud.Machine{
		Name:                     name,
		Owner:                    identity.Owner(vm.Namespace, vm.Name),
		UserData:                 keys.UserData(name),
		SSHPublicKey:             keys.LoginPublic,
		VirtualMachineParameters: vm.Spec.ForProvider,
	}, keys, nil
}

func platformOf(p computev1alpha1.VirtualMachineParameters) string {
	switch {
	case p.VSphere != nil:
		return "vsphere"
	case p.Azure != nil:
		return "azure"
	case p.GCP != nil:
		return "gcp"
	}
	return ""
}

func sizeName(p computev1alpha1.VirtualMachineParameters) string {
	switch {
	case p.Azure != nil:
		return p.Azure.VMSize
	case p.GCP != nil:
		return p.GCP.MachineType
	}
	return ""
}

func (e *external) Observe(ctx context.Context, vm *computev1alpha1.VirtualMachine) (managed.ExternalObservation, error) {
	if meta.WasDeleted(vm) {
		// Only whether it still exists matters now; do not recreate keys.
		o, err := e.cloud.Get(ctx, cloud.Machine{Name: meta.GetExternalName(vm), VirtualMachineParameters: vm.Spec.ForProvider})
		if err != nil && !errors.Is(err, cloud.ErrNotFound) {
			return managed.ExternalObservation{}, fmt.Errorf("%s: %w", errGet, err)
		}
		// Someone else's VM under this name is not this resource's: it
		// never made a VM, so there is nothing of its own to delete.
		if err == nil && o.Owner == identity.Owner(vm.Namespace, vm.Name) {
			return managed.ExternalObservation{ResourceExists: true, ResourceUpToDate: true}, nil
		}
		// Gone, as the platform says: its address is free again.
		if err := e.leases.Release(ctx, holder(vm)); err != nil {
			return managed.ExternalObservation{}, err
		}
		return managed.ExternalObservation{ResourceExists: false}, nil
	}
	m, keys, err := e.machine(ctx, vm)
	if err != nil {
		return managed.ExternalObservation{}, err
	}
	o, err := e.cloud.Get(ctx, m)
	if errors.Is(err, cloud.ErrNotFound) {
		// The address is held before the VM is created with it. The
		// create-pending update right after persists a taken address; a
		// lease whose update was lost is found again by its holder.
		lateInit, err := e.address(ctx, vm)
		if err != nil {
			return managed.ExternalObservation{}, err
		}
		return managed.ExternalObservation{ResourceExists: false, ResourceLateInitialized: lateInit}, nil
	}
	if err != nil {
		return managed.ExternalObservation{}, fmt.Errorf("%s: %w", errGet, err)
	}
	if err := owned(m, o); err != nil {
		return managed.ExternalObservation{}, err
	}
	// Ours: its address is held too (VMs made before leases get theirs).
	lateInit, err := e.address(ctx, vm)
	if err != nil {
		return managed.ExternalObservation{}, err
	}
	vm.Status.AtProvider = computev1alpha1.VirtualMachineObservation{
		Platform: platformOf(vm.Spec.ForProvider), ID: o.ID, IPAddress: o.IPAddress, PowerState: o.PowerState, CPUs: o.CPUs, MemoryMiB: o.MemoryMiB,
		Size: o.Size, SSHHostKey: keys.HostPublic, DataDisks: o.DataDisks,
	}
	switch {
	case o.PowerState == string(computev1alpha1.PowerOn) && o.IPAddress != "":
		vm.SetConditions(xpv2.Available())
	case o.PowerState == string(computev1alpha1.PowerOff) && vm.Spec.ForProvider.PowerState == computev1alpha1.PowerOff:
		vm.SetConditions(xpv2.Available().WithMessage("powered off as requested"))
	default:
		vm.SetConditions(xpv2.Creating().WithMessage("waiting for the guest to be powered on with its address"))
	}
	return managed.ExternalObservation{
		ResourceExists:          true,
		ResourceLateInitialized: lateInit,
		ResourceUpToDate:        cloud.UpToDate(m, o, sizeName(vm.Spec.ForProvider)),
		ConnectionDetails: managed.ConnectionDetails{
			"host":       []byte(cmp.Or(o.IPAddress, vm.Spec.ForProvider.Network.IPAddress)),
			"port":       []byte(strconv.Itoa(22)),
			"username":   []byte("root"),
			"privateKey": keys.LoginPrivate,
			"hostKey":    []byte(keys.HostPublic),
		},
	}, nil
}

func (e *external) Create(ctx context.Context, vm *computev1alpha1.VirtualMachine) (managed.ExternalCreation, error) {
	m, _, err := e.machine(ctx, vm)
	if err != nil {
		return managed.ExternalCreation{}, err
	}
	vm.SetConditions(xpv2.Creating())
	if err := e.cloud.Create(ctx, m); err != nil {
		return managed.ExternalCreation{}, fmt.Errorf("%s: %w", errCreate, err)
	}
	return managed.ExternalCreation{}, nil
}

func (e *external) Update(ctx context.Context, vm *computev1alpha1.VirtualMachine) (managed.ExternalUpdate, error) {
	m, _, err := e.machine(ctx, vm)
	if err != nil {
		return managed.ExternalUpdate{}, err
	}
	cur, err := e.cloud.Get(ctx, m)
	if err != nil {
		return managed.ExternalUpdate{}, fmt.Errorf("%s: %w", errGet, err)
	}
	if err := owned(m, cur); err != nil {
		return managed.ExternalUpdate{}, err
	}
	if err := e.cloud.Update(ctx, m, cur); err != nil {
		return managed.ExternalUpdate{}, fmt.Errorf("%s: %w", errUpdate, err)
	}
	// Report the new shape now rather than at the next poll, so whoever
	// waits on it (the function's rolling update) moves on promptly.
	if o, err := e.cloud.Get(ctx, m); err == nil {
		vm.Status.AtProvider.CPUs, vm.Status.AtProvider.MemoryMiB = o.CPUs, o.MemoryMiB
		vm.Status.AtProvider.PowerState, vm.Status.AtProvider.Size, vm.Status.AtProvider.DataDisks = o.PowerState, o.Size, o.DataDisks
	}
	return managed.ExternalUpdate{}, nil
}

func (e *external) Delete(ctx context.Context, vm *computev1alpha1.VirtualMachine) (managed.ExternalDelete, error) {
	vm.SetConditions(xpv2.Deleting())
	// The database nodes on this VM stop their services first (cleanly,
	// over SSH, while the host still answers): deleting a database deletes
	// its VMs and nodes at once, and a VM gone first leaves its node's
	// stop hanging on a dead connection.
	if n, err := e.nodesOn(ctx, vm); err != nil {
		return managed.ExternalDelete{}, err
	} else if n != "" {
		vm.SetConditions(xpv2.Deleting().WithMessage("waiting for DatabaseNode " + n + " to stop its services first"))
		return managed.ExternalDelete{}, fmt.Errorf("waiting for DatabaseNode %s on this VM to stop its services first", n)
	}
	// No keys needed to delete: do not recreate the keys Secret now.
	m := cloud.Machine{Name: meta.GetExternalName(vm), Owner: identity.Owner(vm.Namespace, vm.Name), VirtualMachineParameters: vm.Spec.ForProvider}
	// Checked again right before the delete: never delete a VM this
	// resource did not make.
	cur, err := e.cloud.Get(ctx, m)
	if errors.Is(err, cloud.ErrNotFound) {
		return managed.ExternalDelete{}, nil
	}
	if err != nil {
		return managed.ExternalDelete{}, fmt.Errorf("%s: %w", errGet, err)
	}
	if err := owned(m, cur); err != nil {
		return managed.ExternalDelete{}, err
	}
	if err := e.cloud.Delete(ctx, m); err != nil {
		return managed.ExternalDelete{}, fmt.Errorf("%s: %w", errDelete, err)
	}
	return managed.ExternalDelete{}, nil
}

func (e *external) Disconnect(context.Context) error { return nil }

// owned refuses a VM that does not carry m's ownership mark: another
// resource's (a hand-set external name pointing at it) or one made outside
// Quorum. It is never adopted, changed or deleted.
func owned(m cloud.Machine, o *cloud.Observed) error {
	if o.Owner == m.Owner {
		return nil
	}
	whose := "it has no " + identity.OwnerKey + " mark"
	if o.Owner != "" {
		whose = "its " + identity.OwnerKey + " mark " + o.Owner + " is another resource's"
	}
	return fmt.Errorf("the platform already has a VM named %s that this VirtualMachine did not create (%s, want %s): it is neither adopted nor changed nor deleted; rename this VirtualMachine or remove its crossplane.io/external-name annotation", m.Name, whose, m.Owner)
}

// nodesOn names a DatabaseNode still installed on the VM's address, or "".
func (e *external) nodesOn(ctx context.Context, vm *computev1alpha1.VirtualMachine) (string, error) {
	addrs := map[string]bool{}
	if a := vm.Status.AtProvider.IPAddress; a != "" {
		addrs[a] = true
	}
	if a := vm.Spec.ForProvider.Network.IPAddress; a != "" {
		addrs[a] = true
	}
	l := &dbv1alpha1.DatabaseNodeList{}
	if err := e.kube.List(ctx, l, client.InNamespace(vm.Namespace)); err != nil {
		return "", fmt.Errorf("cannot list the DatabaseNodes that may run on this VM: %w", err)
	}
	for _, n := range l.Items {
		if addrs[n.Spec.ForProvider.Host] {
			return n.Name, nil
		}
	}
	return "", nil
}
