// Package azurefake is a small Azure that speaks the real wire protocols,
// so the provider's unchanged Azure client can run against it: Microsoft
// Entra ID (the OpenID configuration and client-credentials token endpoint
// of one service principal) and Azure Resource Manager (network interfaces
// and virtual machines in resource groups, with Azure-AsyncOperation
// long-running operations).
//
// It refuses what Azure refuses, with Azure's error codes: an unknown
// token, a missing api-version, another subscription, an unknown subnet,
// an address outside its subnet or already taken, a NIC that does not
// exist or is in use, a VM without a size, a disk that would shrink. Like
// Azure, it never returns a VM's custom data. Operations complete at once
// but are still reported through the long-running-operation protocol.
//
// The local platform serves it over TLS (cmd/quorum-fakecloud); tests use
// it through httptest.
package azurefake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"

	"github.com/quorumdb/quorum/internal/cloud/azure"
	"github.com/quorumdb/quorum/internal/cloud/fakeapi"
)

// Server is one tenant with one service principal and one subscription.
type Server struct {
	Tenant, ClientID, ClientSecret, Subscription string
	// Subnets known to the fake, by full resource ID.
	Subnets map[string]netip.Prefix

	mu     sync.Mutex
	tokens map[string]bool
	nics   map[string]*armnetwork.Interface // by lower-case resource ID
	vms    map[string]*armcompute.VirtualMachine
	data   map[string]string // VM ID -> custom data, never returned by GET
	ops    map[string]string // operation ID -> status
	calls  fakeapi.Calls
}

// New returns an empty Azure.
func New(tenant, clientID, clientSecret, subscription string, subnets map[string]netip.Prefix) *Server {
	return &Server{
		Tenant: tenant, ClientID: clientID, ClientSecret: clientSecret, Subscription: subscription, Subnets: subnets,
		tokens: map[string]bool{}, nics: map[string]*armnetwork.Interface{}, vms: map[string]*armcompute.VirtualMachine{},
		data: map[string]string{}, ops: map[string]string{},
	}
}

// VM is what the local platform's guest agent needs of a virtual machine.
type VM struct {
	Name, Address string
	Running       bool
	// CustomData decoded: the cloud-init document.
	CustomData string
	Disks      []fakeapi.Disk
}

// VMs lists the virtual machines, sorted by name.
func (s *Server) VMs() []VM {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []VM{}
	for id, vm := range s.vms {
		v := VM{Name: *vm.Name, Running: running(vm)}
		if raw, err := base64.StdEncoding.DecodeString(s.data[id]); err == nil {
			v.CustomData = string(raw)
		}
		if nic := s.nics[strings.ToLower(nicID(vm))]; nic != nil {
			v.Address = *nic.Properties.IPConfigurations[0].Properties.PrivateIPAddress
		}
		if p := vm.Properties; p != nil && p.StorageProfile != nil {
			for _, d := range p.StorageProfile.DataDisks {
				if d != nil && d.Lun != nil && d.DiskSizeGB != nil {
					v.Disks = append(v.Disks, fakeapi.Disk{Path: azure.DevicePath(*d.Lun), SizeGiB: *d.DiskSizeGB})
				}
			}
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// NICs lists the network interfaces' names, sorted.
func (s *Server) NICs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []string{}
	for _, n := range s.nics {
		out = append(out, *n.Name)
	}
	sort.Strings(out)
	return out
}

// Calls returns "METHOD kind [verb]" for every ARM request served, in order.
func (s *Server) Calls() []string { return s.calls.List() }

// armError writes Azure's error envelope.
func armError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-ms-error-code", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func base(r *http.Request) string { return "https://" + r.Host }

// ServeHTTP routes Entra ID and ARM requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/"+s.Tenant+"/") || strings.HasSuffix(r.URL.Path, "/openid-configuration") || strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		s.identity(w, r)
		return
	}
	s.arm(w, r)
}

