package azure

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	computefake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"
	networkfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7/fake"
)

// arm is a small stateful Azure Resource Manager behind the SDK's fake
// servers: VMs and NICs by name, long-running operations that take one poll,
// and knobs to throttle the next calls.
type fakeARM struct {
	mu       sync.Mutex
	vms      map[string]armcompute.VirtualMachine
	running  map[string]bool
	nics     map[string]armnetwork.Interface
	throttle int // the next N VM Gets answer 429
	calls    []string
}

func newARM() *fakeARM {
	return &fakeARM{vms: map[string]armcompute.VirtualMachine{}, running: map[string]bool{}, nics: map[string]armnetwork.Interface{}}
}

func (a *fakeARM) log(s string) { a.calls = append(a.calls, s) }

func (a *fakeARM) client() (*Client, error) {
	retry := policy.RetryOptions{RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond}
	c, err := New("sub-1", &azfake.TokenCredential{}, Options{
		Compute: &arm.ClientOptions{ClientOptions: policy.ClientOptions{Transport: &throttler{a: a, next: computefake.NewVirtualMachinesServerTransport(a.vmServer())}, Retry: retry}},
		Network: &arm.ClientOptions{ClientOptions: policy.ClientOptions{Transport: networkfake.NewInterfacesServerTransport(a.nicServer()), Retry: retry}},
	})
	if err != nil {
		return nil, err
	}
	c.Poll = time.Millisecond
	return c, nil
}

