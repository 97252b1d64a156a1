package xdatabase

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/crossplane/function-sdk-go/logging"
	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/resource"
	"github.com/crossplane/function-sdk-go/response"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/quorumdb/quorum/functions/xdatabase/input/v1alpha1"
)

const input = `{
	"apiVersion": "xdatabase.fn.quorum.dev/v1alpha1",
	"kind": "Input",
	"addressPool": {"cidr": "10.77.0.0/24", "first": "10.77.0.16", "last": "10.77.0.19", "gateway": "10.77.0.1", "network": "VM Network"},
	"vsphere": {"template": "debian-12", "datacenter": "DC0"}
}`

func xr(spec string) *fnv1.State {
	return &fnv1.State{Composite: &fnv1.Resource{Resource: resource.MustStructJSON(`{
		"apiVersion": "platform.quorum.dev/v1alpha1",
		"kind": "XDatabase",
		"metadata": {"name": "orders", "namespace": "team-a"},
		"spec": ` + spec + `
	}`)}}
}

func vm(name, ip string) *fnv1.Resource {
	return &fnv1.Resource{Resource: resource.MustStructJSON(`{
		"apiVersion": "compute.m.quorum.dev/v1alpha1",
		"kind": "VirtualMachine",
		"metadata": {"name": "` + name + `"},
		"spec": {"forProvider": {
			"cpus": 2, "memoryMiB": 4096, "osDiskGiB": 20,
			"dataDisks": [{"name": "data", "sizeGiB": 20}],
			"network": {"network": "VM Network", "ipAddress": "` + ip + `", "prefixLength": 24, "gateway": "10.77.0.1"},
			"vsphere": {"template": "debian-12", "datacenter": "DC0"}
		}}
	}`)}
}

