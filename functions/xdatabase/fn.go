// Package xdatabase is the composition function that expands one XDatabase
// into the managed resources that make it: VirtualMachines today, database
// nodes, users and backups as the provider grows them.
package xdatabase

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net/netip"
	"sort"
	"strings"

	"github.com/crossplane/function-sdk-go/errors"
	"github.com/crossplane/function-sdk-go/logging"
	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/request"
	"github.com/crossplane/function-sdk-go/resource"
	"github.com/crossplane/function-sdk-go/resource/composed"
	"github.com/crossplane/function-sdk-go/response"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	xpv2 "github.com/crossplane/crossplane/apis/v2/core/v2"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
	"github.com/quorumdb/quorum/functions/xdatabase/input/v1alpha1"
)

// composed.From needs our managed resource types in its scheme.
func init() {
	if err := computev1alpha1.SchemeBuilder.AddToScheme(composed.Scheme); err != nil {
		panic(err)
	}
}

// Function expands XDatabases.
type Function struct {
	fnv1.UnimplementedFunctionRunnerServiceServer

	Log logging.Logger
}

// Spec is the part of an XDatabase the function reads.
type Spec struct {
	Engine    string `json:"engine"`
	Version   string `json:"version"`
	Tier      string `json:"tier"`
	Size      string `json:"size"`
	StorageGB int32  `json:"storageGB"`
	Platform  string `json:"platform"`
}

// RunFunction composes the XDatabase's resources.
func (f *Function) RunFunction(_ context.Context, req *fnv1.RunFunctionRequest) (*fnv1.RunFunctionResponse, error) {
	rsp := response.To(req, response.DefaultTTL)

	in := &v1alpha1.Input{}
	if err := request.GetInput(req, in); err != nil {
		response.Fatal(rsp, errors.Wrap(err, "cannot read the function input from the Composition's pipeline step"))
		return rsp, nil
	}
	xr, err := request.GetObservedCompositeResource(req)
	if err != nil {
		response.Fatal(rsp, errors.Wrap(err, "cannot read the observed XDatabase"))
		return rsp, nil
	}
	spec := Spec{}
	if err := xr.Resource.GetValueInto("spec", &spec); err != nil {
		response.Fatal(rsp, errors.Wrap(err, "cannot read spec of the XDatabase"))
		return rsp, nil
	}
	topo, ok := tiers[spec.Tier]
	if !ok {
		response.Fatal(rsp, errors.Errorf("spec.tier %q is not offered: choose one of %s", spec.Tier, keys(tiers)))
		return rsp, nil
	}
	shape, ok := sizes[spec.Size]
	if !ok {
		response.Fatal(rsp, errors.Errorf("spec.size %q is not offered: choose one of %s", spec.Size, keys(sizes)))
		return rsp, nil
	}

	name := xr.Resource.GetName()
	addrs, err := allocate(in.AddressPool, xr.Resource.GetNamespace()+"/"+name, topo.Nodes)
	if err != nil {
		response.Fatal(rsp, errors.Wrap(err, "cannot allocate addresses from the function input's addressPool"))
		return rsp, nil
	}

	observed, err := request.GetObservedComposedResources(req)
	if err != nil {
		response.Fatal(rsp, errors.Wrap(err, "cannot read observed composed resources"))
		return rsp, nil
	}
	desired, err := request.GetDesiredComposedResources(req)
	if err != nil {
		response.Fatal(rsp, errors.Wrap(err, "cannot read desired composed resources"))
		return rsp, nil
	}

	ready := 0
	for i := range topo.Nodes {
		vm, err := virtualMachine(in, spec, shape, fmt.Sprintf("%s-%d", name, i), addrs[i])
		if err != nil {
			response.Fatal(rsp, errors.Wrapf(err, "cannot build VirtualMachine %d", i))
			return rsp, nil
		}
		key := resource.Name(fmt.Sprintf("vm-%d", i))
		dc := &resource.DesiredComposed{Resource: vm}
		if o, ok := observed[key]; ok && o.Resource.GetCondition(xpv2.TypeReady).Status == "True" {
			dc.Ready = resource.ReadyTrue
			ready++
		}
		desired[key] = dc
	}
	if err := response.SetDesiredComposedResources(rsp, desired); err != nil {
		response.Fatal(rsp, errors.Wrap(err, "cannot set desired composed resources"))
		return rsp, nil
	}

	msg := fmt.Sprintf("%d of %d virtual machines ready", ready, topo.Nodes)
	if ready == topo.Nodes {
		response.ConditionTrue(rsp, "Provisioned", "Available").WithMessage(msg).TargetComposite()
	} else {
		response.ConditionFalse(rsp, "Provisioned", "Creating").WithMessage(msg).TargetComposite()
	}
	return rsp, nil
}