// identity serves Microsoft Entra ID for one tenant.
func (s *Server) identity(w http.ResponseWriter, r *http.Request) {
	prefix := "/" + s.Tenant
	switch {
	case r.URL.Path == prefix+"/v2.0/.well-known/openid-configuration":
		fakeapi.JSON(w, http.StatusOK, map[string]any{
			"issuer":                 base(r) + prefix + "/v2.0",
			"authorization_endpoint": base(r) + prefix + "/oauth2/v2.0/authorize",
			"token_endpoint":         base(r) + prefix + "/oauth2/v2.0/token",
		})
	case r.URL.Path == prefix+"/oauth2/v2.0/token" && r.Method == http.MethodPost:
		if err := r.ParseForm(); err != nil {
			fakeapi.JSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
			return
		}
		if r.PostForm.Get("grant_type") != "client_credentials" {
			fakeapi.JSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
			return
		}
		if r.PostForm.Get("client_id") != s.ClientID || r.PostForm.Get("client_secret") != s.ClientSecret {
			fakeapi.JSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.", "error_codes": []int{7000215}})
			return
		}
		tok := fakeapi.Random(24)
		s.mu.Lock()
		s.tokens[tok] = true
		s.mu.Unlock()
		fakeapi.JSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": tok})
	default:
		fakeapi.JSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant not found.", "error_codes": []int{90002}})
	}
}

// arm serves Azure Resource Manager.
func (s *Server) arm(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !s.tokens[tok] {
		armError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "The access token is invalid.")
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		armError(w, http.StatusBadRequest, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
		return
	}
	// /subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/{type}/{name}[/{verb}]
	// /subscriptions/{sub}/providers/{ns}/locations/{loc}/operations/{id}
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(p) < 2 || !strings.EqualFold(p[0], "subscriptions") {
		armError(w, http.StatusNotFound, "InvalidResourceType", "The resource type could not be found.")
		return
	}
	if p[1] != s.Subscription {
		armError(w, http.StatusNotFound, "SubscriptionNotFound", fmt.Sprintf("The subscription '%s' could not be found.", p[1]))
		return
	}
	if len(p) == 8 && strings.EqualFold(p[6], "operations") {
		s.calls.Add("GET operation")
		st, ok := s.ops[p[7]]
		if !ok {
			armError(w, http.StatusNotFound, "NotFound", "operation not found")
			return
		}
		fakeapi.JSON(w, http.StatusOK, map[string]string{"name": p[7], "status": st})
		return
	}
	if len(p) < 8 || !strings.EqualFold(p[2], "resourceGroups") || !strings.EqualFold(p[4], "providers") {
		armError(w, http.StatusNotFound, "InvalidResourceType", "The resource type could not be found.")
		return
	}
	kind, verb := strings.ToLower(p[5]+"/"+p[6]), ""
	if len(p) > 8 {
		verb = p[8]
	}
	id := "/" + strings.Join(p[:8], "/")
	s.calls.Add(strings.TrimSpace(r.Method + " " + p[6] + " " + verb))
	switch kind {
	case "microsoft.network/networkinterfaces":
		s.nic(w, r, id, p[7])
	case "microsoft.compute/virtualmachines":
		s.vm(w, r, id, p[7], verb)
	default:
		armError(w, http.StatusNotFound, "InvalidResourceType", fmt.Sprintf("The resource type '%s' could not be found.", kind))
	}
}

// accepted answers a long-running operation that is already done, the way
// ARM answers one: 201/202 and an Azure-AsyncOperation URL to poll.
func (s *Server) accepted(w http.ResponseWriter, r *http.Request, status int, body any) {
	op := fakeapi.Random(8)
	s.ops[op] = "Succeeded"
	w.Header().Set("Azure-AsyncOperation", fmt.Sprintf("%s/subscriptions/%s/providers/Microsoft.Compute/locations/local/operations/%s?api-version=%s", base(r), s.Subscription, op, r.URL.Query().Get("api-version")))
	// ARM's hint for when to poll, in the millisecond form azcore prefers.
	w.Header().Set("Retry-After-Ms", "100")
	if body == nil {
		w.WriteHeader(status)
		return
	}
	fakeapi.JSON(w, status, body)
}

