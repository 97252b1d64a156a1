package xdatabase

import (
	"testing"

	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/resource"
	"github.com/google/go-cmp/cmp"
)

// TestPlatformSections checks that each platform's VMs use that platform's
// ProviderConfig and address pool: one Composition serves vSphere, Azure and
// GCP, each with its own credentials and subnet.
func TestPlatformSections(t *testing.T) {
	input := `{
		"apiVersion": "xdatabase.fn.quorum.dev/v1alpha1", "kind": "Input",
		"providerConfigName": "onprem",
		"addressPool": {"cidr": "10.77.0.0/18", "first": "10.77.0.16", "last": "10.77.63.254", "gateway": "10.77.0.1", "network": "VM Network"},
		"vsphere": {"template": "debian-12"},
		"azure": {"resourceGroup": "rg", "location": "westeurope", "image": "Debian:debian-12:12:latest", "providerConfigName": "azure",
			"addressPool": {"cidr": "10.77.64.0/18", "first": "10.77.64.16", "last": "10.77.127.254", "gateway": "10.77.64.1", "network": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/db"}},
		"gcp": {"image": "debian-12", "zones": ["europe-west1-b"], "providerConfigName": "gcp"}
	}`
	// The clouds assign addresses themselves when the pool names only the
	// network.
	cloudAssigns := `{
		"apiVersion": "xdatabase.fn.quorum.dev/v1alpha1", "kind": "Input",
		"gcp": {"image": "debian-12", "zones": ["europe-west1-b"], "providerConfigName": "gcp", "addressPool": {"cidr": "10.77.128.0/18", "network": "regions/europe-west1/subnetworks/db"}}
	}`
	type want struct {
		ProviderConfig, Network, Gateway string
		// Range the provider leases the address from, "" when the cloud
		// assigns it.
		Range string
	}
	cases := map[string]struct {
		reason   string
		input    string
		platform string
		want     want
	}{
		"VSphereTopLevel": {
			reason:   "A section without its own settings uses the top-level ProviderConfig and pool.",
			platform: "vsphere",
			want:     want{ProviderConfig: "onprem", Network: "VM Network", Gateway: "10.77.0.1", Range: "10.77.0.16-10.77.63.254"},
		},
		"AzureOwn": {
			reason:   "Azure's section names its own ProviderConfig and subnet.",
			platform: "azure",
			want:     want{ProviderConfig: "azure", Network: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/db", Gateway: "10.77.64.1", Range: "10.77.64.16-10.77.127.254"},
		},
		"GCPOwnConfigTopLevelPool": {
			reason:   "GCP's section names its ProviderConfig only: the pool falls back to the top level.",
			platform: "gcp",
			want:     want{ProviderConfig: "gcp", Network: "VM Network", Gateway: "10.77.0.1", Range: "10.77.0.16-10.77.63.254"},
		},
		"GCPAssigns": {
			reason:   "A pool naming only the network lets GCP assign the address.",
			input:    cloudAssigns,
			platform: "gcp",
			want:     want{ProviderConfig: "gcp", Network: "regions/europe-west1/subnetworks/db"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			spec := `{"engine": "postgresql", "version": "15", "tier": "dev", "size": "small", "storageGB": 20, "platform": "` + tc.platform + `"}`
			in := input
			if tc.input != "" {
				in = tc.input
			}
			rsp := run(t, &fnv1.RunFunctionRequest{Input: resource.MustStructJSON(in), Observed: &fnv1.State{Composite: xdb(spec)}})
			if len(rsp.GetResults()) > 0 {
				t.Fatalf("unexpected results: %v", rsp.GetResults())
			}
			vm := rsp.GetDesired().GetResources()[string(vmKey(0))].GetResource().AsMap()
			sp := vm["spec"].(map[string]any)
			net := sp["forProvider"].(map[string]any)["network"].(map[string]any)
			if a, ok := net["ipAddress"]; ok {
				t.Errorf("the function chose address %v: the provider or the cloud does", a)
			}
			got := want{
				ProviderConfig: sp["providerConfigRef"].(map[string]any)["name"].(string),
				Network:        net["network"].(string),
			}
			got.Gateway, _ = net["gateway"].(string)
			if r, ok := net["addressRange"].(map[string]any); ok {
				got.Range = r["first"].(string) + "-" + r["last"].(string)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s\nVM of a %s database: -want, +got:\n%s", tc.reason, tc.platform, diff)
			}
		})
	}
}