func virtualMachine(in *v1alpha1.Input, spec Spec, shape Shape, name string, ip netip.Addr) (*composed.Unstructured, error) {
	pfx, _ := netip.ParsePrefix(in.AddressPool.CIDR)
	vm := &computev1alpha1.VirtualMachine{
		TypeMeta:   metav1.TypeMeta{APIVersion: computev1alpha1.SchemeGroupVersion.String(), Kind: computev1alpha1.VirtualMachineKind},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: computev1alpha1.VirtualMachineSpec{
			ForProvider: computev1alpha1.VirtualMachineParameters{
				CPUs:      shape.CPUs,
				MemoryMiB: shape.MemoryMiB,
				OSDiskGiB: 20,
				DataDisks: []computev1alpha1.Disk{{Name: "data", SizeGiB: spec.StorageGB}},
				Network: computev1alpha1.NetworkInterface{
					Network:      in.AddressPool.Network,
					IPAddress:    ip.String(),
					PrefixLength: int32(pfx.Bits()),
					Gateway:      in.AddressPool.Gateway,
				},
			},
		},
	}
	p := &vm.Spec.ForProvider
	switch spec.Platform {
	case "vsphere":
		if in.VSphere == nil {
			return nil, errors.New("spec.platform is vsphere but the function input has no vsphere section: add vsphere.template to the Composition's input")
		}
		v := in.VSphere
		p.VSphere = &computev1alpha1.VSpherePlacement{Template: v.Template, Datacenter: v.Datacenter, Cluster: v.Cluster, ResourcePool: v.ResourcePool, Datastore: v.Datastore, Folder: v.Folder}
	case "azure":
		p.Azure = &computev1alpha1.AzurePlacement{VMSize: shape.AzureSize}
	case "gcp":
		p.GCP = &computev1alpha1.GCPPlacement{MachineType: shape.GCPMachineType}
	default:
		return nil, errors.Errorf("spec.platform %q is not supported: choose vsphere, azure or gcp", spec.Platform)
	}
	cd, err := composed.From(vm)
	if err != nil {
		return nil, err
	}
	// Desired state never carries status: it belongs to the provider.
	delete(cd.Object, "status")
	return cd, nil
}

// allocate picks n consecutive addresses in the pool for one database. The
// block is chosen by hashing the database's namespace and name, so it is
// stable across calls without state.
// TODO(issue 3): record allocations in XR status and detect collisions across
// XDatabases through required resources.
func allocate(pool v1alpha1.AddressPool, key string, n int) ([]netip.Addr, error) {
	first, err := netip.ParseAddr(pool.First)
	if err != nil {
		return nil, errors.Wrap(err, "addressPool.first")
	}
	last, err := netip.ParseAddr(pool.Last)
	if err != nil {
		return nil, errors.Wrap(err, "addressPool.last")
	}
	if !first.Is4() || !last.Is4() {
		return nil, errors.New("addressPool.first and addressPool.last must be IPv4 addresses")
	}
	lo, hi := binary.BigEndian.Uint32(first.AsSlice()), binary.BigEndian.Uint32(last.AsSlice())
	if hi < lo || hi-lo+1 < 4 {
		return nil, errors.New("addressPool must span at least 4 addresses")
	}
	blocks := (hi - lo + 1) / 4
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	base := lo + (h.Sum32()%blocks)*4
	out := make([]netip.Addr, n)
	for i := range n {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], base+uint32(i))
		out[i] = netip.AddrFrom4(b)
	}
	return out, nil
}

func keys[V any](m map[string]V) string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return strings.Join(k, ", ")
}