func TestRunFunction(t *testing.T) {
	ttl := durationpb.New(response.DefaultTTL)
	ready := &fnv1.Resource{Resource: resource.MustStructJSON(`{
		"apiVersion": "compute.m.quorum.dev/v1alpha1", "kind": "VirtualMachine",
		"metadata": {"name": "orders-0"},
		"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Available", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
	}`)}
	readyVM := vm("orders-0", "10.77.0.16")
	readyVM.Ready = fnv1.Ready_READY_TRUE

	cases := map[string]struct {
		reason string
		req    *fnv1.RunFunctionRequest
		want   *fnv1.RunFunctionResponse
	}{
		"DevTierOneVM": {
			reason: "A dev tier database gets one VM shaped by its size, with the first address of its block.",
			req: &fnv1.RunFunctionRequest{
				Input:    resource.MustStructJSON(input),
				Observed: xr(`{"engine": "postgresql", "version": "15", "tier": "dev", "size": "small", "storageGB": 20, "platform": "vsphere"}`),
			},
			want: &fnv1.RunFunctionResponse{
				Meta:    &fnv1.ResponseMeta{Ttl: ttl},
				Desired: &fnv1.State{Resources: map[string]*fnv1.Resource{"vm-0": vm("orders-0", "10.77.0.16")}},
				Conditions: []*fnv1.Condition{{
					Type: "Provisioned", Status: fnv1.Status_STATUS_CONDITION_FALSE, Reason: "Creating",
					Message: ptr("0 of 1 virtual machines ready"), Target: fnv1.Target_TARGET_COMPOSITE.Enum(),
				}},
			},
		},
		"ObservedReadyVM": {
			reason: "A VM whose Ready condition is True is marked ready so Crossplane can report the XDatabase ready.",
			req: &fnv1.RunFunctionRequest{
				Input: resource.MustStructJSON(input),
				Observed: func() *fnv1.State {
					s := xr(`{"engine": "postgresql", "version": "15", "tier": "dev", "size": "small", "storageGB": 20, "platform": "vsphere"}`)
					s.Resources = map[string]*fnv1.Resource{"vm-0": ready}
					return s
				}(),
			},
			want: &fnv1.RunFunctionResponse{
				Meta:    &fnv1.ResponseMeta{Ttl: ttl},
				Desired: &fnv1.State{Resources: map[string]*fnv1.Resource{"vm-0": readyVM}},
				Conditions: []*fnv1.Condition{{
					Type: "Provisioned", Status: fnv1.Status_STATUS_CONDITION_TRUE, Reason: "Available",
					Message: ptr("1 of 1 virtual machines ready"), Target: fnv1.Target_TARGET_COMPOSITE.Enum(),
				}},
			},
		},
		"UnknownTier": {
			reason: "A tier the catalog does not offer is a Fatal result naming the field and the choices.",
			req: &fnv1.RunFunctionRequest{
				Input:    resource.MustStructJSON(input),
				Observed: xr(`{"engine": "postgresql", "version": "15", "tier": "gold", "size": "small", "storageGB": 20, "platform": "vsphere"}`),
			},
			want: &fnv1.RunFunctionResponse{
				Meta: &fnv1.ResponseMeta{Ttl: ttl},
				Results: []*fnv1.Result{{
					Severity: fnv1.Severity_SEVERITY_FATAL,
					Message:  `spec.tier "gold" is not offered: choose one of critical, dev, ha, standard`,
					Target:   fnv1.Target_TARGET_COMPOSITE.Enum(),
				}},
			},
		},
		"VSphereWithoutPlacement": {
			reason: "A vSphere database needs the vsphere section of the function input.",
			req: &fnv1.RunFunctionRequest{
				Input:    resource.MustStructJSON(`{"apiVersion": "xdatabase.fn.quorum.dev/v1alpha1", "kind": "Input", "addressPool": {"cidr": "10.77.0.0/24", "first": "10.77.0.16", "last": "10.77.0.19", "network": "n"}}`),
				Observed: xr(`{"engine": "postgresql", "version": "15", "tier": "dev", "size": "small", "storageGB": 20, "platform": "vsphere"}`),
			},
			want: &fnv1.RunFunctionResponse{
				Meta: &fnv1.ResponseMeta{Ttl: ttl},
				Results: []*fnv1.Result{{
					Severity: fnv1.Severity_SEVERITY_FATAL,
					Message:  "cannot build VirtualMachine 0: spec.platform is vsphere but the function input has no vsphere section: add vsphere.template to the Composition's input",
					Target:   fnv1.Target_TARGET_COMPOSITE.Enum(),
				}},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := &Function{Log: logging.NewNopLogger()}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			got, err := f.RunFunction(ctx, tc.req)
			if err != nil {
				t.Fatalf("RunFunction: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("%s\nRunFunction(...): -want rsp, +got rsp:\n%s", tc.reason, diff)
			}
		})
	}
}

func TestAllocate(t *testing.T) {
	pool := v1alpha1.AddressPool{First: "10.0.0.10", Last: "10.0.0.29"}
	cases := map[string]struct {
		pool    v1alpha1.AddressPool
		key     string
		n       int
		wantErr bool
	}{
		"ThreeInBlock": {pool: pool, key: "team-a/orders", n: 3},
		"TooSmall":     {pool: v1alpha1.AddressPool{First: "10.0.0.10", Last: "10.0.0.11"}, key: "a/b", n: 1, wantErr: true},
		"Reversed":     {pool: v1alpha1.AddressPool{First: "10.0.0.20", Last: "10.0.0.10"}, key: "a/b", n: 1, wantErr: true},
		"NotAnAddress": {pool: v1alpha1.AddressPool{First: "ten", Last: "10.0.0.10"}, key: "a/b", n: 1, wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := allocate(tc.pool, tc.key, tc.n)
			if (err != nil) != tc.wantErr {
				t.Fatalf("allocate(): err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			lo, hi := netip.MustParseAddr(tc.pool.First), netip.MustParseAddr(tc.pool.Last)
			for i, a := range got {
				if a.Less(lo) || hi.Less(a) {
					t.Errorf("address %d = %s outside pool %s-%s", i, a, lo, hi)
				}
				if i > 0 && a != got[i-1].Next() {
					t.Errorf("addresses not consecutive: %v", got)
				}
			}
			again, _ := allocate(tc.pool, tc.key, tc.n)
			if diff := cmp.Diff(got, again, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("allocate() not stable: -first, +second:\n%s", diff)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