func (s *Server) nic(w http.ResponseWriter, r *http.Request, id, name string) {
	key := strings.ToLower(id)
	cur := s.nics[key]
	switch r.Method {
	case http.MethodGet:
		if cur == nil {
			armError(w, http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("The Resource 'Microsoft.Network/networkInterfaces/%s' was not found.", name))
			return
		}
		fakeapi.JSON(w, http.StatusOK, cur)
	case http.MethodPut:
		in := &armnetwork.Interface{}
		if err := json.NewDecoder(r.Body).Decode(in); err != nil || in.Properties == nil || len(in.Properties.IPConfigurations) != 1 || in.Properties.IPConfigurations[0].Properties == nil {
			armError(w, http.StatusBadRequest, "InvalidRequestFormat", "Cannot parse the request: a NIC needs one IP configuration.")
			return
		}
		if code, msg, ok := checkResource("Microsoft.Network/networkInterfaces", name, 80, in.Tags); !ok {
			armError(w, http.StatusBadRequest, code, msg)
			return
		}
		ipc := in.Properties.IPConfigurations[0].Properties
		subnetID := ""
		if ipc.Subnet != nil && ipc.Subnet.ID != nil {
			subnetID = *ipc.Subnet.ID
		}
		prefix, ok := s.subnet(subnetID)
		if !ok {
			armError(w, http.StatusBadRequest, "InvalidResourceReference", fmt.Sprintf("Resource %s referenced by resource %s was not found.", subnetID, id))
			return
		}
		inUse := func(a netip.Addr) *armnetwork.Interface {
			for k, n := range s.nics {
				if k != key && deref(n.Properties.IPConfigurations[0].Properties.PrivateIPAddress) == a.String() {
					return n
				}
			}
			return nil
		}
		var addr netip.Addr
		if deref(ipc.PrivateIPAllocationMethod) == armnetwork.IPAllocationMethodDynamic {
			// Azure picks the lowest free address outside the reserved ones.
			if cur != nil {
				addr = netip.MustParseAddr(deref(cur.Properties.IPConfigurations[0].Properties.PrivateIPAddress))
			}
			for a := prefix.Masked().Addr(); !addr.IsValid() && prefix.Contains(a); a = a.Next() {
				if !reserved(prefix, a) && inUse(a) == nil {
					addr = a
				}
			}
			if !addr.IsValid() {
				armError(w, http.StatusBadRequest, "SubnetIsFull", fmt.Sprintf("Subnet %s with address prefix %s does not have enough capacity for 1 IP addresses.", subnetID, prefix))
				return
			}
			a := addr.String()
			ipc.PrivateIPAddress = &a
		} else {
			var err error
			addr, err = netip.ParseAddr(deref(ipc.PrivateIPAddress))
			if err != nil || !prefix.Contains(addr) {
				armError(w, http.StatusBadRequest, "PrivateIPAddressNotInSubnet", fmt.Sprintf("IP configuration %s/ipConfigurations/primary references the private IP address %s which is not within the subnet %s (%s).", id, deref(ipc.PrivateIPAddress), subnetID, prefix))
				return
			}
			if reserved(prefix, addr) {
				armError(w, http.StatusBadRequest, "PrivateIPAddressInReservedRange", fmt.Sprintf("Private static IP address %s falls within reserved IP range of subnet prefix %s.", addr, prefix))
				return
			}
			if n := inUse(addr); n != nil {
				armError(w, http.StatusBadRequest, "PrivateIPAddressInUse", fmt.Sprintf("IP configuration %s/ipConfigurations/primary is using the private IP address %s which is already allocated to resource %s.", id, addr, *n.ID))
				return
			}
		}
		in.ID, in.Name = &id, &name
		ipc.ProvisioningState = nil
		state := armnetwork.ProvisioningStateSucceeded
		in.Properties.ProvisioningState = &state
		status := http.StatusCreated
		if cur != nil {
			status = http.StatusOK
			in.Properties.VirtualMachine = cur.Properties.VirtualMachine
		}
		s.nics[key] = in
		// The answer says Updating, as ARM's does: the state is read again
		// when the operation ends.
		ans := *in
		props := *in.Properties
		updating := armnetwork.ProvisioningStateUpdating
		props.ProvisioningState = &updating
		ans.Properties = &props
		s.accepted(w, r, status, &ans)
	case http.MethodDelete:
		if cur == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if cur.Properties.VirtualMachine != nil {
			armError(w, http.StatusBadRequest, "NicInUse", fmt.Sprintf("Network Interface %s is used by existing resource %s. In order to delete the network interface, it must be dissociated from the resource.", id, *cur.Properties.VirtualMachine.ID))
			return
		}
		delete(s.nics, key)
		s.accepted(w, r, http.StatusAccepted, nil)
	default:
		armError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", r.Method)
	}
}

