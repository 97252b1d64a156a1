// Package vsphere creates database VMs on VMware vSphere with govmomi: a
// clone of a template with CPU, memory, data disks, a static address through
// guest customization, and cloud-init user data in guestinfo.
package vsphere

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
	"github.com/quorumdb/quorum/internal/cloud"
	"github.com/quorumdb/quorum/internal/cloud/identity"
)

// Config reaches a vCenter.
type Config struct {
	URL        string
	Username   string
	Password   string
	Thumbprint string
	// Insecure skips certificate verification entirely (tests only); with a
	// Thumbprint the certificate is pinned instead.
	Insecure   bool
	Datacenter string
}

// Client is a vSphere Cloud.
type Client struct {
	vim        *vim25.Client
	datacenter string
}

// Connect logs in to vCenter. The password is never part of an error.
func Connect(ctx context.Context, c Config) (*Client, error) {
	u, err := soap.ParseURL(c.URL)
	if err != nil {
		return nil, fmt.Errorf("cannot parse vCenter URL: %w", err)
	}
	sc := soap.NewClient(u, c.Insecure)
	if c.Thumbprint != "" {
		sc.SetThumbprint(u.Host, c.Thumbprint)
	}
	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("cannot reach vCenter at %s: %w", u.Host, err)
	}
	if err := session.NewManager(vc).Login(ctx, url.UserPassword(c.Username, c.Password)); err != nil {
		return nil, fmt.Errorf("cannot log in to vCenter at %s as %s: %s", u.Host, c.Username, redact(err.Error(), c.Password))
	}
	return &Client{vim: vc, datacenter: c.Datacenter}, nil
}

// New wraps an existing vim25 client (tests with the simulator).
func New(vc *vim25.Client, datacenter string) *Client {
	return &Client{vim: vc, datacenter: datacenter}
}

func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[redacted]")
}

func (c *Client) finder(ctx context.Context, dc string) (*find.Finder, *object.Datacenter, error) {
	f := find.NewFinder(c.vim, true)
	if dc == "" {
		dc = c.datacenter
	}
	var d *object.Datacenter
	var err error
	if dc == "" {
		d, err = f.DefaultDatacenter(ctx)
	} else {
		d, err = f.Datacenter(ctx, dc)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("cannot find datacenter %q: %w", dc, err)
	}
	f.SetDatacenter(d)
	return f, d, nil
}

// find looks the VM up by name anywhere in the datacenter.
func (c *Client) find(ctx context.Context, name string) (*object.VirtualMachine, error) {
	f, _, err := c.finder(ctx, "")
	if err != nil {
		return nil, err
	}
	vm, err := f.VirtualMachine(ctx, name)
	if err != nil {
		var nf *find.NotFoundError
		if errors.As(err, &nf) {
			return nil, cloud.ErrNotFound
		}
		return nil, err
	}
	return vm, nil
}

// Get implements cloud.Cloud.
func (c *Client) Get(ctx context.Context, m cloud.Machine) (*cloud.Observed, error) {
	name := m.Name
	vm, err := c.find(ctx, name)
	if err != nil {
		return nil, err
	}
	var o mo.VirtualMachine
	if err := property.DefaultCollector(c.vim).RetrieveOne(ctx, vm.Reference(), []string{"config.hardware", "config.extraConfig", "runtime.powerState", "guest.ipAddress"}, &o); err != nil {
		return nil, fmt.Errorf("cannot read VM %s: %w", name, err)
	}
	obs := &cloud.Observed{ID: vm.Reference().Value, PowerState: "Off"}
	if o.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
		obs.PowerState = "On"
	}
	if o.Guest != nil {
		obs.IPAddress = o.Guest.IpAddress
	}
	if o.Config != nil {
		extra := map[string]string{}
		for _, v := range o.Config.ExtraConfig {
			if ov := v.GetOptionValue(); ov != nil {
				if s, ok := ov.Value.(string); ok {
					extra[ov.Key] = s
				}
			}
		}
		obs.Owner = identity.Read(extra)
		obs.CPUs = o.Config.Hardware.NumCPU
		obs.MemoryMiB = o.Config.Hardware.MemoryMB
		for i, d := range dataDisks(object.VirtualDeviceList(o.Config.Hardware.Device)) {
			obs.DataDisks = append(obs.DataDisks, computev1alpha1.AttachedDisk{Disk: computev1alpha1.Disk{Name: fmt.Sprintf("disk%d", i), SizeGiB: int32(d.CapacityInBytes >> 30)}, DevicePath: DevicePath(d)})
		}
	}
	return obs, nil
}