func (a *fakeARM) vmServer() *computefake.VirtualMachinesServer {
	return &computefake.VirtualMachinesServer{
		Get: func(_ context.Context, rg, name string, _ *armcompute.VirtualMachinesClientGetOptions) (resp azfake.Responder[armcompute.VirtualMachinesClientGetResponse], errResp azfake.ErrorResponder) {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.log("GET vm " + name)
			vm, ok := a.vms[name]
			if !ok {
				errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
				return
			}
			code := "PowerState/stopped"
			if a.running[name] {
				code = "PowerState/running"
			}
			vm.Properties.InstanceView = &armcompute.VirtualMachineInstanceView{Statuses: []*armcompute.InstanceViewStatus{{Code: to.Ptr("ProvisioningState/succeeded")}, {Code: to.Ptr(code)}}}
			resp.SetResponse(http.StatusOK, armcompute.VirtualMachinesClientGetResponse{VirtualMachine: vm}, nil)
			return
		},
		BeginCreateOrUpdate: func(_ context.Context, rg, name string, vm armcompute.VirtualMachine, _ *armcompute.VirtualMachinesClientBeginCreateOrUpdateOptions) (resp azfake.PollerResponder[armcompute.VirtualMachinesClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
			a.mu.Lock()
			defer a.mu.Unlock()
			if vm.Properties == nil { // A resumed poller calls again with no body.
				resp.SetTerminalResponse(http.StatusOK, armcompute.VirtualMachinesClientCreateOrUpdateResponse{VirtualMachine: a.vms[name]}, nil)
				return
			}
			a.log("PUT vm " + name)
			vm.ID = to.Ptr("/subscriptions/sub-1/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachines/" + name)
			vm.Name = to.Ptr(name)
			a.vms[name] = vm
			a.running[name] = true
			resp.AddNonTerminalResponse(http.StatusCreated, nil)
			resp.SetTerminalResponse(http.StatusOK, armcompute.VirtualMachinesClientCreateOrUpdateResponse{VirtualMachine: vm}, nil)
			return
		},
		BeginUpdate: func(_ context.Context, rg, name string, u armcompute.VirtualMachineUpdate, _ *armcompute.VirtualMachinesClientBeginUpdateOptions) (resp azfake.PollerResponder[armcompute.VirtualMachinesClientUpdateResponse], errResp azfake.ErrorResponder) {
			a.mu.Lock()
			defer a.mu.Unlock()
			vm, ok := a.vms[name]
			if !ok {
				errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
				return
			}
			a.log("PATCH vm " + name)
			if u.Properties != nil && u.Properties.HardwareProfile != nil {
				vm.Properties.HardwareProfile = u.Properties.HardwareProfile
			}
			if u.Properties != nil && u.Properties.StorageProfile != nil {
				for i, d := range u.Properties.StorageProfile.DataDisks {
					vm.Properties.StorageProfile.DataDisks[i].DiskSizeGB = d.DiskSizeGB
				}
			}
			a.vms[name] = vm
			resp.SetTerminalResponse(http.StatusOK, armcompute.VirtualMachinesClientUpdateResponse{VirtualMachine: vm}, nil)
			return
		},
		BeginPowerOff: func(_ context.Context, rg, name string, _ *armcompute.VirtualMachinesClientBeginPowerOffOptions) (resp azfake.PollerResponder[armcompute.VirtualMachinesClientPowerOffResponse], errResp azfake.ErrorResponder) {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.log("POST vm " + name + " powerOff")
			a.running[name] = false
			resp.SetTerminalResponse(http.StatusOK, armcompute.VirtualMachinesClientPowerOffResponse{}, nil)
			return
		},
		BeginStart: func(_ context.Context, rg, name string, _ *armcompute.VirtualMachinesClientBeginStartOptions) (resp azfake.PollerResponder[armcompute.VirtualMachinesClientStartResponse], errResp azfake.ErrorResponder) {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.log("POST vm " + name + " start")
			a.running[name] = true
			resp.SetTerminalResponse(http.StatusOK, armcompute.VirtualMachinesClientStartResponse{}, nil)
			return
		},
		BeginDelete: func(_ context.Context, rg, name string, _ *armcompute.VirtualMachinesClientBeginDeleteOptions) (resp azfake.PollerResponder[armcompute.VirtualMachinesClientDeleteResponse], errResp azfake.ErrorResponder) {
			a.mu.Lock()
			defer a.mu.Unlock()
			if _, ok := a.vms[name]; !ok {
				errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
				return
			}
			a.log("DELETE vm " + name)
			delete(a.vms, name)
			resp.AddNonTerminalResponse(http.StatusAccepted, nil)
			resp.SetTerminalResponse(http.StatusOK, armcompute.VirtualMachinesClientDeleteResponse{}, nil)
			return
		},
	}
}

func (a *fakeARM) nicServer() *networkfake.InterfacesServer {
	return &networkfake.InterfacesServer{
		Get: func(_ context.Context, rg, name string, _ *armnetwork.InterfacesClientGetOptions) (resp azfake.Responder[armnetwork.InterfacesClientGetResponse], errResp azfake.ErrorResponder) {
			a.mu.Lock()
			defer a.mu.Unlock()
			nic, ok := a.nics[name]
			if !ok {
				errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
				return
			}
			resp.SetResponse(http.StatusOK, armnetwork.InterfacesClientGetResponse{Interface: nic}, nil)
			return
		},
		BeginCreateOrUpdate: func(_ context.Context, rg, name string, nic armnetwork.Interface, _ *armnetwork.InterfacesClientBeginCreateOrUpdateOptions) (resp azfake.PollerResponder[armnetwork.InterfacesClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
			a.mu.Lock()
			defer a.mu.Unlock()
			if nic.Properties == nil {
				resp.SetTerminalResponse(http.StatusOK, armnetwork.InterfacesClientCreateOrUpdateResponse{Interface: a.nics[name]}, nil)
				return
			}
			a.log("PUT nic " + name)
			nic.ID = to.Ptr("/subscriptions/sub-1/resourceGroups/" + rg + "/providers/Microsoft.Network/networkInterfaces/" + name)
			a.nics[name] = nic
			resp.AddNonTerminalResponse(http.StatusCreated, nil)
			resp.SetTerminalResponse(http.StatusOK, armnetwork.InterfacesClientCreateOrUpdateResponse{Interface: nic}, nil)
			return
		},
		BeginDelete: func(_ context.Context, rg, name string, _ *armnetwork.InterfacesClientBeginDeleteOptions) (resp azfake.PollerResponder[armnetwork.InterfacesClientDeleteResponse], errResp azfake.ErrorResponder) {
			a.mu.Lock()
			defer a.mu.Unlock()
			if _, ok := a.nics[name]; !ok {
				errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
				return
			}
			a.log("DELETE nic " + name)
			delete(a.nics, name)
			resp.AddNonTerminalResponse(http.StatusAccepted, nil)
			resp.SetTerminalResponse(http.StatusOK, armnetwork.InterfacesClientDeleteResponse{}, nil)
			return
		},
	}
}

// throttler answers real HTTP 429 responses, with Retry-After, while the
// fake ARM's throttle count lasts, then lets requests through.
type throttler struct {
	a    *fakeARM
	next policy.Transporter
}

func (t *throttler) Do(req *http.Request) (*http.Response, error) {
	t.a.mu.Lock()
	throttled := t.a.throttle > 0
	if throttled {
		t.a.throttle--
		t.a.log("429 " + req.Method)
	}
	t.a.mu.Unlock()
	if throttled {
		return &http.Response{
			StatusCode: http.StatusTooManyRequests,
			Header:     http.Header{"Retry-After": []string{"0"}, "Content-Type": []string{"application/json"}},
			Body:       io.NopCloser(strings.NewReader(`{"error":{"code":"TooManyRequests","message":"throttled"}}`)),
			Request:    req,
		}, nil
	}
	return t.next.Do(req)
}