func (s *Server) subnet(id string) (netip.Prefix, bool) {
	for k, p := range s.Subnets {
		if strings.EqualFold(k, id) {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

func nicID(vm *armcompute.VirtualMachine) string {
	if vm.Properties == nil || vm.Properties.NetworkProfile == nil || len(vm.Properties.NetworkProfile.NetworkInterfaces) == 0 {
		return ""
	}
	return deref(vm.Properties.NetworkProfile.NetworkInterfaces[0].ID)
}

func running(vm *armcompute.VirtualMachine) bool {
	for _, st := range vm.Properties.InstanceView.Statuses {
		if deref(st.Code) == "PowerState/running" {
			return true
		}
	}
	return false
}

func setPower(vm *armcompute.VirtualMachine, on bool) {
	code, name := "PowerState/stopped", "VM stopped"
	if on {
		code, name = "PowerState/running", "VM running"
	}
	ps := "ProvisioningState/succeeded"
	vm.Properties.InstanceView = &armcompute.VirtualMachineInstanceView{Statuses: []*armcompute.InstanceViewStatus{{Code: &ps}, {Code: &code, DisplayStatus: &name}}}
}

// view is what GET returns: no custom data (Azure never returns it) and the
// instance view only when asked for.
func view(vm *armcompute.VirtualMachine, expand bool) *armcompute.VirtualMachine {
	b, _ := json.Marshal(vm)
	out := &armcompute.VirtualMachine{}
	_ = json.Unmarshal(b, out)
	if out.Properties.OSProfile != nil {
		out.Properties.OSProfile.CustomData = nil
	}
	if !expand {
		out.Properties.InstanceView = nil
	}
	return out
}

// inProgress is how ARM answers a PUT or PATCH it has not finished.
func inProgress(vm *armcompute.VirtualMachine, state string) *armcompute.VirtualMachine {
	vm.Properties.ProvisioningState = &state
	return vm
}

func (s *Server) vm(w http.ResponseWriter, r *http.Request, id, name, verb string) {
	key := strings.ToLower(id)
	cur := s.vms[key]
	if cur == nil && (r.Method != http.MethodPut && r.Method != http.MethodDelete) {
		armError(w, http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("The Resource 'Microsoft.Compute/virtualMachines/%s' was not found.", name))
		return
	}
	switch {
	case r.Method == http.MethodGet:
		fakeapi.JSON(w, http.StatusOK, view(cur, r.URL.Query().Get("$expand") == "instanceView"))
	case r.Method == http.MethodPut:
		if cur != nil {
			armError(w, http.StatusConflict, "OperationNotAllowed", "Updating an existing VM with PUT is not supported by this fake: use PATCH.")
			return
		}
		in := &armcompute.VirtualMachine{}
		if err := json.NewDecoder(r.Body).Decode(in); err != nil || in.Properties == nil {
			armError(w, http.StatusBadRequest, "InvalidRequestFormat", "Cannot parse the request.")
			return
		}
		if code, msg, ok := checkResource("Microsoft.Compute/virtualMachines", name, 64, in.Tags); !ok {
			armError(w, http.StatusBadRequest, code, msg)
			return
		}
		if in.Properties.HardwareProfile == nil || deref(in.Properties.HardwareProfile.VMSize) == "" {
			armError(w, http.StatusBadRequest, "InvalidParameter", "Required parameter 'hardwareProfile.vmSize' is missing (null).")
			return
		}
		nid := nicID(in)
		nic := s.nics[strings.ToLower(nid)]
		if nic == nil {
			armError(w, http.StatusBadRequest, "InvalidResourceReference", fmt.Sprintf("Resource %s referenced by resource %s was not found.", nid, id))
			return
		}
		if nic.Properties.VirtualMachine != nil {
			armError(w, http.StatusBadRequest, "NicInUse", fmt.Sprintf("Network Interface %s is used by existing Virtual Machine %s.", nid, *nic.Properties.VirtualMachine.ID))
			return
		}
		vmID := id
		in.ID, in.Name = &vmID, &name
		if in.Properties.OSProfile != nil {
			s.data[key] = deref(in.Properties.OSProfile.CustomData)
		}
		state := "Succeeded"
		in.Properties.ProvisioningState = &state
		setPower(in, true)
		nic.Properties.VirtualMachine = &armnetwork.SubResource{ID: &vmID}
		s.vms[key] = in
		s.accepted(w, r, http.StatusCreated, inProgress(view(in, false), "Creating"))
	case r.Method == http.MethodPatch:
		upd := &armcompute.VirtualMachineUpdate{}
		if err := json.NewDecoder(r.Body).Decode(upd); err != nil {
			armError(w, http.StatusBadRequest, "InvalidRequestFormat", "Cannot parse the request.")
			return
		}
		if pr := upd.Properties; pr != nil {
			if pr.StorageProfile != nil {
				have := cur.Properties.StorageProfile.DataDisks
				for _, d := range pr.StorageProfile.DataDisks {
					for _, h := range have {
						if deref(h.Lun) == deref(d.Lun) && d.DiskSizeGB != nil {
							if *d.DiskSizeGB < deref(h.DiskSizeGB) {
								armError(w, http.StatusConflict, "OperationNotAllowed", fmt.Sprintf("Disk %s: changing the disk size to a smaller value is not allowed.", deref(h.Name)))
								return
							}
							h.DiskSizeGB = d.DiskSizeGB
						}
					}
				}
			}
			if pr.HardwareProfile != nil && pr.HardwareProfile.VMSize != nil {
				cur.Properties.HardwareProfile.VMSize = pr.HardwareProfile.VMSize
			}
		}
		s.accepted(w, r, http.StatusOK, inProgress(view(cur, false), "Updating"))
	case r.Method == http.MethodPost && (verb == "start" || verb == "powerOff"):
		setPower(cur, verb == "start")
		s.accepted(w, r, http.StatusAccepted, nil)
	case r.Method == http.MethodDelete:
		if cur == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		// Disks and NICs whose deleteOption is Delete go with the VM.
		nid := strings.ToLower(nicID(cur))
		if nic := s.nics[nid]; nic != nil {
			nic.Properties.VirtualMachine = nil
			ref := cur.Properties.NetworkProfile.NetworkInterfaces[0]
			if ref.Properties != nil && ref.Properties.DeleteOption != nil && *ref.Properties.DeleteOption == armcompute.DeleteOptionsDelete {
				delete(s.nics, nid)
			}
		}
		delete(s.vms, key)
		delete(s.data, key)
		s.accepted(w, r, http.StatusAccepted, nil)
	default:
		armError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", r.Method+" "+verb)
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