// DevicePath is where a Linux guest finds a disk: with disk.EnableUUID set
// on the VM, the disk's UUID is its SCSI serial, which udev names
// /dev/disk/by-id/wwn-0x<uuid>.
func DevicePath(d *types.VirtualDisk) string {
	b, ok := d.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
	if !ok || b.Uuid == "" {
		return ""
	}
	return "/dev/disk/by-id/wwn-0x" + strings.ToLower(strings.ReplaceAll(b.Uuid, "-", ""))
}

// dataDisks are the VM's disks after the first (the OS disk), in order.
func dataDisks(l object.VirtualDeviceList) []*types.VirtualDisk {
	var out []*types.VirtualDisk
	for i, d := range l.SelectByType((*types.VirtualDisk)(nil)) {
		if i == 0 {
			continue
		}
		out = append(out, d.(*types.VirtualDisk))
	}
	return out
}

// Create implements cloud.Cloud: clone, customize, add data disks, power on.
func (c *Client) Create(ctx context.Context, m cloud.Machine) error {
	p := m.VSphere
	if p == nil {
		return errors.New("forProvider.vsphere is required for a vSphere ProviderConfig")
	}
	f, dc, err := c.finder(ctx, p.Datacenter)
	if err != nil {
		return err
	}
	tmpl, err := f.VirtualMachine(ctx, p.Template)
	if err != nil {
		return fmt.Errorf("cannot find template %q: %w", p.Template, err)
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return err
	}
	folder := folders.VmFolder
	if p.Folder != "" {
		if folder, err = f.Folder(ctx, p.Folder); err != nil {
			return fmt.Errorf("cannot find folder %q: %w", p.Folder, err)
		}
	}
	var pool *object.ResourcePool
	switch {
	case p.ResourcePool != "":
		pool, err = f.ResourcePool(ctx, p.ResourcePool)
	case p.Cluster != "":
		pool, err = f.ResourcePool(ctx, path.Join(p.Cluster, "Resources"))
	default:
		// Nothing said: place it next to its template.
		pool, err = tmpl.ResourcePool(ctx)
	}
	if err != nil {
		return fmt.Errorf("cannot find resource pool: %w", err)
	}
	poolRef := pool.Reference()
	reloc := types.VirtualMachineRelocateSpec{Pool: &poolRef}
	if p.Datastore != "" {
		ds, err := f.Datastore(ctx, p.Datastore)
		if err != nil {
			return fmt.Errorf("cannot find datastore %q: %w", p.Datastore, err)
		}
		r := ds.Reference()
		reloc.Datastore = &r
	}
	spec := types.VirtualMachineCloneSpec{
		Location: reloc,
		PowerOn:  false,
		Config: &types.VirtualMachineConfigSpec{
			NumCPUs:  m.CPUs,
			MemoryMB: int64(m.MemoryMiB),
			ExtraConfig: []types.BaseOptionValue{
				&types.OptionValue{Key: "guestinfo.userdata", Value: base64.StdEncoding.EncodeToString([]byte(m.UserData))},
				&types.OptionValue{Key: "guestinfo.userdata.encoding", Value: "base64"},
				// Not under guestinfo: the guest can rewrite those.
				&types.OptionValue{Key: identity.OwnerKey, Value: m.Owner},
				// The guest sees each disk's UUID as its serial: the node
				// finds its data disk by it (DevicePath).
				&types.OptionValue{Key: "disk.EnableUUID", Value: "TRUE"},
			},
		},
		Customization: customization(m),
	}
	task, err := tmpl.Clone(ctx, folder, m.Name, spec)
	if err != nil {
		return fmt.Errorf("cannot clone %s: %w", p.Template, err)
	}
	if _, err := task.WaitForResult(ctx); err != nil {
		return fmt.Errorf("cannot clone %s into %s: %w", p.Template, m.Name, err)
	}
	vm, err := c.find(ctx, m.Name)
	if err != nil {
		return err
	}
	if err := c.reconcileDisks(ctx, vm, m); err != nil {
		return err
	}
	if m.PowerState != computev1alpha1.PowerOff {
		return wait(ctx, vm.PowerOn)
	}
	return nil
}

func customization(m cloud.Machine) *types.CustomizationSpec {
	n := m.Network
	ip := &types.CustomizationIPSettings{
		Ip:         &types.CustomizationFixedIp{IpAddress: n.IPAddress},
		SubnetMask: mask(n.PrefixLength),
	}
	if n.Gateway != "" {
		ip.Gateway = []string{n.Gateway}
	}
	return &types.CustomizationSpec{
		Identity: &types.CustomizationLinuxPrep{
			HostName: &types.CustomizationFixedName{Name: m.Name},
			Domain:   "local",
		},
		GlobalIPSettings: types.CustomizationGlobalIPSettings{},
		NicSettingMap:    []types.CustomizationAdapterMapping{{Adapter: *ip}},
	}
}

