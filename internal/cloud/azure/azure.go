// Package azure creates database VMs on Azure (armcompute + armnetwork): a
// NIC with a private address in a subnet (static when the VM names one,
// else assigned by Azure), then a VM with its size,
// image, OS and data disks (deleted with it), zone, tags and cloud-init
// custom data. Deleting removes the VM, its disks and its NIC, nothing else.
package azure

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
	"github.com/quorumdb/quorum/internal/cloud"
	"github.com/quorumdb/quorum/internal/cloud/identity"
)

// Client is an Azure Cloud for one subscription.
type Client struct {
	vms  *armcompute.VirtualMachinesClient
	nics *armnetwork.InterfacesClient
	// Poll is how often long-running operations are checked.
	Poll time.Duration
}

// Options lets tests put a fake transport under each client.
type Options struct {
	Compute, Network *arm.ClientOptions
}

// New builds a client. Throttling (429) and server errors are retried with
// backoff by azcore's retry policy, honouring Retry-After.
func New(subscription string, cred azcore.TokenCredential, o Options) (*Client, error) {
	vms, err := armcompute.NewVirtualMachinesClient(subscription, cred, o.Compute)
	if err != nil {
		return nil, err
	}
	nics, err := armnetwork.NewInterfacesClient(subscription, cred, o.Network)
	if err != nil {
		return nil, err
	}
	return &Client{vms: vms, nics: nics, Poll: 5 * time.Second}, nil
}

func placement(m cloud.Machine) (*computev1alpha1.AzurePlacement, error) {
	if m.Azure == nil || m.Azure.ResourceGroup == "" {
		return nil, errors.New("forProvider.azure with a resourceGroup is required for an Azure ProviderConfig")
	}
	return m.Azure, nil
}

func nicName(vm string) string { return vm + "-nic" }

func notFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

// describe keeps Azure's error code and message, never request details.
func describe(err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return fmt.Errorf("%s (HTTP %d)", re.ErrorCode, re.StatusCode)
	}
	return err
}

func (c *Client) poll() *runtime.PollUntilDoneOptions {
	return &runtime.PollUntilDoneOptions{Frequency: c.Poll}
}

// Get implements cloud.Cloud.
func (c *Client) Get(ctx context.Context, m cloud.Machine) (*cloud.Observed, error) {
	p, err := placement(m)
	if err != nil {
		return nil, err
	}
	r, err := c.vms.Get(ctx, p.ResourceGroup, m.Name, &armcompute.VirtualMachinesClientGetOptions{Expand: to.Ptr(armcompute.InstanceViewTypesInstanceView)})
	if notFound(err) {
		return nil, cloud.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("cannot get VM %s: %w", m.Name, describe(err))
	}
	o := &cloud.Observed{PowerState: "Off", CPUs: m.CPUs, MemoryMiB: m.MemoryMiB}
	if r.ID != nil {
		o.ID = *r.ID
	}
	tags := map[string]string{}
	for k, v := range r.Tags {
		tags[k] = deref(v)
	}
	o.Owner = identity.Read(tags)
	if pr := r.Properties; pr != nil {
		if pr.HardwareProfile != nil && pr.HardwareProfile.VMSize != nil {
			o.Size = string(*pr.HardwareProfile.VMSize)
		}
		if pr.InstanceView != nil {
			for _, s := range pr.InstanceView.Statuses {
				if s.Code != nil && *s.Code == "PowerState/running" {
					o.PowerState = "On"
				}
			}
		}
		if pr.StorageProfile != nil {
			for i, d := range pr.StorageProfile.DataDisks {
				name := fmt.Sprintf("disk%d", i)
				if i < len(m.DataDisks) {
					name = m.DataDisks[i].Name
				}
				o.DataDisks = append(o.DataDisks, computev1alpha1.AttachedDisk{Disk: computev1alpha1.Disk{Name: name, SizeGiB: deref(d.DiskSizeGB)}, DevicePath: DevicePath(deref(d.Lun))})
			}
		}
	}
	nic, err := c.nics.Get(ctx, p.ResourceGroup, nicName(m.Name), nil)
	if err == nil && nic.Properties != nil && len(nic.Properties.IPConfigurations) > 0 && nic.Properties.IPConfigurations[0].Properties != nil {
		o.IPAddress = deref(nic.Properties.IPConfigurations[0].Properties.PrivateIPAddress)
	}
	return o, nil
}

