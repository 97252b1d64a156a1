package local

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/quorumdb/quorum/cluster/localdc"
	"github.com/quorumdb/quorum/internal/cloud/vsphere"
	"github.com/quorumdb/quorum/internal/guestkeys"
)

// Addresses of the local datacenter: the function input's pool lives in
// this subnet; the bridge is its gateway.
// The datacenter is a /16: a quarter for each platform's pool (vSphere's
// port group, the fake Azure's subnet, the fake GCP's subnetwork), so the
// hashed address blocks of many databases rarely meet.
var dcGateway = netip.MustParsePrefix("10.77.0.1/16")

// DC is the platform's local datacenter.
func (p *Platform) DC() *localdc.DC {
	// Guests are machines of their own: their own files and data disks,
	// and nothing of the platform's state (keys, other guests) in view.
	return &localdc.DC{Prefix: "ql", Gateway: dcGateway, Dir: filepath.Join(p.StateDir, "guests"), Isolated: true, Hide: []string{p.StateDir}}
}

// startGuests runs the guest agent: it turns every powered-on simulated VM
// that carries cloud-init keys and an address into a namespace guest with
// sshd, and removes guests whose VM is gone.
func (p *Platform) startGuests(ctx context.Context, _ *State) error {
	if err := localdc.Check(); err != nil {
		return fmt.Errorf("%w: database nodes need the local datacenter", err)
	}
	// One datacenter per machine: its subnet is the Composition's pool.
	if err := exec.CommandContext(ctx, "ip", "link", "show", p.DC().Prefix+"br").Run(); err == nil {
		return fmt.Errorf("another local platform's datacenter is running (bridge %sbr): stop it with `make down` (or `ip link del %sbr` if it crashed)", p.DC().Prefix, p.DC().Prefix)
	}
	if err := p.DC().Up(ctx); err != nil {
		return err
	}
	// The agent is quorum-local's hidden "guests" command; take the built
	// binary, not os.Executable, which in tests is the test binary.
	return p.start(process{Name: "guests", Path: p.bin("quorum-local"), Args: []string{"guests", "--state-dir=" + p.StateDir}})
}

// RunGuests is the guest agent's loop; it returns when ctx ends.
func (p *Platform) RunGuests(ctx context.Context, log io.Writer) error {
	v, err := p.ReadVCenter()
	if err != nil {
		return err
	}
	u, err := soap.ParseURL(v.URL)
	if err != nil {
		return err
	}
	sc := soap.NewClient(u, false)
	sc.SetThumbprint(u.Host, v.Thumbprint)
	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return err
	}
	if err := session.NewManager(vc).Login(ctx, url.UserPassword(v.Username, v.Password)); err != nil {
		return fmt.Errorf("cannot log in to the simulator: %w", err)
	}
	// The fake clouds' VMs boot as guests too, from their cloud-init user
	// data. Their endpoints are read once: they do not move.
	clouds, err := p.ReadFakeClouds()
	if err != nil {
		return fmt.Errorf("cannot read the fake clouds' endpoints: %w", err)
	}
	hc, err := p.platformHTTPClient()
	if err != nil {
		return err
	}
	dc := p.DC()
	have := map[string]localdc.Guest{}
	for {
		want, err := poweredVMs(ctx, vc)
		if err != nil {
			_, _ = fmt.Fprintf(log, "list VMs: %v\n", err)
		}
		if cg, cerr := cloudGuests(ctx, hc, clouds); cerr != nil {
			_, _ = fmt.Fprintf(log, "list cloud VMs: %v\n", cerr)
			err = cerr
		} else {
			if want == nil {
				want = map[string]localdc.Guest{}
			}
			for k, g := range cg {
				want[k] = g
			}
		}
		for name, g := range want {
			if h, ok := have[name]; ok && h.Address == g.Address {
				// A disk added or grown: attached without a reboot, as
				// the platform does it.
				if !slices.Equal(h.Disks, g.Disks) {
					if err := dc.SyncDisks(ctx, g); err != nil {
						_, _ = fmt.Fprintf(log, "disks of guest %s: %v\n", name, err)
						continue
					}
					have[name] = g
					_, _ = fmt.Fprintf(log, "guest %s disks %v\n", name, g.Disks)
				}
				continue
			}
			if err := dc.Add(ctx, g); err != nil {
				_, _ = fmt.Fprintf(log, "add guest %s: %v\n", name, err)
				continue
			}
			have[name] = g
			_, _ = fmt.Fprintf(log, "guest %s up at %s with disks %v\n", name, g.Address, g.Disks)
		}
		for name := range have {
			if _, ok := want[name]; !ok && err == nil {
				if err := dc.Remove(ctx, name); err != nil {
					_, _ = fmt.Fprintf(log, "remove guest %s: %v\n", name, err)
					continue
				}
				delete(have, name)
				_, _ = fmt.Fprintf(log, "guest %s removed\n", name)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// poweredVMs lists the VMs that should have a guest, keyed by VM name.
func poweredVMs(ctx context.Context, vc *vim25.Client) (map[string]localdc.Guest, error) {
	m := view.NewManager(vc)
	v, err := m.CreateContainerView(ctx, vc.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return nil, err
	}
	defer v.Destroy(ctx) //nolint:errcheck // Best effort.
	var vms []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name", "config.extraConfig", "config.hardware.device", "guest.ipAddress", "runtime.powerState"}, &vms); err != nil {
		return nil, err
	}
	out := map[string]localdc.Guest{}
	for _, vm := range vms {
		if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn || vm.Guest == nil || vm.Guest.IpAddress == "" || vm.Config == nil {
			continue
		}
		addr, err := netip.ParseAddr(vm.Guest.IpAddress)
		if err != nil || !dcGateway.Contains(addr) {
			continue
		}
		var ud string
		for _, o := range vm.Config.ExtraConfig {
			if ov := o.GetOptionValue(); ov.Key == "guestinfo.userdata" {
				ud, _ = ov.Value.(string)
			}
		}
		raw, err := base64.StdEncoding.DecodeString(ud)
		if err != nil || len(raw) == 0 {
			continue
		}
		hostKey, auth, err := guestkeys.ParseUserData(string(raw))
		if err != nil {
			continue
		}
		g := localdc.Guest{Name: vm.Name, Address: addr, HostKey: hostKey, AuthorizedKey: auth}
		// Data disks: every disk after the first (the OS disk), named as
		// a Linux guest with disk.EnableUUID sees it.
		for i, d := range object.VirtualDeviceList(vm.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil)) {
			if disk := d.(*types.VirtualDisk); i > 0 && vsphere.DevicePath(disk) != "" {
				g.Disks = append(g.Disks, localdc.Disk{Path: vsphere.DevicePath(disk), SizeGiB: int32(disk.CapacityInBytes >> 30)})
			}
		}
		out[vm.Name] = g
	}
	return out, nil
}