func mask(prefix int32) string {
	if prefix <= 0 || prefix > 32 {
		prefix = 24
	}
	m := uint32(0xffffffff) << (32 - uint(prefix))
	return fmt.Sprintf("%d.%d.%d.%d", m>>24, (m>>16)&0xff, (m>>8)&0xff, m&0xff)
}

// reconcileDisks adds missing data disks and grows small ones.
func (c *Client) reconcileDisks(ctx context.Context, vm *object.VirtualMachine, m cloud.Machine) error {
	devices, err := vm.Device(ctx)
	if err != nil {
		return err
	}
	have := dataDisks(devices)
	var changes []types.BaseVirtualDeviceConfigSpec
	for i, want := range m.DataDisks {
		bytes := int64(want.SizeGiB) << 30
		if i < len(have) {
			d := have[i]
			if d.CapacityInBytes > bytes {
				return fmt.Errorf("data disk %s is %d GiB and cannot shrink to %d GiB: %w", want.Name, d.CapacityInBytes>>30, want.SizeGiB, cloud.ErrDiskShrink)
			}
			if d.CapacityInBytes < bytes {
				d.CapacityInBytes, d.CapacityInKB = bytes, bytes>>10
				changes = append(changes, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: d})
			}
			continue
		}
		ctrl, err := devices.FindDiskController("")
		if err != nil {
			return fmt.Errorf("cannot find a disk controller for data disk %s: %w", want.Name, err)
		}
		var props mo.VirtualMachine
		if err := property.DefaultCollector(c.vim).RetrieveOne(ctx, vm.Reference(), []string{"datastore"}, &props); err != nil || len(props.Datastore) == 0 {
			return fmt.Errorf("cannot find the datastore of %s for data disk %s: %v", m.Name, want.Name, err)
		}
		dsName, err := object.NewDatastore(c.vim, props.Datastore[0]).ObjectName(ctx)
		if err != nil {
			return err
		}
		file := fmt.Sprintf("[%s] %s/%s-%s.vmdk", dsName, m.Name, m.Name, want.Name)
		disk := devices.CreateDisk(ctrl, props.Datastore[0], file)
		disk.CapacityInKB, disk.CapacityInBytes = bytes>>10, bytes
		devices = append(devices, disk)
		changes = append(changes, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, FileOperation: types.VirtualDeviceConfigSpecFileOperationCreate, Device: disk})
	}
	if len(changes) == 0 {
		return nil
	}
	return wait(ctx, func(ctx context.Context) (*object.Task, error) {
		return vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: changes})
	})
}

// Update implements cloud.Cloud. CPU and memory decreases need the VM off
// (vSphere hot-adds but never hot-removes), so only then is it power-cycled.
func (c *Client) Update(ctx context.Context, m cloud.Machine, cur *cloud.Observed) error {
	vm, err := c.find(ctx, m.Name)
	if err != nil {
		return err
	}
	if err := c.reconcileDisks(ctx, vm, m); err != nil {
		return err
	}
	if cur.CPUs != m.CPUs || cur.MemoryMiB != m.MemoryMiB {
		cycle := cur.PowerState == "On" && (m.CPUs < cur.CPUs || m.MemoryMiB < cur.MemoryMiB)
		if cycle {
			if err := wait(ctx, vm.PowerOff); err != nil {
				return fmt.Errorf("cannot power off %s to shrink it: %w", m.Name, err)
			}
			cur.PowerState = "Off"
		}
		if err := wait(ctx, func(ctx context.Context) (*object.Task, error) {
			return vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{NumCPUs: m.CPUs, MemoryMB: int64(m.MemoryMiB)})
		}); err != nil {
			return fmt.Errorf("cannot resize %s: %w", m.Name, err)
		}
	}
	want := "On"
	if m.PowerState == computev1alpha1.PowerOff {
		want = "Off"
	}
	switch {
	case want == "On" && cur.PowerState != "On":
		return wait(ctx, vm.PowerOn)
	case want == "Off" && cur.PowerState == "On":
		return wait(ctx, vm.PowerOff)
	}
	return nil
}

// Delete implements cloud.Cloud. Destroying a VM removes its disks with it.
func (c *Client) Delete(ctx context.Context, m cloud.Machine) error {
	name := m.Name
	vm, err := c.find(ctx, name)
	if errors.Is(err, cloud.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if st, err := vm.PowerState(ctx); err == nil && st == types.VirtualMachinePowerStatePoweredOn {
		if err := wait(ctx, vm.PowerOff); err != nil {
			return fmt.Errorf("cannot power off %s: %w", name, err)
		}
	}
	return wait(ctx, vm.Destroy)
}

func wait(ctx context.Context, op func(context.Context) (*object.Task, error)) error {
	t, err := op(ctx)
	if err != nil {
		return err
	}
	return t.Wait(ctx)
}