func image(urn string) (*armcompute.ImageReference, error) {
	if strings.HasPrefix(urn, "/") {
		return &armcompute.ImageReference{ID: to.Ptr(urn)}, nil
	}
	f := strings.Split(urn, ":")
	if len(f) != 4 {
		return nil, fmt.Errorf("forProvider.azure.image %q is neither an image ID nor a publisher:offer:sku:version URN", urn)
	}
	return &armcompute.ImageReference{Publisher: &f[0], Offer: &f[1], SKU: &f[2], Version: &f[3]}, nil
}

// Create implements cloud.Cloud: the NIC first, then the VM on it.
func (c *Client) Create(ctx context.Context, m cloud.Machine) error {
	p, err := placement(m)
	if err != nil {
		return err
	}
	img, err := image(p.Image)
	if err != nil {
		return err
	}
	tags := map[string]*string{}
	for k, v := range p.Tags {
		tags[k] = to.Ptr(v)
	}
	tags[identity.OwnerKey] = to.Ptr(m.Owner)
	ipc := &armnetwork.InterfaceIPConfigurationPropertiesFormat{PrivateIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodDynamic)}
	if m.Network.IPAddress != "" {
		ipc = &armnetwork.InterfaceIPConfigurationPropertiesFormat{PrivateIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodStatic), PrivateIPAddress: to.Ptr(m.Network.IPAddress)}
	}
	ipc.Subnet, ipc.Primary = &armnetwork.Subnet{ID: to.Ptr(m.Network.Network)}, to.Ptr(true)
	np, err := c.nics.BeginCreateOrUpdate(ctx, p.ResourceGroup, nicName(m.Name), armnetwork.Interface{
		Location: to.Ptr(p.Location),
		Tags:     tags,
		Properties: &armnetwork.InterfacePropertiesFormat{IPConfigurations: []*armnetwork.InterfaceIPConfiguration{{
			Name:       to.Ptr("primary"),
			Properties: ipc,
		}}},
	}, nil)
	if err != nil {
		return fmt.Errorf("cannot create NIC for %s: %w", m.Name, describe(err))
	}
	nic, err := np.PollUntilDone(ctx, c.poll())
	if err != nil {
		return fmt.Errorf("cannot create NIC for %s: %w", m.Name, describe(err))
	}
	disks := make([]*armcompute.DataDisk, len(m.DataDisks))
	for i, d := range m.DataDisks {
		disks[i] = &armcompute.DataDisk{
			Lun: to.Ptr(int32(i)), Name: to.Ptr(m.Name + "-" + d.Name), DiskSizeGB: to.Ptr(d.SizeGiB),
			CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesEmpty), DeleteOption: to.Ptr(armcompute.DiskDeleteOptionTypesDelete),
		}
	}
	vm := armcompute.VirtualMachine{
		Location: to.Ptr(p.Location),
		Tags:     tags,
		Properties: &armcompute.VirtualMachineProperties{
			HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypes(p.VMSize))},
			StorageProfile: &armcompute.StorageProfile{
				ImageReference: img,
				OSDisk: &armcompute.OSDisk{
					Name: to.Ptr(m.Name + "-os"), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesFromImage),
					DiskSizeGB: to.Ptr(m.OSDiskGiB), DeleteOption: to.Ptr(armcompute.DiskDeleteOptionTypesDelete),
				},
				DataDisks: disks,
			},
			OSProfile: &armcompute.OSProfile{
				ComputerName:  to.Ptr(m.Name),
				AdminUsername: to.Ptr("quorum"),
				CustomData:    to.Ptr(base64.StdEncoding.EncodeToString([]byte(m.UserData))),
				LinuxConfiguration: &armcompute.LinuxConfiguration{
					DisablePasswordAuthentication: to.Ptr(true),
					SSH: &armcompute.SSHConfiguration{PublicKeys: []*armcompute.SSHPublicKey{{
						Path: to.Ptr("/home/quorum/.ssh/authorized_keys"), KeyData: to.Ptr(m.SSHPublicKey),
					}}},
				},
			},
			NetworkProfile: &armcompute.NetworkProfile{NetworkInterfaces: []*armcompute.NetworkInterfaceReference{{
				ID:         nic.ID,
				Properties: &armcompute.NetworkInterfaceReferenceProperties{Primary: to.Ptr(true), DeleteOption: to.Ptr(armcompute.DeleteOptionsDelete)},
			}}},
		},
	}
	if p.Zone != "" {
		vm.Zones = []*string{to.Ptr(p.Zone)}
	}
	vp, err := c.vms.BeginCreateOrUpdate(ctx, p.ResourceGroup, m.Name, vm, nil)
	if err != nil {
		return fmt.Errorf("cannot create VM %s: %w", m.Name, describe(err))
	}
	if _, err := vp.PollUntilDone(ctx, c.poll()); err != nil {
		return fmt.Errorf("cannot create VM %s: %w", m.Name, describe(err))
	}
	if m.PowerState == computev1alpha1.PowerOff {
		return c.power(ctx, p.ResourceGroup, m.Name, false)
	}
	return nil
}

func (c *Client) power(ctx context.Context, rg, name string, on bool) error {
	if on {
		pl, err := c.vms.BeginStart(ctx, rg, name, nil)
		if err != nil {
			return describe(err)
		}
		_, err = pl.PollUntilDone(ctx, c.poll())
		return describe(err)
	}
	pl, err := c.vms.BeginPowerOff(ctx, rg, name, nil)
	if err != nil {
		return describe(err)
	}
	_, err = pl.PollUntilDone(ctx, c.poll())
	if err != nil {
		return describe(err)
	}
	return nil
}

// Update implements cloud.Cloud: a new size or bigger data disks in one
// update (Azure restarts the VM itself when the size needs it), then power.
func (c *Client) Update(ctx context.Context, m cloud.Machine, cur *cloud.Observed) error {
	p, err := placement(m)
	if err != nil {
		return err
	}
	upd := armcompute.VirtualMachineUpdate{Properties: &armcompute.VirtualMachineProperties{}}
	changed := false
	if cur.Size != p.VMSize {
		upd.Properties.HardwareProfile = &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypes(p.VMSize))}
		changed = true
	}
	disks := make([]*armcompute.DataDisk, 0, len(m.DataDisks))
	grow := false
	for i, d := range m.DataDisks {
		if i >= len(cur.DataDisks) {
			return fmt.Errorf("data disk %s is missing and adding disks is not supported: recreate the VM", d.Name)
		}
		have := cur.DataDisks[i].SizeGiB
		if have > d.SizeGiB {
			return fmt.Errorf("data disk %s is %d GiB and cannot shrink to %d GiB: %w", d.Name, have, d.SizeGiB, cloud.ErrDiskShrink)
		}
		grow = grow || have < d.SizeGiB
		disks = append(disks, &armcompute.DataDisk{
			Lun: to.Ptr(int32(i)), Name: to.Ptr(m.Name + "-" + d.Name), DiskSizeGB: to.Ptr(d.SizeGiB),
			CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach), DeleteOption: to.Ptr(armcompute.DiskDeleteOptionTypesDelete),
		})
	}
	if grow {
		upd.Properties.StorageProfile = &armcompute.StorageProfile{DataDisks: disks}
		changed = true
	}
	if changed {
		pl, err := c.vms.BeginUpdate(ctx, p.ResourceGroup, m.Name, upd, nil)
		if err != nil {
			return fmt.Errorf("cannot update VM %s: %w", m.Name, describe(err))
		}
		if _, err := pl.PollUntilDone(ctx, c.poll()); err != nil {
			return fmt.Errorf("cannot update VM %s: %w", m.Name, describe(err))
		}
	}
	want := m.PowerState != computev1alpha1.PowerOff
	if want != (cur.PowerState == "On") {
		return c.power(ctx, p.ResourceGroup, m.Name, want)
	}
	return nil
}

// Delete implements cloud.Cloud: the VM (its disks go with it), then its NIC.
func (c *Client) Delete(ctx context.Context, m cloud.Machine) error {
	p, err := placement(m)
	if err != nil {
		return err
	}
	vp, err := c.vms.BeginDelete(ctx, p.ResourceGroup, m.Name, nil)
	switch {
	case notFound(err):
	case err != nil:
		return fmt.Errorf("cannot delete VM %s: %w", m.Name, describe(err))
	default:
		if _, err := vp.PollUntilDone(ctx, c.poll()); err != nil && !notFound(err) {
			return fmt.Errorf("cannot delete VM %s: %w", m.Name, describe(err))
		}
	}
	np, err := c.nics.BeginDelete(ctx, p.ResourceGroup, nicName(m.Name), nil)
	switch {
	case notFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("cannot delete NIC of %s: %w", m.Name, describe(err))
	}
	if _, err := np.PollUntilDone(ctx, c.poll()); err != nil && !notFound(err) {
		return fmt.Errorf("cannot delete NIC of %s: %w", m.Name, describe(err))
	}
	return nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// DevicePath is where a Linux guest finds the data disk at a LUN: the
// symlink Azure's udev rules (azure-vm-utils, WALinuxAgent) make.
func DevicePath(lun int32) string { return fmt.Sprintf("/dev/disk/azure/scsi1/lun%d", lun) }
